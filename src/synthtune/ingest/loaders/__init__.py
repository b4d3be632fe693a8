"""Loaders, one module per format: one file in, a :class:`LoadedDocument` (title, media type, pages of
plain text) out.

Later stages cite character offsets into ``Page.text``, so each loader decides the page text once
and everything downstream treats it as the truth. Every problem a user can cause (encrypted, damaged,
empty, binary, unsupported) is a :class:`LoaderError` with a one-line message; the caller adds the path.

This module tells the format of a file (suffix, corrected by content) and hands it to its loader.
"""

from __future__ import annotations

import codecs
import zipfile
from pathlib import Path

from synthtune.errors import LoaderError
from synthtune.ingest.base import LoadedDocument
from synthtune.ingest.loaders.docx import DOCX, load_docx
from synthtune.ingest.loaders.html import HTML, decode_html, load_html_bytes, load_html_text
from synthtune.ingest.loaders.pdf import PDF, load_pdf
from synthtune.ingest.loaders.text import (
    MARKDOWN,
    TEXT,
    decode_text,
    load_markdown_bytes,
    load_text_bytes,
    markdown_headings,
)
from synthtune.ingest.ocr import OCROptions

__all__ = [
    "DOCX",
    "HTML",
    "MARKDOWN",
    "PDF",
    "TEXT",
    "decode_html",
    "decode_text",
    "load_document",
    "load_docx",
    "load_html_bytes",
    "load_html_text",
    "load_markdown_bytes",
    "load_pdf",
    "load_text_bytes",
    "markdown_headings",
]

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


def load_document(
    path: Path | str, password: str | None = None, ocr: OCROptions | None = None
) -> LoadedDocument:
    """Read one file into pages of plain text.

    The type comes from the suffix, corrected by the content where that is cheap to tell: a PDF or a
    Word file under another name is read as what it is; an unknown suffix holding text is read as text.
    ``password`` opens encrypted PDFs and ``ocr`` says which of their pages to OCR (None: none); both
    are ignored for other formats.
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
        return load_pdf(path, password=password, ocr=ocr)
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
