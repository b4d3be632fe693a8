"""Loaders: one file in, a :class:`LoadedDocument` (title, media type, pages of plain text) out.

Later stages cite character offsets into ``Page.text``, so each loader decides the page text once
and everything downstream treats it as the truth. Every problem a user can cause (encrypted, damaged,
empty, binary, unsupported) is a :class:`LoaderError` with a one-line message; the caller adds the path.
"""

from __future__ import annotations

import codecs
import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import charset_normalizer
import docx
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from bs4 import BeautifulSoup, NavigableString, Tag
from docx.table import Table

from synthtune.errors import LoaderError
from synthtune.ingest.base import LoadedDocument, Page

PDF = "application/pdf"
HTML = "text/html"
MARKDOWN = "text/markdown"
TEXT = "text/plain"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"

_SUFFIXES = {
    ".pdf": PDF,
    ".html": HTML,
    ".htm": HTML,
    ".xhtml": HTML,
    ".md": MARKDOWN,
    ".markdown": MARKDOWN,
    ".txt": TEXT,
    ".text": TEXT,
    ".docx": DOCX,
}
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .doc, or an encrypted Office file
_ZIP_MAGIC = b"PK\x03\x04"
_SNIFF_BYTES = 1024


def load_document(path: Path | str, password: str | None = None) -> LoadedDocument:
    """Read one file into pages of plain text.

    The type comes from the suffix, corrected by the content where that is cheap to tell: a PDF or a
    Word file under another name is read as what it is; an unknown suffix holding text is read as text.
    ``password`` opens encrypted PDFs and is ignored otherwise.
    """
    path = Path(path)
    try:
        if path.is_dir():
            raise LoaderError("is a directory, not a file")
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(_SNIFF_BYTES)
    except FileNotFoundError as exc:
        raise LoaderError("file not found") from exc
    except OSError as exc:
        raise LoaderError(f"cannot read file: {exc.strerror or exc}") from exc
    if size == 0:
        raise LoaderError("empty file")

    media_type = _detect(path, head)
    if media_type == PDF:
        return load_pdf(path, password=password)
    if media_type == DOCX:
        return load_docx(path)
    data = _read_bytes(path)
    if media_type == HTML:
        return load_html_bytes(data, stem=path.stem)
    if media_type == MARKDOWN:
        return load_markdown_bytes(data, stem=path.stem)
    return load_text_bytes(data, stem=path.stem)


def _detect(path: Path, head: bytes) -> str:
    suffix = path.suffix.lower()
    pdf_at = head.find(b"%PDF-")
    # Readers accept junk before the header (within 1024 bytes); a text file merely mentioning it is text.
    if pdf_at == 0 or (pdf_at > 0 and _SUFFIXES.get(suffix) in (None, PDF)):
        return PDF
    if head.startswith(_ZIP_MAGIC) and (suffix == ".docx" or _zip_has_word_document(path)):
        return DOCX
    if head.startswith(_OLE_MAGIC) and suffix == ".docx":
        raise LoaderError(
            "not a valid DOCX: a legacy .doc or a password-protected Word file; save it as .docx without a password"
        )
    if suffix == ".pdf":
        if _looks_like_html(head):
            raise LoaderError("not a valid PDF: the file is an HTML page (a saved error page?)")
        raise LoaderError("not a valid PDF (damaged or truncated)")
    if suffix in _SUFFIXES:
        return _SUFFIXES[suffix]
    if suffix == ".doc":
        raise LoaderError("unsupported file type '.doc' (legacy Word): save it as .docx")
    if _looks_like_html(head):
        return HTML
    if _looks_binary(head):
        raise LoaderError(f"unsupported file type '{suffix or '(no suffix)'}'")
    return TEXT


def _zip_has_word_document(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as zf:
            return "word/document.xml" in zf.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


def _looks_like_html(head: bytes) -> bool:
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:100].lower()
    return start.startswith((b"<!doctype html", b"<html"))


