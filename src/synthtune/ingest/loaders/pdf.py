"""PDF: text per page with pypdfium2; pages without a usable text layer are kept empty and reported."""

from __future__ import annotations

import re
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from synthtune.errors import LoaderError
from synthtune.ingest.base import LoadedDocument, Page
from synthtune.ingest.loaders.titles import clean_title, first_line_title

PDF = "application/pdf"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_TRAILING_SPACE = re.compile(r"[ \t]+$", re.MULTILINE)
_UNREADABLE_RATIO = 0.05  # control characters per non-space character above which a text layer is garbage
_PDFIUM_HYPHEN = 0x2  # FPDFText_GetUnicode of a char that FPDFText_GetText writes as U+FFFE


def load_pdf(path: Path, password: str | None = None) -> LoadedDocument:
    """Text per page with pypdfium2; pages without a usable text layer are kept, empty, and reported."""
    try:
        pdf = pdfium.PdfDocument(path, password=password or None)
    except FileNotFoundError as exc:
        raise LoaderError("file not found") from exc
    except pdfium.PdfiumError as exc:
        raise LoaderError(_pdf_open_message(path, password)) from exc

    pages: list[Page] = []
    warnings: list[str] = []
    without_text: list[int] = []
    unmapped_pages: list[int] = []
    n_unmapped = n_damaged = 0
    try:
        info = {key: value for key, value in pdf.get_metadata_dict(skip_empty=True).items() if value}
        for index in range(len(pdf)):
            page_no = index + 1
            try:
                page = pdf.get_page(index)
            except pdfium.PdfiumError:
                n_damaged += 1
                warnings.append(f"page {page_no}: could not be read (damaged); skipped")
                without_text.append(page_no)
                pages.append(Page(page_no, "", has_text=False))
                continue
            try:
                textpage = page.get_textpage()
                try:
                    raw = textpage.get_text_range()
                    if "\ufffe" in raw:
                        raw, unmapped = _resolve_pdfium_markers(raw, textpage)
                        if unmapped:
                            n_unmapped += unmapped
                            unmapped_pages.append(page_no)
                finally:
                    textpage.close()
                text, problem = _clean_pdf_text(raw)
                if problem is None and not text.strip():
                    blank = pdfium_c.FPDFPage_CountObjects(page) == 0
                    problem = "blank page" if blank else "no text layer; scanned?"
            finally:
                page.close()
            if problem is not None:
                warnings.append(f"page {page_no}: {problem}")
                without_text.append(page_no)
                pages.append(Page(page_no, "", has_text=False))
            else:
                pages.append(Page(page_no, text))
    except pdfium.PdfiumError as exc:
        raise LoaderError("not a valid PDF (damaged or truncated)") from exc
    finally:
        pdf.close()

    if n_damaged == len(pages):
        raise LoaderError("not a valid PDF (damaged or truncated)")
    if n_unmapped:
        listed = ", ".join(map(str, unmapped_pages[:10])) + (", ..." if len(unmapped_pages) > 10 else "")
        warnings.append(
            f"{n_unmapped} characters without a Unicode mapping (ligatures?) on pages {listed}; shown as U+FFFD"
        )
    first_text = next((p.text for p in pages if p.has_text), "")
    title = clean_title(info.get("Title")) or first_line_title(first_text) or path.stem
    metadata = {"warnings": warnings, "pages_without_text": without_text, "pdf_info": info}
    return LoadedDocument(title=title, media_type=PDF, pages=pages, metadata=metadata)


def _pdf_open_message(path: Path, password: str | None) -> str:
    """Why pypdfium2 refused the file. It also refuses a document with no pages, and then its err_code
    is stale (pdfium sets the last error only on failure), so open it again raw to tell the cases apart."""
    handle = pdfium_c.FPDF_LoadDocument(
        (str(path) + "\x00").encode("utf-8"), (password + "\x00").encode("utf-8") if password else None
    )
    if handle:
        pdfium_c.FPDF_CloseDocument(handle)
        return "PDF has no pages"
    err_code = pdfium_c.FPDF_GetLastError()
    if err_code == pdfium_c.FPDF_ERR_PASSWORD:
        if password:
            return "encrypted PDF: the password is wrong"
        return "encrypted PDF: give the password with --password or ingest.password"
    if err_code == pdfium_c.FPDF_ERR_SECURITY:
        return "encrypted PDF with an unsupported security handler"
    if err_code == pdfium_c.FPDF_ERR_FILE:
        return "cannot read file"
    return "not a valid PDF (damaged or truncated)"


def _resolve_pdfium_markers(raw: str, textpage: pdfium.PdfTextPage) -> tuple[str, int]:
    """pdfium writes U+FFFE both for a hyphen it recognised and for a glyph with no Unicode (often a
    ligature such as "fi"). Ask pdfium which, for these few characters only: hyphen -> "-", else U+FFFD."""
    parts: list[str] = []
    unmapped = 0
    start = 0
    at = raw.find("\ufffe")
    while at >= 0:
        char_index = pdfium_c.FPDFText_GetCharIndexFromTextIndex(textpage, at)
        code = pdfium_c.FPDFText_GetUnicode(textpage, char_index) if char_index >= 0 else 0
        parts.append(raw[start:at])
        if code == _PDFIUM_HYPHEN:
            parts.append("-")
        else:
            parts.append("\ufffd")
            unmapped += 1
        start = at + 1
        at = raw.find("\ufffe", start)
    parts.append(raw[start:])
    return "".join(parts), unmapped


def _clean_pdf_text(raw: str) -> tuple[str, str | None]:
    """Normalise line ends and trailing spaces; detect a text layer of garbage (fonts with no Unicode
    map give control characters). Returns (text, problem) where problem is None for a usable page."""
    if _CONTROL.search(raw):
        n_control = len(_CONTROL.findall(raw))
        n_visible = len(raw) - sum(raw.count(ch) for ch in " \t\r\n") - n_control
        if n_control > _UNREADABLE_RATIO * max(n_visible, 1):
            return "", "text layer unreadable (fonts without a Unicode map); scanned?"
        raw = _CONTROL.sub("", raw)
    text = raw.replace("\r\n", "\n").replace("\r", "\n")
    if " \n" in text or "\t\n" in text or text.endswith((" ", "\t")):
        text = _TRAILING_SPACE.sub("", text)
    return text, None
