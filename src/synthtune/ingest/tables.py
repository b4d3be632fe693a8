"""Tables read as tables: rows, row labels, column headers and numeric cells, with their place in the page.

A flattened table ("Weighted-average diluted shares (millions) 43.1 41.3 42.8 40.9") does not say which
number belongs to which period; this module recovers the grid so that every number keeps its row label
and its column header ("Three months ended Sep 30, 2025").

- **PDF**: from pypdfium2 character boxes. Glyphs are grouped into visual lines by their loose boxes
  (one height per font line), lines into words and phrases by horizontal gaps. A line whose right end is
  a run of >= 2 numeric cells is a data row; consecutive data rows (with label-only section rows between
  them) form a table; columns are the groups of numeric cells whose x-intervals overlap (numbers are
  aligned); the lines just above the first data row that place text over the columns are the header,
  and a header phrase that covers the centres of several columns (a spanning "Three Months Ended
  June 30,") heads each of them. Character offsets point into the page text exactly as the PDF loader
  writes it (pdfium's text, markers resolved, "\\r\\n" -> "\\n", trailing spaces removed), which this
  module rebuilds from the same pdfium text and checks against the page text it is given; where the
  loader changed a page's text (a ligature repaired: "ﬁ" -> "fi"), the offsets are moved into it.

  Why pypdfium2 boxes rather than a table extractor: pypdfium2 is already the PDF reader, so the boxes
  come with the exact character indices of the stored page text (a second parser such as pdfplumber /
  pdfminer.six would produce its own text, whose offsets would have to be aligned back); pdfplumber is
  not a dependency. Measured on the 25 earnings releases (``benchmarks/bench_facts.py``): ``pdf_tables``
  takes ~30 ms/page and every one of 12,050 cell spans reads back as its cell text; pdfplumber 0.11
  ``extract_tables`` (installed aside for that run) takes ~270 ms/page and returns 579 "tables", 177 of
  them with 3 rows or more: these releases rule a few lines rather than draw grids, so its line strategy
  returns header strips and single rows, and its text strategy splits numbers ("20", "9.8").
- **HTML / DOCX / Markdown**: from their structure (``<tr>``/``<td>`` with colspan, python-docx rows,
  pipe-table lines). Offsets: Markdown cells point into the page text (the file as written); HTML and
  DOCX cells point into the loader's rendering of the row ("cell | cell | cell") when that row is found
  verbatim in the page text given, else they carry cell coordinates only (``char_start`` None).

Pure functions: files in, :class:`Table` records out; no store, no model.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from bs4 import BeautifulSoup, NavigableString, Tag

from synthtune.text.numbers import detect_scale

# ------------------------------------------------------------------------------------------ records


@dataclass(frozen=True)
class Cell:
    """One numeric cell: its text as written and where it is."""

    text: str  # "$(0.04)", "43.4%", "1,210"
    column: int  # index into Table.columns
    char_start: int | None  # offsets into the page text; None when only the grid position is known
    char_end: int | None


@dataclass(frozen=True)
class Row:
    label: str  # the row's own label, "Diluted"
    cells: tuple[Cell, ...]
    parent: str | None = None  # the section or parent row it sits under, "Net income per share:"
    indented: bool = False  # drawn indented under its parent (PDF) or a generic sub-item ("Basic")
    label_start: int | None = None
    label_end: int | None = None

    @property
    def metric(self) -> str:
        """The label a reader would use: "Net income per share — Diluted" for an indented sub-item."""
        if self.parent and not self.label:
            return self.parent.rstrip(":").strip()  # the values of a section label, on the line below it
        if self.parent and self.indented:
            return f"{self.parent.rstrip(':').strip()} — {self.label}"
        return self.label


@dataclass(frozen=True)
class Table:
    """A table found on one page: header lines, resolved column headers, rows of numeric cells."""

    page_no: int
    source: str  # "pdf", "html", "docx", "markdown"
    columns: tuple[str, ...]  # full header text per column: "Three months ended Sep 30, 2025"
    rows: tuple[Row, ...]
    header_rows: tuple[tuple[str, ...], ...] = ()  # header lines as read, one tuple of phrases per line
    title: str | None = None  # "Condensed Consolidated Statements of Operations (unaudited)"
    scale_note: str | None = None  # "($ in millions, except per share data)"
    stub: str | None = (
        None  # header text over the label column that qualifies every row: "Domestic Segment Results"
    )
    problems: tuple[str, ...] = ()  # "column 3 has no header", never guessed silently
    char_start: int | None = None
    char_end: int | None = None

    @property
    def scale(self) -> float | None:
        return detect_scale(self.scale_note) if self.scale_note else None


# ------------------------------------------------------------------------------------- cell values

_VALUE = re.compile(
    r"^(?:[$€£]\s?)?[(\-−–]?(?:[$€£]\s?)?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?\s?\)?\s?%?\)?(?:\s?(?:pts?|bps|x))?$"
)
_PLACEHOLDER = re.compile(r"^(?:—|–|-|−|n/?a|n/?m|nm|\*|—%|-%)$", re.IGNORECASE)
_YEAR = re.compile(r"^(?:19|20)\d\d$")
_SCALE_HINT = re.compile(
    r"\b(?:in\s+)?(?:thousands|millions|billions)\b|\(\s*[$€£]\s*(?:000s?|m|mm|bn|k)\s*\)", re.I
)


def is_value(text: str) -> bool:
    """A cell a reader takes as a number ("$(0.04)", "43.4%", "1,210"), a year excepted."""
    text = text.strip()
    return bool(_VALUE.match(text)) and not _YEAR.match(text)


def is_placeholder(text: str) -> bool:
    """An empty-value mark ("—", "n/a", "NM") that holds a column's place without a number."""
    return bool(_PLACEHOLDER.match(text.strip()))


