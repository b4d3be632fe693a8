"""PDF: text per page with pypdfium2, ligatures repaired; pages without a usable text layer are OCR'd when
asked, else kept empty and reported."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from synthtune.errors import LoaderError
from synthtune.ingest.base import LoadedDocument, Page
from synthtune.ingest.loaders.ligatures import known_words, repair
from synthtune.ingest.loaders.titles import clean_title, first_line_title
from synthtune.ingest.ocr import OCRError, OCROptions, OCRPage, ocr_available, ocr_pdf_pages

PDF = "application/pdf"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_TRAILING_SPACE = re.compile(r"[ \t]+$", re.MULTILINE)
_UNMAPPED = re.compile("[\ufffd\ue000-\uf8ff]")
_UNREADABLE_RATIO = 0.05  # control characters per non-space character above which a text layer is garbage
_PDFIUM_HYPHEN = 0x2  # FPDFText_GetUnicode of a char that FPDFText_GetText writes as U+FFFE


def load_pdf(path: Path, password: str | None = None, ocr: OCROptions | None = None) -> LoadedDocument:
    """Text per page with pypdfium2, ligatures repaired. Pages without a usable text layer (none, or
    garbage) are read by OCR as ``ocr`` says (``None``: never); those still without text are kept,
    empty, and reported, as is a page whose OCR failed."""
    try:
        pdf = pdfium.PdfDocument(path, password=password or None)
    except FileNotFoundError as exc:
        raise LoaderError("file not found") from exc
    except pdfium.PdfiumError as exc:
        raise LoaderError(_pdf_open_message(path, password)) from exc

    try:
        info = {key: value for key, value in pdf.get_metadata_dict(skip_empty=True).items() if value}
        layers = [_text_layer(pdf, index) for index in range(len(pdf))]
        if all(layer.damaged for layer in layers):
            raise LoaderError("not a valid PDF (damaged or truncated)")
        pages = _repaired_pages(layers)
        to_ocr = _pages_to_ocr(layers, pages, ocr)
        read = ocr_pdf_pages(pdf, to_ocr, ocr) if ocr is not None and to_ocr and ocr_available() else {}
    except pdfium.PdfiumError as exc:
        raise LoaderError("not a valid PDF (damaged or truncated)") from exc
    finally:
        pdf.close()

    warnings: list[str] = []
    ocr_pages: list[int] = []
    for layer, page in zip(layers, pages, strict=True):
        result = read.get(page.page_no)
        if isinstance(result, OCRPage) and result.text.strip():
            assert ocr is not None
            page.text, page.has_text, page.ocr = result.text, True, True
            # the OCR text replaces the text layer: repairs made to that layer no longer apply
            page.metadata = {"ocr": result.to_json(ocr.dpi)}
            ocr_pages.append(page.page_no)
        elif isinstance(result, OCRError) and layer.problem is None:
            warnings.append(f"page {page.page_no}: OCR failed, text layer kept: {result}")
        elif isinstance(result, OCRError):
            warnings.append(f"page {page.page_no}: {layer.problem}; OCR failed: {result}")
        elif layer.problem is not None:
            unread = " (OCR read nothing)" if result is not None else ""
            warnings.append(f"page {page.page_no}: {layer.problem}{unread}")
    if ocr_pages:
        warnings.append(f"read by OCR: {_page_list(ocr_pages)}")
    elif to_ocr and ocr is not None and not ocr_available():
        warnings.append(f"OCR unavailable (install tesseract-ocr): {_page_list(to_ocr)} kept without text")
    unrepaired = {
        p.page_no: p.metadata["repairs"].get("unrepaired", 0) for p in pages if "repairs" in p.metadata
    }
    n_unmapped = sum(unrepaired.values())
    if n_unmapped:
        listed = _page_list([no for no, n in unrepaired.items() if n])
        warnings.append(f"{n_unmapped} characters without a Unicode mapping on {listed}; shown as U+FFFD")
    first_text = next((p.text for p in pages if p.has_text), "")
    title = clean_title(info.get("Title")) or first_line_title(first_text) or path.stem
    metadata = {
        "warnings": warnings,
        "pages_without_text": [p.page_no for p in pages if not p.has_text],
        "pdf_info": info,
    }
    if ocr_pages:
        metadata["ocr_pages"] = ocr_pages
    return LoadedDocument(title=title, media_type=PDF, pages=pages, metadata=metadata)


@dataclass
class _TextLayer:
    """What pdfium's text layer gives for one page, before repair."""

    page_no: int
    text: str
    problem: str | None  # why the page has no usable text layer; None when it has one
    blank: bool = False  # nothing drawn on the page: no OCR either
    damaged: bool = False


