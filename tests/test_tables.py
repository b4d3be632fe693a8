"""Tables read as tables: PDF layout (pypdfium2 boxes), HTML, DOCX and Markdown structure."""

from __future__ import annotations

from pathlib import Path

import docx
import pytest
from fpdf import FPDF

from synthtune.ingest.loaders import load_document, load_html_text, load_markdown_bytes
from synthtune.ingest.tables import (
    Table,
    docx_tables,
    html_tables,
    is_value,
    markdown_tables,
    pdf_tables,
)

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "examples" / "acme" / "docs"
RELEASES = REPO.parent / "shared" / "data" / "earnings_releases"


def _by_title(tables: list[Table], words: str) -> Table:
    found = [t for t in tables if t.title and words.lower() in t.title.lower()]
    assert found, [t.title for t in tables]
    return found[0]


def _row(table: Table, metric: str):
    rows = [r for r in table.rows if r.metric == metric]
    assert rows, [r.metric for r in table.rows]
    return rows[0]


@pytest.fixture(scope="module")
def q3() -> tuple[list[Table], list[str]]:
    path = DEMO / "acme_q3_fy2025_earnings_release.pdf"
    pages = [p.text for p in load_document(path).pages]
    return pdf_tables(path, pages), pages


def test_values_are_told_from_years_and_labels() -> None:
    for text in ["152.2", "$0.16", "$(0.04)", "(3.5)", "43.4%", "(1.0)%", "1,210", "$ 14,735", "10.4 %"]:
        assert is_value(text), text
    for text in ["2025", "FY2025", "Q3", "Sep 30,", "Revenue", "—"]:
        assert not is_value(text), text


def test_demo_statement_of_operations_has_its_period_columns(q3) -> None:
    tables, pages = q3
    ops = _by_title(tables, "Statements of Operations")
    assert ops.page_no == 3
    assert ops.scale_note == "($ in millions, except per share data)"
    assert ops.columns == (
        "Three months ended Sep 30, 2025",
        "Three months ended Sep 30, 2024",
        "Nine months ended Sep 30, 2025",
        "Nine months ended Sep 30, 2024",
    )
    assert not ops.problems
    margin = _row(ops, "Operating margin")
    assert [(c.text, c.column) for c in margin.cells] == [
        ("6.2%", 0),
        ("0.9%", 1),
        ("4.3%", 2),
        ("(1.0)%", 3),
    ]
    gross = _row(ops, "Gross margin")
    assert [c.text for c in gross.cells] == ["43.4%", "39.9%", "42.3%", "39.2%"]
    eps = _row(ops, "Net income (loss) per share, diluted")
    assert eps.cells[3].text == "$(0.04)"
    # every cell and label points at its text in the loader's page text
    text = pages[ops.page_no - 1]
    for row in ops.rows:
        assert text[row.label_start : row.label_end] == row.label
        for cell in row.cells:
            assert text[cell.char_start : cell.char_end] == cell.text


def test_demo_tables_one_line_headers_and_titles(q3) -> None:
    tables, _ = q3
    metrics = _by_title(tables, "Key Operating Metrics")
    assert metrics.columns == ("Q3 FY2025", "Q2 FY2025", "Q3 FY2024")
    assert [c.text for c in _row(metrics, "Robots shipped (units)").cells] == ["1,210", "1,140", "975"]
    balance = _by_title(tables, "Balance Sheets")
    assert balance.columns == ("September 30, 2025", "December 31, 2024")
    assert balance.scale_note == "($ in millions)"
    segments = _by_title(tables, "Revenue by Segment")
    assert segments.columns == ("Q3 FY2025", "Q3 FY2024", "Change", "% of revenue")
    ebitda = _by_title(tables, "Adjusted EBITDA")
    assert [c.text for c in _row(ebitda, "Adjusted EBITDA margin").cells] == ["14.8%", "9.6%"]