_SUB_ITEMS = frozenset(
    "basic diluted total other net gross current noncurrent non-current domestic foreign international "  # noqa: SIM905
    "federal state deferred".split()
)


_RATIO_OF_ABOVE = re.compile(r"^(?:as a\s+)?(?:%|percent(?:age)?)\s+of\b", re.I)


def _generic_sub_item(label: str) -> bool:
    return label.strip().lower().rstrip(":") in _SUB_ITEMS


# ------------------------------------------------------------------------------------------- PDF

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_UNREADABLE_RATIO = 0.05
_PDFIUM_HYPHEN = 0x2


@dataclass
class _Glyph:
    char: str
    offset: int  # into the page text
    x0: float
    x1: float
    y0: float  # loose box: one height per font line
    y1: float

    @property
    def cy(self) -> float:
        return (self.y0 + self.y1) / 2


@dataclass
class _Word:
    glyphs: list[_Glyph]

    @property
    def text(self) -> str:
        return "".join(g.char for g in self.glyphs)

    @property
    def x0(self) -> float:
        return self.glyphs[0].x0

    @property
    def x1(self) -> float:
        return self.glyphs[-1].x1

    @property
    def start(self) -> int:
        return min(g.offset for g in self.glyphs)

    @property
    def end(self) -> int:
        return max(g.offset for g in self.glyphs) + 1


@dataclass
class _Line:
    words: list[_Word]
    y: float  # centre
    height: float
    phrases: list[list[_Word]] = field(default_factory=list)
    label: list[_Word] = field(default_factory=list)  # words left of the trailing values
    values: list[_Word] = field(default_factory=list)  # trailing numeric / placeholder cells

    @property
    def x0(self) -> float:
        return self.words[0].x0

    @property
    def x1(self) -> float:
        return self.words[-1].x1

    @property
    def text(self) -> str:
        return " ".join(" ".join(w.text for w in p) for p in self.phrases)

    @property
    def n_numbers(self) -> int:
        return sum(1 for w in self.values if is_value(w.text))


def pdf_tables(
    path: Path | str, page_texts: Sequence[str] | None = None, password: str | None = None
) -> list[Table]:
    """The tables of a PDF, page by page. ``page_texts`` (the loader's page text, in page order) is the
    text the offsets must point into: where the loader's text of a page differs (a ligature repaired, OCR)
    the offsets move into it, and a cell whose text is not found there keeps its grid position only, with
    a problem on its table saying how many."""
    import pypdfium2 as pdfium

    tables: list[Table] = []
    pdf = pdfium.PdfDocument(str(path), password=password or None)
    try:
        for index in range(len(pdf)):
            page = pdf.get_page(index)
            try:
                textpage = page.get_textpage()
                try:
                    glyphs, text = _page_glyphs(textpage)
                finally:
                    textpage.close()
            finally:
                page.close()
            expected = page_texts[index] if page_texts is not None and index < len(page_texts) else None
            mismatch = expected is not None and expected != text
            found = tables_from_glyphs(glyphs, text, index + 1)
            if mismatch and found:
                moved = _Moved(text, expected)
                found = [moved.table(t) for t in found]
            tables.extend(found)
    finally:
        pdf.close()
    return tables


