"""Token-aware chunking that keeps exact citations.

Each page is tokenized once with offsets (a fast tokenizer), so the token count of any span is two
binary searches. Chunks are cut at the best boundary inside the allowed window: paragraph, then
sentence, then line, then word, then token. A chunk never crosses a page, so it cites exactly one
page and ``chunk.text == page.text[char_start:char_end]`` holds by construction.
"""

from __future__ import annotations

import bisect
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from synthtune.ingest.base import LoadedDocument, Page

# boundary classes, best first; each regex matches the whitespace *after* which a chunk may end
_BOUNDARIES = [
    re.compile(r"\n[ \t]*\n\s*"),  # paragraph
    re.compile(r"(?<=[.!?])[\"')\]]*\s+"),  # sentence
    re.compile(r"\n\s*"),  # line
    re.compile(r"[ \t]+"),  # word
]


@dataclass(frozen=True)
class ChunkSpec:
    ordinal: int
    text: str
    page_start: int
    page_end: int
    char_start: int
    char_end: int
    n_tokens: int
    section: str | None
    header: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


class _Tokens:
    """Token offsets of one text; counts the tokens of any character span."""

    def __init__(self, offsets: Sequence[tuple[int, int]]):
        spans = [(a, b) for a, b in offsets if b > a]
        self.starts = [a for a, _ in spans]
        self.ends = [b for _, b in spans]

    def count(self, start: int, end: int) -> int:
        first = bisect.bisect_left(self.ends, start + 1)  # first token ending after start
        last = bisect.bisect_left(self.starts, end)  # tokens starting before end
        return max(0, last - first)

    def end_after(self, start: int, n: int) -> int:
        """Character offset just past the n-th token that ends after ``start``."""
        first = bisect.bisect_left(self.ends, start + 1)
        idx = min(first + n, len(self.ends)) - 1
        return self.ends[idx] if idx >= 0 else start

    def start_before(self, end: int, n: int) -> int:
        """Character offset of the start of the n-th token before ``end``."""
        last = bisect.bisect_left(self.starts, end)
        idx = max(last - n, 0)
        return self.starts[idx] if self.starts else end


def _last_boundary(text: str, lo: int, hi: int) -> int | None:
    """End of the best boundary whose whitespace starts in [lo, hi); the cut lands before it."""
    for pattern in _BOUNDARIES:
        best = None
        for m in pattern.finditer(text, lo, hi + 1):
            if lo < m.start() <= hi:
                best = m.start()
        if best is not None:
            return best
    return None


def _first_boundary_after(text: str, lo: int, hi: int) -> int | None:
    """Start of the first piece of text after a boundary in [lo, hi), sentence-or-better first."""
    for pattern in _BOUNDARIES:
        for m in pattern.finditer(text, lo, hi):
            if m.end() < hi:
                return m.end()
    return None


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


HEADER_VERSION = "header-2"  # bump when what a contextual header says changes (headers are re-made in place)

# a table row as text: a label, then two or more figures ("Revenue $ 14,735 $ 16,365 $ 46,298")
_CELL = r"(?:\$?\s*\(?-?\$?\s*\d[\d,]*(?:\.\d+)?\)?\s?%?|—|–|-)"
_TABLE_ROW = re.compile(rf"^(?:.*?[A-Za-z].*?\s+)?{_CELL}(?:\s+{_CELL})+\s*$")
_YEARS = re.compile(
    r"^(?:(?:(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?\s+\d{1,2},?\s+)?(?:19|20)\d\d,?\s*)+$"
)  # a column header of years or dates, not a row
_COLUMN_HINT = re.compile(
    r"ended|months|weeks|quarter|fiscal|\byear\b|\b(?:19|20)\d\d\b|millions|thousands|unaudited|%|"
    r"statements?\b|balance sheets?|consolidated|\bas of\b",
    re.I,
)


@dataclass(frozen=True)
class TableSpan:
    """A table in a page's text: its heading and column-header lines, then its rows."""

    start: int  # where its header lines start
    rows_start: int  # where its first row starts
    end: int  # where its last row ends
    header: str  # the header lines, joined: "STATEMENTS OF EARNINGS Three Months Ended January 28, 2023 ..."