def _statement_pdf(path: Path) -> Path:
    """A statement with a header spanning two columns, a section row and indented sub-items."""
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=10)

    def text(x: float, y: float, s: str, w: float = 0, align: str = "L") -> None:
        pdf.set_xy(x, y)
        pdf.cell(w, 5, s, align=align)

    text(20, 20, "Widget Corp. Statement of Income")
    text(20, 26, "(in thousands, except per share amounts)")
    text(110, 34, "Three Months Ended June 30,", 60, "C")
    text(110, 40, "2025", 28, "R")
    text(142, 40, "2024", 28, "R")
    rows = [
        (20, "Net sales", "$ 12,345", "$ 11,002"),
        (20, "Net income", "1,234", "(321)"),
        (20, "Net income per share:", None, None),
        (26, "Basic", "$ 0.51", "$ (0.14)"),
        (26, "Diluted", "$ 0.50", "$ (0.14)"),
    ]
    y = 48
    for x, label, a, b in rows:
        text(x, y, label)
        if a is not None:
            text(110, y, a, 28, "R")
            text(142, y, b, 28, "R")
        y += 6
    pdf.output(str(path))
    return path


def test_pdf_spanning_header_and_indented_sub_items(tmp_path: Path) -> None:
    path = _statement_pdf(tmp_path / "statement.pdf")
    pages = [p.text for p in load_document(path).pages]
    (table,) = pdf_tables(path, pages)
    assert table.columns == ("Three Months Ended June 30, 2025", "Three Months Ended June 30, 2024")
    assert table.scale_note == "(in thousands, except per share amounts)"
    assert table.title == "Widget Corp. Statement of Income"
    assert [r.metric for r in table.rows] == [
        "Net sales",
        "Net income",
        "Net income per share — Basic",
        "Net income per share — Diluted",
    ]
    diluted = table.rows[-1]
    assert [c.text for c in diluted.cells] == ["$ 0.50", "$ (0.14)"]
    assert all(pages[0][c.char_start : c.char_end] == c.text for r in table.rows for c in r.cells)


def test_pdf_page_text_mismatch_moves_offsets_or_drops_them_and_says_so(tmp_path: Path) -> None:
    path = _statement_pdf(tmp_path / "statement.pdf")
    page = load_document(path).pages[0].text
    # the loader's text differs before the table (as where it repairs a ligature): offsets move with it
    changed = "A note the loader wrote differently: fi.\n" + page.replace("Widget", "Widgets", 1)
    (table,) = pdf_tables(path, [changed])
    (same,) = pdf_tables(path, [page])
    cells = [c for r in table.rows for c in r.cells]
    assert cells and all(changed[c.char_start : c.char_end] == c.text for c in cells)
    assert all(
        c.char_start != o.char_start
        for c, o in zip(cells, [c for r in same.rows for c in r.cells], strict=True)
    )
    labels = [
        (r.label_start, r.label_end, o.label_start, o.label_end)
        for r, o in zip(table.rows, same.rows, strict=True)
    ]
    assert all(changed[a:b] == page[c:d] and a is not None for a, b, c, d in labels)
    assert not any("without offsets" in p for p in table.problems)
    # a text the table is not in: cells keep their grid position only, and the table says so
    (table,) = pdf_tables(path, ["some other text"])
    assert any("cells without offsets" in p for p in table.problems)
    assert all(c.char_start is None for r in table.rows for c in r.cells)


HTML = """<html><body><h2>Results</h2>
<table><caption>Condensed Statements of Operations (in millions)</caption>
<tr><th></th><th colspan="2">Three Months Ended March 31,</th></tr>
<tr><th></th><th>2025</th><th>2024</th></tr>
<tr><td>Revenue</td><td>$ 1,200</td><td>$ 1,000</td></tr>
<tr><td>Earnings per share:</td><td></td><td></td></tr>
<tr><td>Diluted</td><td>0.42</td><td>(0.10)</td></tr>
</table></body></html>"""