def _page_glyphs(textpage) -> tuple[list[_Glyph], str]:  # noqa: ANN001 - pypdfium2 PdfTextPage
    """The page text as the PDF loader writes it, and a glyph (with its boxes) per visible character."""
    import pypdfium2.raw as pdfium_c

    raw = textpage.get_text_range()
    n = textpage.count_chars()
    if len(raw) != n:
        return [], ""  # surrogate pairs shift text and char indices; rare, and such a page has no table here
    chars = list(raw)
    for at, ch in enumerate(chars):
        if ch == "\ufffe":
            code = pdfium_c.FPDFText_GetUnicode(textpage, at)
            chars[at] = "-" if code == _PDFIUM_HYPHEN else "\ufffd"
    n_control = sum(1 for ch in chars if _CONTROL.match(ch))
    if n_control:
        n_visible = sum(1 for ch in chars if not ch.isspace()) - n_control
        if n_control > _UNREADABLE_RATIO * max(n_visible, 1):
            return [], ""
    # rebuild the cleaned text, keeping for each kept character its pdfium index
    kept: list[tuple[str, int]] = []
    i = 0
    while i < n:
        ch = chars[i]
        if _CONTROL.match(ch):
            i += 1
            continue
        if ch == "\r":
            kept.append(("\n", i))
            i += 2 if i + 1 < n and chars[i + 1] == "\n" else 1
            continue
        kept.append((ch, i))
        i += 1
    out: list[tuple[str, int]] = []
    for ch, idx in kept:
        if ch == "\n":
            while out and out[-1][0] in " \t":
                out.pop()
        out.append((ch, idx))
    while out and out[-1][0] in " \t":
        out.pop()
    text = "".join(ch for ch, _ in out)
    glyphs = []
    for offset, (ch, idx) in enumerate(out):
        if ch.isspace():
            continue
        x0, y0, x1, y1 = textpage.get_charbox(idx, loose=True)  # the advance box: gaps between glyphs
        if y1 <= y0:
            continue
        glyphs.append(_Glyph(ch, offset, x0, x1, y0, y1))
    return glyphs, text


def _lines(glyphs: list[_Glyph]) -> list[_Line]:
    """Glyphs grouped into visual lines (top to bottom), words (left to right) and phrases."""
    rows: list[list[_Glyph]] = []
    for g in sorted(glyphs, key=lambda g: -g.cy):
        if rows:
            last = rows[-1]
            height = last[0].y1 - last[0].y0
            if abs(statistics.fmean(x.cy for x in last[-3:]) - g.cy) < 0.35 * height:
                last.append(g)
                continue
        rows.append([g])
    lines = []
    for row in rows:
        row.sort(key=lambda g: g.x0)
        height = statistics.median(g.y1 - g.y0 for g in row)
        words: list[_Word] = []
        for g in row:
            if words and g.x0 - words[-1].x1 < 0.12 * height and g.offset >= words[-1].glyphs[-1].offset:
                words[-1].glyphs.append(g)
            else:
                words.append(_Word([g]))
        line = _Line(words, statistics.fmean(g.cy for g in row), height)
        for w in words:
            if line.phrases and w.x0 - line.phrases[-1][-1].x1 < 0.55 * height:
                line.phrases[-1].append(w)
            else:
                line.phrases.append([w])
        _split_values(line)
        lines.append(line)
    if not lines:
        return lines
    typical = statistics.median(line.height for line in lines)
    return [line for line in lines if not (line.height < 0.8 * typical and _FOOTNOTE_MARKS.match(line.text))]


_FOOTNOTE_MARKS = re.compile(
    r"^(?:\(?(?:\d{1,2}|[a-z]|\*+)\)?[ ,]*)+$"
)  # superscripts on a line of their own


def _split_values(line: _Line) -> None:
    """Words left of the trailing run of value cells are the label; "$" and "%" standing alone join
    the number next to them."""
    words = _merge_signs(line.words)
    values: list[_Word] = []
    i = len(words) - 1
    while i >= 0 and (is_value(words[i].text) or is_placeholder(words[i].text)):
        values.insert(0, words[i])
        i -= 1
    line.words = words
    line.label = words[: i + 1]
    line.values = values


def _merge_signs(words: list[_Word]) -> list[_Word]:
    out: list[_Word] = []
    for w in words:
        if (
            out
            and out[-1].text in ("$", "€", "£", "$(", "(")
            and re.match(r"^[\d(]", w.text)
            or out
            and w.text in ("%", ")", "%)", ")%", "bps", "pts")
            and re.search(r"\d\)?$", out[-1].text)
        ):
            out[-1] = _Word(out[-1].glyphs + w.glyphs)
        else:
            out.append(_Word(list(w.glyphs)))
    return out