def table_spans(text: str, max_header_chars: int = 200) -> list[TableSpan]:
    """Tables in page text (rows of a label and two or more figures, under lines that say what the columns
    are), so a chunk cut from the middle of a table can carry the table's header in its contextual header:
    the rows alone say "Income tax expense 118 172 370 574", not which period each figure is."""
    lines = [(m.start(), m.end(), m.group()) for m in re.finditer(r"[^\n]*", text) if m.group().strip()]
    spans: list[TableSpan] = []
    i = 0

    def is_row(line: str) -> bool:
        line = line.strip()
        return bool(_TABLE_ROW.match(line)) and not _YEARS.match(line)

    while i < len(lines):
        if not is_row(lines[i][2]):
            i += 1
            continue
        # the header: the lines just above the first row that say what the columns are
        j = i
        while j > 0 and i - j < 12:
            above = lines[j - 1][2].strip()
            hint = _COLUMN_HINT.search(above) and len(above.split()) <= 14
            if is_row(above) or not (hint or len(above.split()) <= 4 or above.endswith(":")):
                break
            j -= 1
        # the rows: until two lines are neither rows nor short labels ("Other income (expense):")
        k, misses, last = i, 0, i
        while k < len(lines) and misses < 2:
            line = lines[k][2].strip()
            if is_row(line):
                misses, last = 0, k
            elif len(line.split()) > 10:
                misses += 1
            k += 1
        if last - i >= 2 and j < i:
            heads = [" ".join(lines[n][2].split()) for n in range(j, i)]
            header = " ".join(heads)
            if len(header) > max_header_chars:  # the table's title, then whole header lines nearest the rows
                first, kept = heads[0][:60], []
                for line in reversed(heads[1:]):
                    if len(first) + 3 + len(" ".join([line, *kept])) > max_header_chars:
                        break
                    kept.insert(0, line)
                header = f"{first} … {' '.join(kept)}" if kept else first
            spans.append(TableSpan(lines[j][0], lines[i][0], lines[last][1], header))
        i = last + 1
    return spans


def make_header(title: str, section: str | None, lead: str = "", table: str = "") -> str:
    """ "Acme Robotics, Inc. earnings release, Q2 FY2025, ... — Acme Q2 results — Outlook": the document's
    identity (``lead``), its title and the section heading, each said once."""
    parts = [" ".join(lead.split())[:160]] if lead.strip() else []
    title = " ".join(title.split())[:120]
    if title and not (parts and title.lower() in parts[0].lower()):
        parts.append(title)
    if section:
        section = " ".join(section.split())[:120]
        if section and section.lower() not in (p.lower() for p in parts):
            parts.append(section)
    if table:
        parts.append(f"table: {table}")
    return " — ".join(parts)


def split_page(
    text: str, tokens: _Tokens, size: int, overlap: int, whole: Sequence[TableSpan] = ()
) -> list[tuple[int, int]]:
    """Character spans of the chunks of one page: each at most ``size`` tokens. A cut that would fall
    inside one of the ``whole`` tables (each fits in ``size``) moves back to where that table starts, and
    the next chunk starts there, without overlap, so the table is in one chunk with its header lines."""
    spans: list[tuple[int, int]] = []
    pos, _ = _trim(text, 0, len(text))
    end_of_text = _trim(text, 0, len(text))[1]
    while pos < end_of_text:
        if tokens.count(pos, end_of_text) <= size:
            spans.append((pos, end_of_text))
            break
        limit = tokens.end_after(pos, size)
        # a boundary in the second half of the window keeps chunks from getting tiny
        floor = pos + (limit - pos) // 2
        cut = _last_boundary(text, floor, limit)
        if cut is None or cut <= pos:
            cut = limit
        table = next((t for t in whole if t.start < cut < t.end), None)
        if table is not None:
            before = _trim(text, pos, table.start)
            if table.start > pos and before[1] > before[0]:  # this chunk ends where the table starts
                spans.append(before)
                pos = table.start
                continue
            if table.end <= limit:  # the chunk that starts with the table holds all of it
                cut = table.end
        start, end = _trim(text, pos, cut)
        if end <= start:  # only whitespace up to the cut
            pos = cut
            continue
        spans.append((start, end))
        nxt = end
        if overlap > 0:
            back = tokens.start_before(end, overlap)
            snapped = _first_boundary_after(text, back, end) if back < end else None
            nxt = snapped if snapped is not None else back
            if nxt <= start:
                nxt = end
        pos, _ = _trim(text, nxt, end_of_text)
    return spans


