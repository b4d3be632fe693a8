"""Pages as the browser shows them: a PDF page as a PNG (rendered with pdfium, cached on disk inside the
project) with the cited characters' boxes, or a text page with the cited span marked.

A chunk's span is an offset into the *stored* page text, which the PDF loader derived from pdfium's text
by dropping control characters, folding line ends and trimming trailing spaces. :func:`align` maps stored
offsets back onto pdfium's text indices so the boxes come from pdfium's own character geometry.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from synthtune.errors import SynthtuneError
from synthtune.store import Document, Store
from synthtune.text.numbers import extract_numbers

PDF = "application/pdf"
SCALE = 1.5  # 108 dpi: sharp enough to read, small enough to render in well under 300 ms


@dataclass(frozen=True)
class Box:
    """A highlight rectangle in percent of the page's width and height, from the top-left corner."""

    left: float
    top: float
    width: float
    height: float


@dataclass(frozen=True)
class Segment:
    """A run of page text; ``mark`` says whether it is highlighted."""

    text: str
    mark: bool = False


class PageNotFound(SynthtuneError):
    """A document or page the store does not hold (HTTP 404)."""


def page_span(
    page_no: int, page_start: int, page_end: int, char_start: int, char_end: int, n: int
) -> tuple[int, int]:
    """The part of page ``page_no``'s text (``n`` characters) a chunk spanning these pages covers."""
    if not page_start <= page_no <= page_end:
        return (0, 0)
    start = char_start if page_no == page_start else 0
    end = char_end if page_no == page_end else n
    return (max(0, min(start, n)), max(0, min(end, n)))


def align(raw: str, stored: str) -> list[int]:
    """For each character of ``stored``, its index in ``raw`` (``stored`` is ``raw`` with characters
    dropped and ``\\r`` folded into ``\\n``; pdfium's U+FFFE markers were replaced one for one)."""
    out: list[int] = []
    i = 0
    for ch in stored:
        while i < len(raw):
            r = raw[i]
            if r == ch or r == "\ufffe" or (r == "\r" and ch == "\n" and raw[i + 1 : i + 2] != "\n"):
                break
            i += 1
        out.append(min(i, max(len(raw) - 1, 0)))
        i += 1
    return out


def text_segments(text: str, span: tuple[int, int]) -> list[Segment]:
    start, end = span
    parts = [Segment(text[:start]), Segment(text[start:end], True), Segment(text[end:])]
    return [p for p in parts if p.text]


def number_segments(text: str, answer: str) -> list[Segment]:
    """``text`` with every number whose value the answer states marked (how a reviewer checks figures)."""
    wanted = {n.value for n in extract_numbers(answer or "")}
    out: list[Segment] = []
    at = 0
    for num in extract_numbers(text):
        if num.value in wanted and num.span[0] >= at:
            out += [Segment(text[at : num.span[0]]), Segment(num.raw, True)]
            at = num.span[1]
    out.append(Segment(text[at:]))
    return [s for s in out if s.text]


class PageRenderer:
    """Renders and caches page images under ``cache_dir``; knows where each document's file is."""

    def __init__(self, store: Store, cache_dir: Path):
        self.store = store
        self.cache_dir = cache_dir

    def document(self, document_id: int) -> Document:
        doc = next((d for d in self.store.documents() if d.id == document_id), None)
        if doc is None:
            raise PageNotFound(f"no document {document_id}")
        return doc

    def page_text(self, document_id: int, page_no: int) -> str:
        page = next((p for p in self.store.pages(document_id) if p.page_no == page_no), None)
        if page is None:
            raise PageNotFound(f"document {document_id} has no page {page_no}")
        return page.text

    def image(self, doc: Document, page_no: int) -> Path:
        """The page's PNG, rendered once and then read from the cache (keyed by the file's sha256)."""
        if doc.media_type != PDF:
            raise PageNotFound(f"{doc.title} is not a PDF: it has no page images")
        if not 1 <= page_no <= doc.n_pages:
            raise PageNotFound(f"{doc.title} has no page {page_no}")
        path = self.cache_dir / f"{doc.sha256[:24]}-{page_no}-{SCALE}.png"
        if path.exists():
            return path
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        pdf = self._open(doc)
        try:
            page = pdf[page_no - 1]
            image = page.render(scale=SCALE).to_pil()
            page.close()
        finally:
            pdf.close()
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        image.save(tmp, format="PNG", compress_level=1)
        os.replace(tmp, path)
        return path

    def boxes(self, doc: Document, page_no: int, span: tuple[int, int]) -> list[Box]:
        """pdfium's rectangles (one per line) over the stored-text span ``span`` of this page."""
        start, end = span
        if end <= start or doc.media_type != PDF:
            return []
        stored = self.page_text(doc.id, page_no)
        pdf = self._open(doc)
        try:
            page = pdf[page_no - 1]
            width, height = page.get_size()
            textpage = page.get_textpage()
            try:
                raw = textpage.get_text_range()
                index = align(raw, stored)
                first, last = index[start], index[min(end, len(index)) - 1]
                chars = [
                    c
                    for t in (first, last)
                    if (c := pdfium_c.FPDFText_GetCharIndexFromTextIndex(textpage, t)) >= 0
                ]
                if not chars:
                    return []
                lo, hi = min(chars), max(chars)
                n = textpage.count_rects(lo, hi - lo + 1)
                rects = [textpage.get_rect(i) for i in range(n)]
            finally:
                textpage.close()
                page.close()
        finally:
            pdf.close()
        return [
            Box(
                left=round(100 * left / width, 3),
                top=round(100 * (height - top) / height, 3),
                width=round(100 * (right - left) / width, 3),
                height=round(100 * (top - bottom) / height, 3),
            )
            for left, bottom, right, top in rects
            if right > left and top > bottom
        ]

    def _open(self, doc: Document) -> pdfium.PdfDocument:
        path = Path(doc.source_path)
        if not path.is_file():
            raise PageNotFound(f"{doc.source_path} is no longer there; re-ingest it to see its pages")
        return pdfium.PdfDocument(path)