def tables_from_glyphs(glyphs: list[_Glyph], text: str, page_no: int) -> list[Table]:
    """The tables on one page, from its glyphs (see :func:`pdf_tables`). A table without header lines
    right under a table with the same columns continues it (a gap or a note split them) and takes its
    column headers."""
    lines = _lines(glyphs)
    tables: list[Table] = []
    used_above = -1  # index of the last line taken by a previous table
    previous: tuple[Table, list[tuple[float, float]]] | None = None
    for start, end in _regions(lines):
        made = _pdf_table(lines, start, end, used_above, text, page_no)
        used_above = end
        if made is None:
            continue
        table, columns = made
        if previous is not None and table.scale_note is None:
            table = replace(
                table, scale_note=previous[0].scale_note
            )  # one scale note heads the page's tables
        if previous is not None and not table.header_rows and _same_columns(columns, previous[1]):
            table = replace(
                table,
                columns=previous[0].columns,
                header_rows=previous[0].header_rows,
                title=table.title or previous[0].title,
                scale_note=table.scale_note or previous[0].scale_note,
                stub=table.title if table.title and previous[0].stub else previous[0].stub,
                problems=tuple(p for p in table.problems if "has no header" not in p),
            )
        tables.append(table)
        previous = (table, columns)
    return tables