def chunk_pages(
    pages: Sequence[Page],
    tokenizer,
    *,
    title: str,
    size: int,
    overlap: int,
    max_tokens: int,
    with_header: bool = True,
    lead: str = "",
    table_headers: bool = False,
    keep_tables: bool = False,
) -> list[ChunkSpec]:
    """Chunks of a document's pages; each header starts with ``lead`` (the document's identity line), and
    with ``table_headers`` a chunk cut from a table's rows also carries the table's column headers; with
    ``keep_tables`` a table that fits in one chunk is never cut.

    ``max_tokens`` is the embedder's maximum sequence length; the effective size leaves room for the
    header and the tokenizer's special tokens, so no embedded passage is ever truncated.
    """
    texts = [p.text for p in pages]
    encoded = tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True) if texts else None
    headers_budget = 0
    out: list[ChunkSpec] = []
    section: str | None = None
    header_cache: dict[tuple[str | None, str], tuple[str, int]] = {}

    def header_for(sec: str | None, table: str = "") -> tuple[str, int]:
        if (sec, table) not in header_cache:
            h = make_header(title, sec, lead, table) if with_header else ""
            n = len(tokenizer(h, add_special_tokens=False)["input_ids"]) + 1 if h else 0
            header_cache[(sec, table)] = (h, n)
        return header_cache[(sec, table)]

    for i, page in enumerate(pages):
        if not page.text.strip():
            continue
        tokens = _Tokens(encoded["offset_mapping"][i])
        headings = sorted(page.headings)
        found = table_spans(page.text) if (with_header and table_headers) or keep_tables else []
        tables = found if with_header and table_headers else []
        # the budget must hold for the longest header this page can produce
        longest = max(
            header_for(sec, table)[1]
            for sec in [section] + [h for _, h in headings]
            for table in [""] + [t.header for t in tables]
        )
        headers_budget = longest
        budget = min(size, max_tokens - 2 - headers_budget - 2)  # 2 special tokens + safety margin
        if budget < 8:
            raise ValueError(f"chunk budget too small ({budget} tokens): lower the header length")
        eff_overlap = min(overlap, budget // 2)
        heading_offsets = [o for o, _ in headings]
        whole = [t for t in found if keep_tables and tokens.count(t.start, t.end) <= budget]
        for start, end in split_page(page.text, tokens, budget, eff_overlap, whole):
            k = bisect.bisect_right(heading_offsets, start) - 1
            if k >= 0:
                section = headings[k][1]
            elif headings and heading_offsets[0] < end:
                section = headings[0][1]
            # a chunk that starts among a table's rows carries the table's header (its columns' periods)
            table = next((t.header for t in tables if t.rows_start <= start < t.end), "")
            header, _ = header_for(section, table)
            chunk_text = page.text[start:end]
            out.append(
                ChunkSpec(
                    ordinal=len(out),
                    text=chunk_text,
                    page_start=page.page_no,
                    page_end=page.page_no,
                    char_start=start,
                    char_end=end,
                    n_tokens=tokens.count(start, end),
                    section=section,
                    header=header,
                )
            )
        if headings:
            section = headings[-1][1]
    return out


def chunk_document(doc: LoadedDocument, tokenizer, **options) -> list[ChunkSpec]:
    """:func:`chunk_pages` over a loaded document's pages, under its title."""
    return chunk_pages(doc.pages, tokenizer, title=doc.title, **options)