def _text_layer(pdf: pdfium.PdfDocument, index: int) -> _TextLayer:
    page_no = index + 1
    try:
        page = pdf.get_page(index)
    except pdfium.PdfiumError:
        return _TextLayer(page_no, "", "could not be read (damaged); skipped", blank=True, damaged=True)
    try:
        textpage = page.get_textpage()
        try:
            raw = textpage.get_text_range()
            if "\ufffe" in raw:
                raw = _resolve_pdfium_markers(raw, textpage)
        finally:
            textpage.close()
        text, problem = _clean_pdf_text(raw)
        blank = False
        if problem is None and not text.strip():
            blank = pdfium_c.FPDFPage_CountObjects(page) == 0
            problem = "blank page" if blank else "no text layer; scanned?"
    finally:
        page.close()
    return _TextLayer(page_no, text, problem, blank=blank)


def _repaired_pages(layers: list[_TextLayer]) -> list[Page]:
    """Pages with their ligatures repaired (words the document spells out elsewhere guide the repair);
    a text layer still mostly unmapped glyphs after repair is garbage, and its page has no text."""
    words = known_words("\n".join(layer.text for layer in layers if layer.problem is None))
    pages: list[Page] = []
    for layer in layers:
        if layer.problem is not None:
            pages.append(Page(layer.page_no, "", has_text=False))
            continue
        text, repairs = repair(layer.text, words)
        if _mostly_unmapped(text):
            layer.problem = "text layer unreadable (glyphs without Unicode); scanned?"
            pages.append(Page(layer.page_no, "", has_text=False))
            continue
        meta = {"repairs": repairs.to_json()} if repairs.to_json() else {}
        pages.append(Page(layer.page_no, text, metadata=meta))
    return pages


def _pages_to_ocr(layers: list[_TextLayer], pages: list[Page], ocr: OCROptions | None) -> list[int]:
    if ocr is None or ocr.mode == "never":
        return []
    if ocr.mode == "always":
        return [layer.page_no for layer in layers if not layer.blank]
    return [
        page.page_no
        for layer, page in zip(layers, pages, strict=True)
        if not page.has_text and not layer.blank
    ]


def _mostly_unmapped(text: str) -> bool:
    """Whether U+FFFD and private-use code points are more than a tenth of the visible characters."""
    visible = len(text) - sum(text.count(ch) for ch in " \t\n")
    return len(_UNMAPPED.findall(text)) > _UNREADABLE_RATIO * 2 * max(visible, 1)


def _page_list(numbers: list[int]) -> str:
    shown = ", ".join(map(str, numbers[:10])) + (", ..." if len(numbers) > 10 else "")
    return f"page {shown}" if len(numbers) == 1 else f"pages {shown}"


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


def _resolve_pdfium_markers(raw: str, textpage: pdfium.PdfTextPage) -> str:
    """pdfium writes U+FFFE both for a hyphen it recognised and for a glyph with no Unicode (often a
    ligature such as "fi"). Ask pdfium which, for these few characters only: hyphen -> "-", else U+FFFD."""
    parts: list[str] = []
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
        start = at + 1
        at = raw.find("\ufffe", start)
    parts.append(raw[start:])
    return "".join(parts)


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