def test_html_table_from_structure_with_offsets_into_the_loader_text() -> None:
    page_text = load_html_text(HTML, "doc").pages[0].text
    (table,) = html_tables(HTML, page_text)
    assert table.title == "Condensed Statements of Operations (in millions)"
    assert table.scale == 1e6
    assert table.columns == ("Three Months Ended March 31, 2025", "Three Months Ended March 31, 2024")
    assert [r.metric for r in table.rows] == ["Revenue", "Earnings per share — Diluted"]
    for row in table.rows:
        for cell in row.cells:
            assert page_text[cell.char_start : cell.char_end] == cell.text
    assert table.rows[1].cells[1].text == "(0.10)"


def test_markdown_pipe_table_offsets() -> None:
    md = "# Q1 FY2025 results\n\n| Metric | Q1 FY2025 | Q1 FY2024 |\n|---|---:|---:|\n| Revenue ($M) | 98.5 | 80.1 |\n| Gross margin | 40.2% | 38.0% |\n"
    page_text = load_markdown_bytes(md.encode(), "doc").pages[0].text
    (table,) = markdown_tables(page_text)
    assert table.columns == ("Q1 FY2025", "Q1 FY2024")
    assert table.title == "Q1 FY2025 results"
    gross = _row(table, "Gross margin")
    assert [(c.text, page_text[c.char_start : c.char_end]) for c in gross.cells] == [
        ("40.2%", "40.2%"),
        ("38.0%", "38.0%"),
    ]


def test_docx_table_from_structure(tmp_path: Path) -> None:
    document = docx.Document()
    document.add_paragraph("Key figures (in millions)")
    grid = document.add_table(rows=3, cols=3)
    for r, values in enumerate(
        [("", "Fiscal 2025", "Fiscal 2024"), ("Revenue", "585.0", "470.2"), ("Customers", "461", "372")]
    ):
        for c, value in enumerate(values):
            grid.cell(r, c).text = value
    path = tmp_path / "figures.docx"
    document.save(str(path))
    page_text = load_document(path).pages[0].text
    (table,) = docx_tables(path, page_text)
    assert table.columns == ("Fiscal 2025", "Fiscal 2024")
    assert table.title == "Key figures (in millions)"
    revenue = _row(table, "Revenue")
    assert [page_text[c.char_start : c.char_end] for c in revenue.cells] == ["585.0", "470.2"]


@pytest.mark.shared_data
@pytest.mark.skipif(not RELEASES.is_dir(), reason="needs ../shared/data/earnings_releases")
def test_real_release_statement_headers() -> None:
    path = RELEASES / "BESTBUY_2023Q4_EARNINGS.pdf"
    pages = [p.text for p in load_document(path).pages]
    tables = pdf_tables(path, pages)
    income = _by_title(tables, "STATEMENTS OF EARNINGS")
    assert income.columns == (
        "Three Months Ended January 28, 2023",
        "Three Months Ended January 29, 2022",
        "Twelve Months Ended January 28, 2023",
        "Twelve Months Ended January 29, 2022",
    )
    assert [c.text for c in _row(income, "Revenue").cells] == ["$ 14,735", "$ 16,365", "$ 46,298", "$ 51,761"]
    # the per-share rows below a gap continue the statement and keep its headers
    shares = [
        t
        for t in tables
        if any(r.metric == "Weighted-average common shares outstanding — Diluted" for r in t.rows)
    ]
    assert shares and shares[0].columns == income.columns
    intel = RELEASES / "INTEL_2023Q1_EARNINGS.pdf"
    intel_tables = pdf_tables(intel, [p.text for p in load_document(intel).pages])
    statement = _by_title(intel_tables, "Statements of Income")
    assert statement.columns == ("Three Months Ended Apr 1, 2023", "Three Months Ended Apr 2, 2022")