def _looks_binary(head: bytes) -> bool:
    if head.startswith((codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return False
    return b"\x00" in head or head.startswith((_ZIP_MAGIC, _OLE_MAGIC))


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise LoaderError(f"cannot read file: {exc.strerror or exc}") from exc


# --------------------------------------------------------------------------------------------- titles

_TITLE_NOISE = re.compile(r"^(?:microsoft (?:word|powerpoint|excel)\s*-\s*)", re.IGNORECASE)
_FILE_EXT = re.compile(r"\.(?:pdf|docx?|rtf|odt|txt|indd|qxd|pptx?|xlsx?)$", re.IGNORECASE)
_PLACEHOLDER_TITLES = {"untitled", "title", "document", "untitled document", "powerpoint presentation"}


def _clean_title(raw: str | None) -> str | None:
    """A metadata title worth showing, or None (empty, placeholder, a file name, an accession number)."""
    if not raw:
        return None
    title = " ".join(raw.split())
    title = _FILE_EXT.sub("", _TITLE_NOISE.sub("", title)).strip()
    if title.lower() in _PLACEHOLDER_TITLES or sum(ch.isalpha() for ch in title) < 3:
        return None
    return title[:200]


_BOILERPLATE_LINE = re.compile(
    r"^(?:news release|press release|for immediate release|exhibit [\d.]+|page \d+|[\d/.,:\- ]*)$",
    re.IGNORECASE,
)


def _first_line_title(text: str) -> str | None:
    """The first short line of text that is not release boilerplate ("NEWS RELEASE", "Exhibit 99.1")."""
    lines = (" ".join(line.split()) for line in text.split("\n"))
    for line in [line for line in lines if line][:5]:
        if not _BOILERPLATE_LINE.match(line):
            return line if len(line) <= 120 and sum(ch.isalpha() for ch in line) >= 3 else None
    return None


# ------------------------------------------------------------------------------------------------ PDF

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
    title = _clean_title(info.get("Title")) or _first_line_title(first_text) or path.stem
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


# ----------------------------------------------------------------------------------------- encodings

_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")  # tabs, newlines, \v and \f are text
_WESTERN = "cp1252"  # also the right reading of a file that says latin-1 (WHATWG does the same)


def decode_text(data: bytes) -> tuple[str, str]:
    """Bytes -> (text, encoding). UTF-8 (with or without BOM) first, then UTF-16/32 with a BOM, then
    charset_normalizer with a preference for cp1252 when it reads the bytes as cleanly as the best
    guess (short Western text is otherwise often guessed as cp1250 or worse)."""
    for bom, encoding in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE: its BOM starts the same way
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            return _check_textual(data.decode(encoding, errors="replace")), encoding
    sample = data[:8192]
    if b"\x00" in sample:
        encoding = _bomless_utf16(sample)
        if encoding is None:
            raise LoaderError("not a text file (binary content)")
        return _check_textual(data.decode(encoding, errors="replace")), encoding
    try:
        return _check_textual(data.decode("utf-8")), "utf-8"
    except UnicodeDecodeError:
        pass
    text = data.decode("utf-8", errors="replace")
    n_bad = text.count("\ufffd")
    n_non_ascii = len(text) - len(text.encode("ascii", errors="ignore")) - n_bad
    if n_non_ascii >= 20 * n_bad:  # mostly valid UTF-8 with a few broken bytes
        return _check_textual(text), "utf-8"

    best = charset_normalizer.from_bytes(data).best()
    if best is None:
        raise LoaderError("not a text file (binary content)")
    encoding = best.encoding
    if encoding != _WESTERN:
        western = charset_normalizer.from_bytes(data, cp_isolation=[_WESTERN]).best()
        if (
            western is not None
            and western.chaos <= best.chaos + 0.01
            and western.coherence >= best.coherence - 0.05
        ):
            encoding = _WESTERN
    return _check_textual(data.decode(encoding, errors="replace")), encoding


def _bomless_utf16(sample: bytes) -> str | None:
    half = len(sample) // 2
    if half < 2:
        return None
    even_nuls, odd_nuls = sample[0::2].count(0), sample[1::2].count(0)
    if odd_nuls >= 0.9 * half and even_nuls == 0:
        return "utf-16-le"
    if even_nuls >= 0.9 * half and odd_nuls == 0:
        return "utf-16-be"
    return None


def _check_textual(text: str) -> str:
    sample = text[:65536]
    bad = len(_TEXT_CONTROL.findall(sample)) + sample.count("\ufffd")
    if bad > 0.05 * max(len(sample), 1):
        raise LoaderError("not a text file (binary content)")
    return text


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


# ---------------------------------------------------------------------------------------- plain text


def load_text_bytes(data: bytes, stem: str) -> LoadedDocument:
    """Plain text: pages split on form feed when the file has them, else one page."""
    text, encoding = decode_text(data)
    text = _normalise_newlines(text)
    if not text.strip():
        raise LoaderError("no text found")
    parts = text.split("\f")
    while len(parts) > 1 and not parts[-1].strip():  # a trailing form feed ends the last page
        parts.pop()
    pages = [Page(i, part, has_text=bool(part.strip())) for i, part in enumerate(parts, start=1)]
    return LoadedDocument(stem, TEXT, pages, {"warnings": [], "encoding": encoding})


# ------------------------------------------------------------------------------------------ Markdown

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FRONT_TITLE = re.compile(r"^title:\s*(.+?)\s*$", re.MULTILINE)


def load_markdown_bytes(data: bytes, stem: str) -> LoadedDocument:
    """Markdown stays as written (it reads well as text); headings are recorded with their offsets."""
    text, encoding = decode_text(data)
    text = _normalise_newlines(text)
    if not text.strip():
        raise LoaderError("no text found")
    headings, h1, front_title = markdown_headings(text)
    title = h1 or front_title or stem
    page = Page(1, text, headings=[(offset, heading) for offset, _, heading in headings])
    return LoadedDocument(title, MARKDOWN, [page], {"warnings": [], "encoding": encoding})


def markdown_headings(text: str) -> tuple[list[tuple[int, int, str]], str | None, str | None]:
    """(offset, level, heading) for ATX and setext headings outside code fences and front matter,
    the first level-1 heading, and the front-matter title."""
    lines = text.split("\n")
    offsets = []
    pos = 0
    for line in lines:
        offsets.append(pos)
        pos += len(line) + 1

    start = 0
    front_title = None
    if lines and lines[0].strip() == "---":
        for i in range(1, len(lines)):
            if lines[i].strip() in ("---", "..."):
                match = _FRONT_TITLE.search("\n".join(lines[1:i]))
                front_title = match.group(1).strip("'\"") if match else None
                start = i + 1
                break

    headings: list[tuple[int, int, str]] = []
    fence: str | None = None
    prev_is_paragraph_start = False  # previous line is a single-line paragraph (setext candidate)
    for i in range(start, len(lines)):
        line = lines[i]
        fence_match = _FENCE.match(line)
        if fence is not None:
            if (
                fence_match
                and fence_match.group(1)[0] == fence[0]
                and len(fence_match.group(1)) >= len(fence)
            ):
                fence = None
            continue
        if fence_match:
            fence = fence_match.group(1)
            prev_is_paragraph_start = False
            continue
        atx = _ATX.match(line)
        if atx and atx.group(2):
            headings.append((offsets[i] + line.index(atx.group(2)), len(atx.group(1)), atx.group(2)))
            prev_is_paragraph_start = False
            continue
        setext = _SETEXT.match(line)
        if setext and prev_is_paragraph_start:
            heading = lines[i - 1].strip()
            level = 1 if setext.group(1)[0] == "=" else 2
            headings.append((offsets[i - 1] + lines[i - 1].index(heading), level, heading))
            prev_is_paragraph_start = False
            continue
        stripped = line.strip()
        prev_blank = i == start or not lines[i - 1].strip()
        prev_is_paragraph_start = (
            bool(stripped)
            and prev_blank
            and not line.startswith(("    ", "\t"))
            and not re.match(r"^([-*+]|\d+[.)])\s", stripped)
            and not stripped.startswith((">", "|", "<"))
        )
    h1 = next((heading for _, level, heading in headings if level == 1), None)
    return headings, h1, front_title


# ---------------------------------------------------------------------------------------------- HTML

_HTML_DROP = frozenset(
    "script style noscript nav header footer aside form svg template head title meta link base "  # noqa: SIM905
    "iframe object embed canvas audio video button select map".split()
)
_HTML_BLOCK = frozenset(
    "address article blockquote body center dd details dialog dir div dl dt fieldset figcaption figure "  # noqa: SIM905
    "hgroup hr html li main menu ol p section summary ul caption legend".split()
)
_HTML_HEADINGS = frozenset(f"h{level}" for level in range(1, 7))
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([\w.:-]+)""", re.IGNORECASE)
_XML_ENCODING = re.compile(rb"""^<\?xml[^>]+encoding\s*=\s*["']([\w.:-]+)""")


def load_html_bytes(data: bytes, stem: str) -> LoadedDocument:
    text, encoding = decode_html(data)
    return load_html_text(text, stem, encoding)


def decode_html(data: bytes) -> tuple[str, str]:
    """A BOM, then a declared charset (<meta charset>, http-equiv, <?xml encoding>), then detection."""
    if data.startswith((codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return decode_text(data)
    head = data[:4096]
    declared = _META_CHARSET.search(head) or _XML_ENCODING.search(head)
    if declared:
        try:
            encoding = codecs.lookup(declared.group(1).decode("ascii")).name
        except (LookupError, UnicodeDecodeError):
            encoding = None
        if encoding in ("latin-1", "iso8859-1", "ascii"):
            encoding = _WESTERN
        # A "utf-16" meta in bytes that have no BOM is wrong; so is any declaration the bytes contradict.
        if encoding is not None and not encoding.startswith("utf-16") and b"\x00" not in data[:8192]:
            try:
                return _check_textual(data.decode(encoding)), encoding
            except UnicodeDecodeError:
                pass
    return decode_text(data)


def load_html_text(html: str, stem: str, encoding: str = "utf-8") -> LoadedDocument:
    """Readable text only: scripts, styles, navigation, headers, footers, forms and hidden elements are
    dropped; blocks become paragraphs separated by blank lines; tables become rows of cells joined by
    " | "; h1-h6 are recorded as headings."""
    soup = BeautifulSoup(html, "lxml")
    title_tag = soup.find("title")
    title = " ".join(title_tag.get_text().split()) if title_tag else ""
    writer = _HtmlText()
    writer.walk(soup)
    text = writer.text()
    if not text.strip():
        raise LoaderError("no text found")
    if not title:
        title = next((heading for _, heading, level in writer.headings if level == 1), "") or stem
    page = Page(1, text, headings=[(offset, heading) for offset, heading, _ in writer.headings])
    return LoadedDocument(title, HTML, [page], {"warnings": [], "encoding": encoding})


def _html_hidden(tag: Tag) -> bool:
    # A page's <header> is branding and menus; an article's <header> holds its title: keep that one.
    if tag.name in _HTML_DROP and (tag.name != "header" or tag.find_parent(("article", "main")) is None):
        return True
    attrs = tag.attrs
    if not attrs:
        return False
    if attrs.get("aria-hidden") == "true" or attrs.get("role") == "navigation" or "hidden" in attrs:
        return True
    style = attrs.get("style")
    return bool(style) and "display:none" in style.replace(" ", "").lower()


def _is_text(node: object) -> bool:
    # Comments, CDATA, doctypes and processing instructions are NavigableString subclasses.
    return type(node) is NavigableString


def _inline_text(tag: Tag, keep_whitespace: bool = False) -> str:
    """The visible text under tag, hidden elements skipped; whitespace collapsed unless asked not to."""
    parts: list[str] = []
    stack: list[object] = [tag]
    while stack:
        node = stack.pop()
        if isinstance(node, Tag):
            if node is not tag and _html_hidden(node):
                continue
            if node.name == "br":
                parts.append("\n")
            elif node.name in ("td", "th", "li", "p", "div", "tr") and node is not tag:
                parts.append(" ")
            stack.extend(reversed(node.contents))
        elif _is_text(node):
            parts.append(str(node))
    joined = "".join(parts)
    return joined if keep_whitespace else " ".join(joined.split())


class _HtmlText:
    """Walks the tree once, iteratively (deeply nested pages must not hit the recursion limit)."""

    def __init__(self) -> None:
        self.paragraphs: list[str] = []
        self.headings: list[tuple[int, str, int]] = []  # (offset, text, level)
        self._length = 0
        self._inline: list[str | None] = []  # None is a <br>: the only line break inside a paragraph

    def text(self) -> str:
        self._flush()
        return "\n\n".join(self.paragraphs)

    def _add(self, paragraph: str) -> int:
        if self.paragraphs:
            self._length += 2
        offset = self._length
        self.paragraphs.append(paragraph)
        self._length += len(paragraph)
        return offset

    def _flush(self) -> None:
        if not self._inline:
            return
        lines: list[list[str]] = [[]]
        for part in self._inline:
            if part is None:
                lines.append([])
            else:
                lines[-1].append(part)
        self._inline.clear()
        collapsed = (" ".join("".join(line).split()) for line in lines)
        paragraph = "\n".join(line for line in collapsed if line)
        if paragraph:
            self._add(paragraph)

    def walk(self, root: Tag) -> None:
        end_of_block = object()
        stack: list[object] = list(reversed(root.contents))
        handlers: dict[str, Callable[[Tag], None]] = {"table": self._table, "pre": self._pre}
        while stack:
            node = stack.pop()
            if node is end_of_block:
                self._flush()
            elif isinstance(node, Tag):
                name = node.name
                if _html_hidden(node):
                    continue
                if name in _HTML_HEADINGS:
                    self._flush()
                    heading = _inline_text(node)
                    if heading:
                        self.headings.append((self._add(heading), heading, int(name[1])))
                elif name in handlers:
                    self._flush()
                    handlers[name](node)
                elif name == "br":
                    self._inline.append(None)
                elif name in _HTML_BLOCK:
                    self._flush()
                    stack.append(end_of_block)
                    stack.extend(reversed(node.contents))
                else:
                    stack.extend(reversed(node.contents))
            elif _is_text(node):
                self._inline.append(str(node))

    def _table(self, table: Tag) -> None:
        caption = table.find("caption")
        if caption is not None and caption.find_parent("table") is table:
            text = _inline_text(caption)
            if text:
                self._add(text)
        rows = []
        for row in table.find_all("tr"):
            if row.find_parent("table") is not table or _html_hidden(row):
                continue
            cells = [_inline_text(cell) for cell in row.find_all(("td", "th"), recursive=False)]
            if any(cells):
                rows.append(" | ".join(cells))
        if rows:
            self._add("\n".join(rows))

    def _pre(self, pre: Tag) -> None:
        lines = [line.rstrip() for line in _inline_text(pre, keep_whitespace=True).split("\n")]
        text = "\n".join(lines).strip("\n")
        if text.strip():
            self._add(text)


# ---------------------------------------------------------------------------------------------- DOCX


def load_docx(path: Path) -> LoadedDocument:
    """Paragraphs and tables in document order; Heading/Title styles become headings."""
    try:
        document = docx.Document(str(path))
        paragraphs: list[str] = []
        headings: list[tuple[int, str]] = []
        length = 0
        first_heading = title_style = None
        for block in document.iter_inner_content():
            if isinstance(block, Table):
                text, heading, style_name = _docx_table_text(block), False, ""
            else:
                text = block.text.strip()
                style_name = (block.style.name if block.style is not None else "") or ""
                heading = style_name == "Title" or style_name.lower().startswith("heading")
            if not text:
                continue
            if paragraphs:
                length += 2
            if heading:
                headings.append((length, text))
                if style_name == "Title" and title_style is None:
                    title_style = text
                first_heading = first_heading or text
            paragraphs.append(text)
            length += len(text)
        core_title = document.core_properties.title
    except Exception as exc:  # python-docx raises many kinds (zip, XML, missing parts) for damaged files
        raise LoaderError("not a valid DOCX (damaged, or not a Word document)") from exc

    text = "\n\n".join(paragraphs)
    if not text.strip():
        raise LoaderError("no text found")
    title = _clean_title(core_title) or title_style or first_heading or path.stem
    page = Page(1, text, headings=headings)
    return LoadedDocument(title, DOCX, [page], {"warnings": []})


def _docx_table_text(table: Table) -> str:
    rows = []
    for row in table.rows:
        cells = []
        previous = None
        for cell in row.cells:
            if cell._tc is previous:  # a merged cell repeats for every grid column it spans
                continue
            previous = cell._tc
            cells.append(" ".join(cell.text.split()))
        if any(cells):
            rows.append(" | ".join(cells))
    return "\n".join(rows)