def _same_columns(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> bool:
    return len(a) == len(b) and all(x0 < y1 and y0 < x1 for (x0, x1), (y0, y1) in zip(a, b, strict=True))


def _regions(lines: list[_Line]) -> list[tuple[int, int]]:
    """(first, last) line indices of runs of data rows, with label-only lines between them allowed."""
    regions = []
    i = 0
    while i < len(lines):
        if lines[i].n_numbers < 2:
            i += 1
            continue
        start = last = i
        values_left = min(w.x0 for w in lines[i].values)
        j = i + 1
        while j < len(lines):
            line, prev = lines[j], lines[j - 1]
            if prev.y - line.y > 2.6 * max(line.height, prev.height):
                break
            if (
                line.n_numbers >= 1
                and line.values
                and min(w.x0 for w in line.values) >= values_left - 4 * line.height
            ):
                if line.n_numbers >= 2 or _aligned(line, lines[start : last + 1]):
                    last = j
                    values_left = min(values_left, min(w.x0 for w in line.values))
                    j += 1
                    continue
                break
            if not line.values and line.x1 < values_left - line.height:
                j += 1  # a section label or a wrapped row label
                continue
            break
        if sum(1 for line in lines[start : last + 1] if line.n_numbers >= 2) >= 2:
            regions.append((start, last))
        i = last + 1
    return regions


def _aligned(line: _Line, region: list[_Line]) -> bool:
    cells = [w for r in region for w in r.values]
    return all(any(w.x0 < c.x1 and c.x0 < w.x1 for c in cells) for w in line.values)


def _columns(data: list[_Line]) -> list[tuple[float, float]]:
    """Column extents: value cells whose x-intervals overlap belong to one column."""
    spans = sorted((w.x0, w.x1) for line in data for w in line.values)
    columns: list[list[float]] = []
    for x0, x1 in spans:
        if columns and x0 < columns[-1][1]:
            columns[-1][1] = max(columns[-1][1], x1)
        else:
            columns.append([x0, x1])
    return [(a, b) for a, b in columns]


def _column_of(word: _Word, columns: list[tuple[float, float]]) -> int | None:
    for k, (a, b) in enumerate(columns):
        if word.x0 < b and a < word.x1:
            return k
    return None


def _pdf_table(
    lines: list[_Line], start: int, end: int, used_above: int, text: str, page_no: int
) -> tuple[Table, list[tuple[float, float]]] | None:
    data = [line for line in lines[start : end + 1] if line.values]
    columns = _columns(data)
    if len(columns) < 2:
        return None
    problems: list[str] = []
    left_edge = columns[0][0]
    label_left = min((line.label[0].x0 for line in data if line.label), default=left_edge)
    pitch = (columns[-1][1] - columns[0][0]) / len(columns)

    # label-only lines right above the first data row are sections of the table ("Current assets:")
    first_data = start
    while start - 1 > used_above and first_data - start < 3:
        line, below = lines[start - 1], lines[start]
        if line.values or line.x1 >= left_edge - line.height or line.y - below.y > 2.6 * line.height:
            break
        if re.search(r"\(unaudited", line.text, re.I):
            break
        start -= 1

    # header: lines just above that put text over the columns
    header_lines: list[_Line] = []
    k = start - 1
    while k > used_above and len(header_lines) < 6:
        line, below = lines[k], lines[k + 1]
        if line.y - below.y > 2.6 * max(line.height, below.height):
            break
        over = [
            p
            for p in line.phrases
            if p[0].x0 > label_left + 2 * line.height and p[-1].x1 > left_edge - line.height
        ]
        crossing = [
            p for p in line.phrases if p[0].x0 < label_left + 2 * line.height and p[-1].x1 > left_edge
        ]
        centred_title = [p for p in over if p[0].x0 < left_edge - max(pitch, 4 * line.height)]
        over_text = " ".join(w.text for p in over for w in p)
        note = _SCALE_HINT.search(over_text) or re.search(r"\(unaudited", over_text, re.I)
        only_marks = all(is_placeholder(w.text) for p in over for w in p)  # a row of dashes, not a header
        if not over or crossing or centred_title or note or only_marks or line.n_numbers >= 1:
            break
        header_lines.insert(0, line)
        k -= 1
    caption_lines: list[_Line] = []
    while k > used_above and len(caption_lines) < 4:
        line, below = lines[k], lines[k + 1]
        if (
            line.y - below.y > 3.2 * max(line.height, below.height)
            or line.n_numbers >= 1
            or len(line.text) > 120
        ):
            break
        caption_lines.insert(0, line)
        k -= 1

    column_text: list[list[str]] = [[] for _ in columns]
    stub: list[str] = []
    header_rows = []
    for line in header_lines:
        line.phrases = [
            part for phrase in line.phrases for part in _split_at_columns(phrase, columns, line.height)
        ]
    widened = _widened(columns, header_lines)
    centres = [(a + b) / 2 for a, b in widened]
    pitch = statistics.median(b - a for a, b in zip(centres, centres[1:], strict=False))  # between centres
    for line in header_lines:
        header_rows.append(tuple(" ".join(w.text for w in p) for p in line.phrases))
        heads = []
        for phrase in line.phrases:
            if phrase[-1].x1 < left_edge and phrase[0].x0 < label_left + 2 * line.height:
                stub.append(" ".join(w.text for w in phrase))
            else:
                heads.append((phrase[0].x0, phrase[-1].x1, " ".join(w.text for w in phrase)))
        for c, m in enumerate(centres):
            # the phrase over this column, else the nearest one: a spanning header centred over its columns;
            # spanning headers on the top line ("Second-Quarter", "Six Months") share the columns out
            distance, _, head = min(
                ((max(x0 - m, m - x1, 0.0), x0, t) for x0, x1, t in heads), default=(None, 0, "")
            )
            if distance is None:
                continue
            shared_out = line is header_lines[0] and 2 <= len(heads) < len(centres)
            if distance <= max(line.height, 0.6 * pitch) or shared_out:
                column_text[c].append(head)
    resolved = tuple(" ".join(parts) for parts in column_text)
    qualifiers = [
        p
        for p in stub
        if not (_SCALE_HINT.search(p) or re.search(r"unaudited|^\(|^metric$|^segment$", p, re.I))
    ]
    for c, header in enumerate(resolved):
        if not header:
            problems.append(f"column {c + 1} has no header")

    scale_note = title = None
    for line in reversed(caption_lines + header_lines):
        for phrase in line.phrases:
            phrase_text = " ".join(w.text for w in phrase)
            if scale_note is None and _SCALE_HINT.search(phrase_text) and detect_scale(phrase_text):
                scale_note = phrase_text
    for line in reversed(caption_lines):
        candidate = line.text
        if (
            candidate == scale_note
            or _SCALE_HINT.search(candidate)
            or re.match(r"\(?unaudited", candidate, re.I)
        ):
            continue
        if sum(ch.isalpha() for ch in candidate) >= 4:
            title = candidate
            break
    sections = [line.text for line in lines[start:first_data]]
    for phrase in stub + sections:
        if scale_note is None and _SCALE_HINT.search(phrase) and detect_scale(phrase):
            scale_note = phrase

    rows = _pdf_rows(lines[start : end + 1], columns, text, problems)
    if not rows:
        return None
    first = min(
        (g.offset for line in header_lines + data for w in line.words for g in w.glyphs), default=None
    )
    last = max((g.offset for line in data for w in line.words for g in w.glyphs), default=None)
    table = Table(
        page_no=page_no,
        source="pdf",
        columns=resolved,
        rows=tuple(rows),
        header_rows=tuple(header_rows),
        title=title,
        scale_note=scale_note,
        stub=" ".join(qualifiers) or None,
        problems=tuple(problems),
        char_start=first,
        char_end=None if last is None else last + 1,
    )
    return table, columns


def _split_at_columns(
    phrase: list[_Word], columns: list[tuple[float, float]], height: float
) -> list[list[_Word]]:
    """Header words set close together ("International Consolidated") but over two different columns are
    two headers; a wider than usual gap between them tells them from a spanning header's words."""

    def column(word: _Word) -> int | None:
        hit = [c for c, (a, b) in enumerate(columns) if word.x0 < b and a < word.x1]
        return hit[0] if len(hit) == 1 else None

    parts = [[phrase[0]]]
    for word in phrase[1:]:
        before = parts[-1][-1]
        split = word.x0 - before.x1 > 0.35 * height and column(word) not in (None, column(before))
        if split:
            parts.append([word])
        else:
            parts[-1].append(word)
    return parts


def _widened(columns: list[tuple[float, float]], header_lines: list[_Line]) -> list[tuple[float, float]]:
    """Column extents grown by the header phrases that sit over one column only ("January 28, 2023" is
    wider than the numbers under it), so that a spanning phrase is told by covering their centres."""
    out = list(columns)
    for line in header_lines:
        for phrase in line.phrases:
            x0, x1 = phrase[0].x0, phrase[-1].x1
            hit = [c for c, (a, b) in enumerate(columns) if x0 < b and a < x1]
            if len(hit) == 1:
                a, b = out[hit[0]]
                out[hit[0]] = (min(a, x0), max(b, x1))
    return out


def _pdf_rows(
    region: list[_Line], columns: list[tuple[float, float]], text: str, problems: list[str]
) -> list[Row]:
    label_x = [line.label[0].x0 for line in region if line.label]
    base_x = min(label_x) if label_x else 0.0
    rows: list[Row] = []
    sections: list[tuple[float, str, bool]] = []  # (x0, label, label-only line) of possible parents
    pending: _Line | None = None  # a label-only line: a section, or the first half of a wrapped label
    deeper: set[str] = set()  # sections that have had a row indented under them
    for line in region:
        label_words = line.label
        x0 = label_words[0].x0 if label_words else base_x
        label = " ".join(w.text for w in label_words)
        if not line.values:
            pending = line
            sections = [s for s in sections if s[0] < x0 - 0.5 * line.height] + [(x0, label, True)]
            continue
        if pending is not None and label and label[0].islower() and not pending.text.endswith(":"):
            label = f"{pending.text} {label}"  # a label wrapped onto two lines
            sections = sections[:-1]
        pending = None
        # a "Section:" heading is closed by a row back at its own indentation once rows were indented under it
        sections = [
            s
            for s in sections
            if s[0] < x0 + 0.5 * line.height
            or (s[1].endswith(":") and not (s[1] in deeper and x0 <= s[0] + 0.5 * line.height))
        ]
        deeper.update(s[1] for s in sections if s[0] < x0 - 0.5 * line.height)
        parent = None
        if not label.lower().startswith("total"):
            parent = next(
                (
                    s
                    for s in reversed(sections)
                    if (s[0] < x0 - 0.5 * line.height and s[2]) or s[1].endswith(":")
                ),
                None,
            )
            if parent is None and _generic_sub_item(label) and sections:
                parent = sections[-1]
            if parent is None and _RATIO_OF_ABOVE.match(label) and rows:
                parent = (x0, rows[-1].metric, False)  # "% of revenue" under the row it is a ratio of
        indented = parent is not None
        cells = []
        seen: set[int] = set()
        for w in line.values:
            col = _column_of(w, columns)
            if col is None or col in seen:
                problems.append(f"row {label!r}: a cell outside the columns ({w.text})")
                continue
            seen.add(col)
            if is_value(w.text):
                cells.append(Cell(text[w.start : w.end], col, w.start, w.end))
        start = min((w.start for w in label_words), default=None)
        end_ = max((w.end for w in label_words), default=None)
        rows.append(Row(label, tuple(cells), parent[1] if parent else None, indented, start, end_))
        sections = [
            s
            for s in sections
            if s[0] < x0 - 0.5 * line.height
            or (s[1].endswith(":") and not (s[1] in deeper and x0 <= s[0] + 0.5 * line.height))
        ] + [(x0, label, False)]
    return rows


class _Moved:
    """Offsets into pdfium's page text moved into the loader's, which differs where the loader repaired
    a ligature ("ﬁ" -> "fi") or replaced the layer by OCR: a span moves when it lies within a stretch the
    two texts share; else that cell keeps its grid position only."""

    def __init__(self, text: str, expected: str):
        from difflib import SequenceMatcher

        blocks = SequenceMatcher(None, text, expected, autojunk=False).get_matching_blocks()
        self.blocks = [(a, b, n) for a, b, n in blocks if n]

    def span(self, start: int | None, end: int | None) -> tuple[int | None, int | None]:
        if start is None or end is None:
            return None, None
        for a, b, n in self.blocks:  # a shared stretch reads the same in both texts
            if a <= start and end <= a + n:
                return b + start - a, b + end - a
        return None, None

    def table(self, table: Table) -> Table:
        rows = []
        lost = 0
        for r in table.rows:
            cells = []
            for c in r.cells:
                start, end = self.span(c.char_start, c.char_end)
                lost += c.char_start is not None and start is None
                cells.append(replace(c, char_start=start, char_end=end))
            label_start, label_end = self.span(r.label_start, r.label_end)
            rows.append(replace(r, cells=tuple(cells), label_start=label_start, label_end=label_end))
        start, end = self.span(table.char_start, table.char_end)
        problems = table.problems
        if lost:
            problems = (*problems, f"page text differs from the loader's: {lost} cells without offsets")
        return replace(table, rows=tuple(rows), problems=problems, char_start=start, char_end=end)


# ------------------------------------------------------------------------------ grids (HTML, DOCX, MD)


@dataclass(frozen=True)
class GridCell:
    text: str
    char_start: int | None = None
    char_end: int | None = None


def table_from_grid(
    grid: list[list[GridCell]],
    page_no: int,
    source: str,
    title: str | None = None,
    scale_note: str | None = None,
) -> Table | None:
    """A table from a rectangular grid of cells (spanned cells repeated in every column they cover).

    Header rows are the leading rows with no number outside the first column; a column's header is its
    distinct header texts, top to bottom. The first column holds the row labels. A row with a label and
    no values is a section; a following generic sub-item ("Basic", "Diluted") or any row under a section
    whose label ends with ":" takes it as its parent.
    """
    if not grid or max(len(r) for r in grid) < 2:
        return None
    width = max(len(r) for r in grid)
    grid = [r + [GridCell("")] * (width - len(r)) for r in grid]
    n_header = 0
    while n_header < len(grid) and not any(is_value(c.text) for c in grid[n_header][1:]):
        n_header += 1
    if n_header == len(grid):
        return None
    problems: list[str] = []
    grid = _spread_spanning_headers(grid, n_header)
    columns = []
    for j in range(1, width):
        parts: list[str] = []
        for i in range(n_header):
            cell_text = grid[i][j].text.strip()
            if cell_text and cell_text not in parts:
                parts.append(cell_text)
        columns.append(" ".join(parts))
    header_texts = [c.text for r in grid[:n_header] for c in r if c.text.strip()]
    if scale_note is None:
        notes = [*header_texts, title or ""]
        scale_note = next((t for t in notes if _SCALE_HINT.search(t) and detect_scale(t)), None)
    rows: list[Row] = []
    section: str | None = None
    for r in grid[n_header:]:
        label = r[0].text.strip()
        if is_value(label):
            label = ""
        cells = tuple(
            Cell(c.text.strip(), j - 1, c.char_start, c.char_end)
            for j, c in enumerate(r[1:], start=1)
            if is_value(c.text)
        )
        if not cells:
            if label and not any(c.text.strip() for c in r[1:]):
                section = label
            continue
        if scale_note is None and _SCALE_HINT.search(label) and detect_scale(label) and not cells:
            scale_note = label
        indented = section is not None and (section.endswith(":") or _generic_sub_item(label))
        rows.append(Row(label, cells, section, indented, r[0].char_start, r[0].char_end))
    if not rows:
        return None
    used = {c.column for row in rows for c in row.cells}
    for j in sorted(used):
        if not columns[j]:
            problems.append(f"column {j + 1} has no header")
    return Table(
        page_no=page_no,
        source=source,
        columns=tuple(columns),
        rows=tuple(rows),
        header_rows=tuple(tuple(c.text for c in r) for r in grid[:n_header]),
        title=title,
        scale_note=scale_note,
        problems=tuple(problems),
    )


def _spread_spanning_headers(grid: list[list[GridCell]], n_header: int) -> list[list[GridCell]]:
    """A header row with one text over the value columns, above a row that heads several of them, spans
    them all: "Years Ended September 30," written in one cell of a grid without colspans."""
    out = [list(r) for r in grid]
    for i in range(n_header - 1):
        filled = [j for j in range(1, len(out[i])) if out[i][j].text.strip()]
        below = [j for j in range(1, len(out[i + 1])) if out[i + 1][j].text.strip()]
        if len(filled) == 1 and len(below) >= 2:
            spanning = out[i][filled[0]]
            for j in below:
                out[i][j] = GridCell(spanning.text)
    return out


class _Locator:
    """Finds each rendered row ("a | b | c") in the page text, in order, to give cells offsets."""

    def __init__(self, page_text: str | None):
        self.text = page_text
        self.cursor = 0

    def row(self, cells: list[str]) -> list[GridCell]:
        rendered = " | ".join(cells)
        at = self.text.find(rendered, self.cursor) if self.text is not None and any(cells) else -1
        if at < 0:
            return [GridCell(c) for c in cells]
        self.cursor = at + len(rendered)
        out = []
        pos = at
        for c in cells:
            out.append(GridCell(c, pos, pos + len(c)))
            pos += len(c) + 3
        return out


def _html_cell_text(cell: Tag) -> str:
    parts: list[str] = []
    for node in cell.descendants:
        if type(node) is NavigableString:
            parts.append(str(node))
        elif isinstance(node, Tag) and node.name in ("br", "td", "th", "li", "p", "div", "tr"):
            parts.append(" ")
    return " ".join("".join(parts).split())


def html_tables(html: str, page_text: str | None = None, page_no: int = 1) -> list[Table]:
    """Tables of an HTML document from ``<tr>``/``<td>`` (colspan and rowspan expanded)."""
    soup = BeautifulSoup(html, "lxml")
    locator = _Locator(page_text)
    tables = []
    for element in soup.find_all("table"):
        caption = element.find("caption")
        title = " ".join(caption.get_text().split()) if caption is not None else None
        if title is None:
            previous = element.find_previous(("h1", "h2", "h3", "h4", "h5", "h6", "p"))
            title = " ".join(previous.get_text().split())[:200] if previous is not None else None
        grid: list[list[GridCell]] = []
        carry: dict[int, tuple[int, GridCell]] = {}  # column -> (rows left, cell) from a rowspan
        for tr in element.find_all("tr"):
            if tr.find_parent("table") is not element:
                continue
            tds = tr.find_all(("td", "th"), recursive=False)
            texts = [_html_cell_text(td) for td in tds]
            located = locator.row(texts) if any(texts) else [GridCell(t) for t in texts]
            row: list[GridCell] = []
            for td, cell in zip(tds, located, strict=True):
                while len(row) in carry:
                    left, held = carry.pop(len(row))
                    row.append(held)
                    if left > 1:
                        carry[len(row) - 1] = (left - 1, held)
                span = _int_attr(td, "colspan")
                down = _int_attr(td, "rowspan")
                for _ in range(span):
                    if down > 1:
                        carry[len(row)] = (down - 1, cell)
                    row.append(cell if _ == 0 or not is_value(cell.text) else GridCell(""))
            while len(row) in carry:
                left, held = carry.pop(len(row))
                row.append(held)
            if any(c.text for c in row):
                grid.append(row)
        table = table_from_grid(grid, page_no, "html", title=title)
        if table is not None:
            tables.append(table)
    return tables


def _int_attr(tag: Tag, name: str) -> int:
    try:
        return max(1, min(int(str(tag.get(name, 1))), 50))
    except ValueError:
        return 1


def docx_tables(path: Path | str, page_text: str | None = None) -> list[Table]:
    """Tables of a Word document from python-docx rows (a merged cell counted once per row, as the loader
    renders it, then repeated over the grid columns it spans)."""
    import docx

    document = docx.Document(str(path))
    locator = _Locator(page_text)
    tables = []
    previous_text: str | None = None
    for block in document.iter_inner_content():
        if not isinstance(block, docx.table.Table):
            if block.text.strip():
                previous_text = block.text.strip()
            continue
        grid: list[list[GridCell]] = []
        for row in block.rows:
            unique: list[str] = []
            spans: list[int] = []
            previous = None
            for cell in row.cells:
                if cell._tc is previous:
                    spans[-1] += 1
                    continue
                previous = cell._tc
                unique.append(" ".join(cell.text.split()))
                spans.append(1)
            located = locator.row(unique) if any(unique) else [GridCell(t) for t in unique]
            expanded = [
                c if k == 0 else GridCell("") for c, n in zip(located, spans, strict=True) for k in range(n)
            ]
            if any(c.text for c in expanded):
                grid.append(expanded)
        table = table_from_grid(grid, 1, "docx", title=previous_text)
        if table is not None:
            tables.append(table)
    return tables


_PIPE_SEPARATOR = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(?:\|\s*:?-{3,}:?\s*)*\|?\s*$")


def markdown_tables(page_text: str, page_no: int = 1) -> list[Table]:
    """Pipe tables of a Markdown page (header line, separator line, body lines), offsets into the page."""
    lines = page_text.split("\n")
    offsets = []
    pos = 0
    for line in lines:
        offsets.append(pos)
        pos += len(line) + 1
    tables = []
    i = 1
    while i < len(lines):
        if not (_PIPE_SEPARATOR.match(lines[i]) and "|" in lines[i - 1]):
            i += 1
            continue
        block = [i - 1]
        j = i + 1
        while j < len(lines) and "|" in lines[j] and lines[j].strip():
            block.append(j)
            j += 1
        grid = [_pipe_cells(lines[k], offsets[k]) for k in block]
        title = next(
            (lines[k].strip().lstrip("#").strip() for k in range(i - 2, -1, -1) if lines[k].strip()), None
        )
        table = table_from_grid(grid, page_no, "markdown", title=title)
        if table is not None:
            tables.append(table)
        i = j
    return tables


def _pipe_cells(line: str, offset: int) -> list[GridCell]:
    """The cells of one pipe-table line, each with its offsets (outer pipes optional)."""
    lead = len(line) - len(line.lstrip())
    start = lead + 1 if line[lead : lead + 1] == "|" else 0
    end = len(line.rstrip())
    if end > start and line[end - 1] == "|":
        end -= 1
    cells = []
    pos = start
    for part in line[start:end].split("|"):
        pad = len(part) - len(part.lstrip())
        value = part.strip()
        cells.append(GridCell(value, offset + pos + pad, offset + pos + pad + len(value)))
        pos += len(part) + 1
    return cells
