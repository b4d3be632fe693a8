"""Write the generated part of the Acme Robotics demo corpus.

Acme Robotics, Inc. is fictional; synthtune wrote every word of it. This script writes the three
quarterly earnings releases (PDF, with a real text layer and tables) and the product fact sheet (DOCX)
into ``examples/acme/docs/``. The transcripts (.md, .txt) and the investor-relations page (.html) in the
same folder are hand-written source files.

Every figure is derived here from a few base inputs with exact decimal arithmetic, so the releases agree
with each other (a quarter's "prior quarter" column is the previous release's "current" column) and the
totals add up. The output is byte-stable: fixed creation dates, fixed zip timestamps, no randomness.

Usage:
    python examples/make_acme_docs.py [--out DIR]
"""

from __future__ import annotations

import argparse
import io
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from fpdf import FPDF
from fpdf.fonts import FontFace

DEFAULT_OUT = Path(__file__).resolve().parent / "acme" / "docs"
COMPANY = "Acme Robotics, Inc."
CEO = "Maria Delgado"
CFO = "Kenji Watanabe"
D = Decimal
TENTH = D("0.1")
CENT = D("0.01")


# --------------------------------------------------------------------------------------------------
# Base inputs ($ in millions unless noted). Everything else is derived.
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Quarter:
    key: str  # "Q1 FY2025"
    ordinal: str  # "first"
    end: str  # "March 31, 2025"
    end_short: str  # "Mar 31"
    year: int
    fleet: Decimal
    software: Decimal
    parts: Decimal
    cost_of_revenue: Decimal
    rnd: Decimal
    snm: Decimal
    gna: Decimal
    other_income: Decimal  # interest and other income (expense), net
    tax: Decimal
    diluted_shares: Decimal  # millions
    dna: Decimal  # depreciation and amortization
    sbc: Decimal  # stock-based compensation
    ocf: Decimal  # operating cash flow
    capex: Decimal  # purchases of property and equipment (positive number)
    robots_shipped: int
    arr: Decimal  # software annual recurring revenue
    customers: int
    backlog: Decimal
    employees: int

    @property
    def revenue(self) -> Decimal:
        return self.fleet + self.software + self.parts

    @property
    def gross_profit(self) -> Decimal:
        return self.revenue - self.cost_of_revenue

    @property
    def opex(self) -> Decimal:
        return self.rnd + self.snm + self.gna

    @property
    def operating_income(self) -> Decimal:
        return self.gross_profit - self.opex

    @property
    def pretax(self) -> Decimal:
        return self.operating_income + self.other_income

    @property
    def net_income(self) -> Decimal:
        return self.pretax - self.tax

    @property
    def eps(self) -> Decimal:
        return (self.net_income / self.diluted_shares).quantize(CENT, ROUND_HALF_UP)

    @property
    def adjusted_ebitda(self) -> Decimal:
        return self.net_income + self.tax - self.other_income + self.dna + self.sbc

    @property
    def free_cash_flow(self) -> Decimal:
        return self.ocf - self.capex


def _q(key, ordinal, end, end_short, year, *money, shipped, customers, employees) -> Quarter:
    (fleet, software, parts, cor, rnd, snm, gna, other, tax, shares, dna, sbc, ocf, capex, arr, backlog) = (
        D(m) for m in money
    )
    return Quarter(
        key, ordinal, end, end_short, year, fleet, software, parts, cor, rnd, snm, gna, other, tax, shares,
        dna, sbc, ocf, capex, shipped, arr, customers, backlog, employees,
    )  # fmt: skip


# Positional money columns, in order: Fleet Systems, Software & Services, Parts revenue; cost of revenue;
# R&D, S&M, G&A; interest and other income (expense), net; income tax; diluted shares (millions);
# D&A; stock-based compensation; operating cash flow; capex; software ARR; backlog.
Q1_24 = _q("Q1 FY2024", "first", "March 31, 2024", "Mar 31", 2024,
           "74.1", "22.8", "11.1", "66.4", "21.9", "14.6", "8.6", "1.6", "0.2", "40.6", "4.1", "5.8", "4.2", "5.1", "92.4", "231.7",
           shipped=860, customers=341, employees=1080)  # fmt: skip
Q2_24 = _q("Q2 FY2024", "second", "June 30, 2024", "Jun 30", 2024,
           "79.0", "24.6", "11.6", "70.0", "22.5", "15.0", "8.8", "1.5", "1.2", "40.9", "4.3", "6.0", "7.8", "5.6", "99.1", "248.0",
           shipped=920, customers=356, employees=1110)  # fmt: skip
Q3_24 = _q("Q3 FY2024", "third", "September 30, 2024", "Sep 30", 2024,
           "83.3", "26.5", "12.1", "73.3", "23.1", "15.4", "9.0", "1.4", "1.3", "41.3", "4.4", "6.2", "9.9", "6.0", "107.6", "262.3",
           shipped=975, customers=372, employees=1150)  # fmt: skip
Q1_25 = _q("Q1 FY2025", "first", "March 31, 2025", "Mar 31", 2025,
           "88.4", "31.6", "12.3", "77.5", "24.6", "16.9", "10.2", "1.2", "0.9", "42.5", "4.8", "6.9", "12.4", "6.7", "128.5", "310.4",
           shipped=1050, customers=412, employees=1240)  # fmt: skip
Q2_25 = _q("Q2 FY2025", "second", "June 30, 2025", "Jun 30", 2025,
           "94.7", "34.9", "13.1", "82.9", "25.8", "17.6", "10.5", "1.1", "1.5", "42.8", "5.2", "7.1", "15.9", "9.2", "142.0", "356.8",
           shipped=1140, customers=437, employees=1310)  # fmt: skip
Q3_25 = _q("Q3 FY2025", "third", "September 30, 2025", "Sep 30", 2025,
           "99.8", "38.6", "13.8", "86.1", "27.4", "18.3", "11.0", "-0.4", "1.9", "43.1", "5.9", "7.3", "18.3", "29.8", "157.9", "372.5",
           shipped=1210, customers=461, employees=1385)  # fmt: skip


@dataclass(frozen=True)
class Q4FY2024:
    """The quarter before Q1 FY2025: only what the Q1 release quotes about it."""

    key: str = "Q4 FY2024"
    revenue: Decimal = D("127.6")
    fy_revenue: Decimal = D("472.7")  # Q1..Q4 FY2024
    robots_shipped: int = 1010
    installed_base: int = 13300
    arr: Decimal = D("118.0")
    customers: int = 393
    backlog: Decimal = D("288.9")
    employees: int = 1195
    adjusted_ebitda: Decimal = D("12.9")
    gross_margin: Decimal = D("40.6")


Q4_24 = Q4FY2024()
assert Q1_24.revenue + Q2_24.revenue + Q3_24.revenue + Q4_24.revenue == Q4_24.fy_revenue


def installed_base(q: Quarter) -> int:
    """Robots in service at quarter end, rolled from the December 31, 2024 base."""
    order = [Q1_24, Q2_24, Q3_24, None, Q1_25, Q2_25, Q3_25]
    shipped = [Q1_24.robots_shipped, Q2_24.robots_shipped, Q3_24.robots_shipped, Q4_24.robots_shipped]
    shipped += [Q1_25.robots_shipped, Q2_25.robots_shipped, Q3_25.robots_shipped]
    i = order.index(q)
    if i <= 3:
        return Q4_24.installed_base - sum(shipped[i + 1 : 4])
    return Q4_24.installed_base + sum(shipped[4 : i + 1])


@dataclass(frozen=True)
class BalanceSheet:
    date: str
    cash: Decimal
    receivables: Decimal
    inventories: Decimal
    other_current: Decimal
    ppe: Decimal
    other_assets: Decimal
    payables: Decimal
    accrued: Decimal
    deferred_revenue: Decimal
    debt: Decimal
    other_liabilities: Decimal
    accumulated_deficit: Decimal  # negative
    aoci: Decimal  # accumulated other comprehensive loss, negative

    @property
    def current_assets(self) -> Decimal:
        return self.cash + self.receivables + self.inventories + self.other_current

    @property
    def total_assets(self) -> Decimal:
        return self.current_assets + self.ppe + self.other_assets

    @property
    def current_liabilities(self) -> Decimal:
        return self.payables + self.accrued + self.deferred_revenue

    @property
    def total_liabilities(self) -> Decimal:
        return self.current_liabilities + self.debt + self.other_liabilities

    @property
    def equity(self) -> Decimal:
        return self.total_assets - self.total_liabilities

    @property
    def paid_in_capital(self) -> Decimal:
        return self.equity - self.accumulated_deficit - self.aoci


def _bs(date, *values) -> BalanceSheet:
    return BalanceSheet(date, *(D(v) for v in values))


# Positional columns, in order: cash, receivables, inventories, other current assets, PP&E, other assets;
# payables, accrued expenses, deferred revenue, long-term debt, other long-term liabilities;
# accumulated deficit, accumulated other comprehensive loss. Equity is total assets less total liabilities.
BS_DEC24 = _bs("December 31, 2024",
               "208.9", "71.2", "58.4", "12.6", "84.7", "23.5", "38.2", "29.5", "41.8", "60.0", "14.1", "-235.1", "-1.6")  # fmt: skip
BS_MAR25 = _bs("March 31, 2025",
               "214.6", "76.8", "61.9", "13.4", "88.2", "23.9", "40.7", "31.2", "46.3", "60.0", "14.6", "-231.7", "-1.2")  # fmt: skip
BS_JUN25 = _bs("June 30, 2025",
               "221.3", "80.5", "64.2", "14.1", "96.5", "24.4", "43.9", "32.8", "51.7", "60.0", "15.0", "-226.2", "-0.9")  # fmt: skip
BS_SEP25 = _bs("September 30, 2025",
               "209.8", "86.1", "69.7", "14.8", "121.3", "24.9", "47.2", "34.6", "55.4", "60.0", "15.3", "-219.1", "-1.8")  # fmt: skip

# Cross-checks: cash moves by free cash flow; the deficit moves by net income.
for _prev, _cur, _q_ in (
    (BS_DEC24, BS_MAR25, Q1_25),
    (BS_MAR25, BS_JUN25, Q2_25),
    (BS_JUN25, BS_SEP25, Q3_25),
):
    assert _cur.cash - _prev.cash == _q_.free_cash_flow, _q_.key
    assert _cur.accumulated_deficit - _prev.accumulated_deficit == _q_.net_income, _q_.key


# --------------------------------------------------------------------------------------------------
# Formatting
# --------------------------------------------------------------------------------------------------


def num(x: Decimal) -> str:
    """Table style: 1,234.5 and (3.5) for negatives."""
    s = f"{abs(x):,.1f}"
    return f"({s})" if x < 0 else s


def per_share(x: Decimal) -> str:
    s = f"{abs(x):.2f}"
    return f"$({s})" if x < 0 else f"${s}"


def pct_cell(x: Decimal) -> str:
    """Table style percentage: 41.4% and (3.2)% for negatives."""
    return f"({abs(x)})%" if x < 0 else f"{x}%"


def count(n: int) -> str:
    return f"{n:,}"


def pct(part: Decimal, whole: Decimal) -> Decimal:
    return (part / whole * 100).quantize(TENTH, ROUND_HALF_UP)


def growth(cur: Decimal, prev: Decimal) -> Decimal:
    return ((cur / prev - 1) * 100).quantize(TENTH, ROUND_HALF_UP)


def usd(x: Decimal) -> str:
    """Prose style: $132.3 million."""
    return f"${abs(x):,.1f} million"


def income_phrase(x: Decimal, what: str) -> str:
    """'operating income of $3.1 million' or 'an operating loss of $3.5 million'."""
    if x < 0:
        return f"{what} loss of {usd(x)}"
    return f"{what} income of {usd(x)}"


# --------------------------------------------------------------------------------------------------
# The release template
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Release:
    cur: Quarter
    prev: Quarter | Q4FY2024  # the quarter before
    year_ago: Quarter
    ytd: tuple[Quarter, ...] | None  # quarters of FY2025 to date, for a nine-month column
    ytd_year_ago: tuple[Quarter, ...] | None
    bs: BalanceSheet
    date: str
    created: datetime
    filename: str
    ceo_quote: str
    highlights: tuple[str, ...]
    outlook: str
    other_income_note: str


def _prev_margin(prev: Quarter | Q4FY2024) -> Decimal:
    return prev.gross_margin if isinstance(prev, Q4FY2024) else pct(prev.gross_profit, prev.revenue)


def _prev_installed(prev: Quarter | Q4FY2024) -> int:
    return prev.installed_base if isinstance(prev, Q4FY2024) else installed_base(prev)


class ReleasePDF(FPDF):
    def __init__(self, title: str, date: str) -> None:
        super().__init__(format="letter", unit="mm")
        self.doc_title = title
        self.doc_date = date
        self.set_margins(20, 18, 20)
        self.set_auto_page_break(True, margin=18)
        self.alias_nb_pages()

    def header(self) -> None:
        self.set_font("Helvetica", "B", 9)
        self.set_text_color(30, 60, 120)
        self.cell(0, 5, COMPANY, new_x="LMARGIN", new_y="NEXT")
        self.set_font("Helvetica", "", 8)
        self.set_text_color(90, 90, 90)
        self.cell(0, 4, f"{self.doc_title} - {self.doc_date}", new_x="LMARGIN", new_y="NEXT")
        self.set_draw_color(30, 60, 120)
        self.line(self.l_margin, self.get_y() + 1, self.w - self.r_margin, self.get_y() + 1)
        self.ln(5)
        self.set_text_color(0, 0, 0)

    def footer(self) -> None:
        self.set_y(-13)
        self.set_font("Helvetica", "", 8)
        self.set_text_color(90, 90, 90)
        self.cell(0, 5, f"Page {self.page_no()} of {{nb}}", align="C")

    # -- building blocks --------------------------------------------------------------------------

    def h1(self, text: str) -> None:
        self.set_font("Helvetica", "B", 15)
        self.multi_cell(0, 7, text, align="L", new_x="LMARGIN", new_y="NEXT")
        self.ln(2)

    def h2(self, text: str) -> None:
        self.ln(1.5)
        self.set_font("Helvetica", "B", 11)
        self.set_text_color(30, 60, 120)
        self.multi_cell(0, 6, text, align="L", new_x="LMARGIN", new_y="NEXT")
        self.set_text_color(0, 0, 0)
        self.ln(0.5)

    def para(self, text: str, size: float = 10, style: str = "") -> None:
        self.set_font("Helvetica", style, size)
        self.multi_cell(0, 4.8, text, new_x="LMARGIN", new_y="NEXT")
        self.ln(2)

    def bullets(self, items: tuple[str, ...] | list[str], size: float = 10) -> None:
        self.set_font("Helvetica", "", size)
        for item in items:
            x = self.get_x()
            self.cell(5, 4.8, "-")
            self.multi_cell(0, 4.8, item, new_x="LMARGIN", new_y="NEXT")
            self.set_x(x)
            self.ln(1)
        self.ln(1)

    def caption(self, text: str) -> None:
        self.set_font("Helvetica", "I", 8.5)
        self.multi_cell(0, 4.2, text, new_x="LMARGIN", new_y="NEXT")
        self.ln(1)

    def grid(self, rows: list[list[str]], widths: tuple[float, ...], bold_rows: tuple[int, ...] = ()) -> None:
        """A financial table: first column left, numbers right, headings bold."""
        self.set_font("Helvetica", "", 9)
        align = ("LEFT",) + ("RIGHT",) * (len(widths) - 1)
        with self.table(
            col_widths=widths,
            text_align=align,
            borders_layout="HORIZONTAL_LINES",
            line_height=4.6,
            padding=(0.8, 1.5),
            headings_style=FontFace(emphasis="BOLD", fill_color=(225, 232, 245)),
        ) as table:
            for i, values in enumerate(rows):
                style = FontFace(emphasis="BOLD") if i in bold_rows else None
                row = table.row(style=style)
                for v in values:
                    row.cell(v)
        self.ln(3)


def write_release(r: Release, path: Path) -> int:
    c, p, ya = r.cur, r.prev, r.year_ago
    title = f"{c.key} Earnings Release"
    pdf = ReleasePDF(title, r.date)
    pdf.set_creation_date(r.created)
    pdf.set_title(f"{COMPANY} Reports {c.ordinal.title()} Quarter Fiscal {c.year} Results")
    pdf.set_author(COMPANY)
    pdf.set_creator("synthtune examples/make_acme_docs.py")
    pdf.set_producer("fpdf2")

    gm, gm_ya = pct(c.gross_profit, c.revenue), pct(ya.gross_profit, ya.revenue)
    om = pct(c.operating_income, c.revenue)
    seq = growth(c.revenue, p.revenue)
    yoy = growth(c.revenue, ya.revenue)
    sw_yoy = growth(c.software, ya.software)
    ebitda_margin = pct(c.adjusted_ebitda, c.revenue)

    # ---- page 1: headline, highlights, CEO quote ------------------------------------------------
    pdf.add_page()
    pdf.h1(f"{COMPANY} Reports {c.ordinal.title()} Quarter Fiscal {c.year} Financial Results")
    pdf.para(
        f"Revenue of {usd(c.revenue)}, up {yoy}% year over year; gross margin of {gm}%; "
        f"{income_phrase(c.operating_income, 'operating')}",
        size=11,
        style="I",
    )
    pdf.para(
        f"AUSTIN, Texas, {r.date} - {COMPANY} (Nasdaq: ACMR), a maker of autonomous mobile robots and "
        f"fleet software for warehouses and distribution centers, today reported financial results for its "
        f"{c.ordinal} quarter of fiscal {c.year}, which ended {c.end}."
    )
    pdf.h2(f"{c.ordinal.title()} Quarter Fiscal {c.year} Highlights")
    pdf.bullets(
        [
            f"Total revenue was {usd(c.revenue)}, an increase of {yoy}% from {usd(ya.revenue)} in the "
            f"{ya.ordinal} quarter of fiscal {ya.year}, and up {seq}% sequentially from {usd(p.revenue)} "
            f"in the prior quarter.",
            f"Gross margin was {gm}%, compared with {gm_ya}% in the year-ago quarter and {_prev_margin(p)}% "
            f"in the prior quarter.",
            f"GAAP {income_phrase(c.operating_income, 'operating')} ({om}% of revenue), compared with "
            f"{'an ' if ya.operating_income < 0 else ''}{income_phrase(ya.operating_income, 'operating')} "
            f"a year ago.",
            f"GAAP {income_phrase(c.net_income, 'net')}, or {per_share(c.eps)} per diluted share, compared "
            f"with {'a ' if ya.net_income < 0 else ''}{income_phrase(ya.net_income, 'net')}, or "
            f"{per_share(ya.eps)} per diluted share, a year ago.",
            f"Software & Services revenue grew {sw_yoy}% year over year to {usd(c.software)}; software "
            f"annual recurring revenue (ARR) reached {usd(c.arr)}.",
            f"Adjusted EBITDA(2) was {usd(c.adjusted_ebitda)}, or {ebitda_margin}% of revenue.",
            f"Acme shipped {count(c.robots_shipped)} robots in the quarter, bringing the installed base to "
            f"{count(installed_base(c))} robots in service.",
            f"Cash and cash equivalents were {usd(r.bs.cash)} at {c.end}.",
        ]
    )
    pdf.h2("Comment from the Chief Executive Officer")
    pdf.para(r.ceo_quote)

    # ---- page 2: segments, business highlights, outlook -----------------------------------------
    pdf.add_page()
    pdf.h2("Segment Results")
    segs = (
        ("Fleet Systems", c.fleet, ya.fleet, "robot hardware sold outright: Strider, Hauler and Picker units"),
        ("Software & Services", c.software, ya.software, "Conductor subscriptions, Robots-as-a-Service "
         "fees and deployment services(1)"),
        ("Parts", c.parts, ya.parts, "spare parts, batteries and service kits"),
    )  # fmt: skip
    for name, cur_v, ya_v, what in segs:
        pdf.para(
            f"{name} revenue ({what}) was {usd(cur_v)}, up {growth(cur_v, ya_v)}% from {usd(ya_v)} a year "
            f"ago, and represented {pct(cur_v, c.revenue)}% of total revenue."
        )
    pdf.h2("Business Highlights")
    pdf.bullets(list(r.highlights))
    pdf.h2("Cash Flow and Balance Sheet")
    pdf.para(
        f"Cash provided by operating activities was {usd(c.ocf)} and purchases of property and equipment "
        f"were {usd(c.capex)}, resulting in free cash flow(3) of "
        f"{'negative ' if c.free_cash_flow < 0 else ''}{usd(c.free_cash_flow)}. Acme ended the quarter with "
        f"{usd(r.bs.cash)} in cash and cash equivalents and {usd(r.bs.debt)} of long-term debt. "
        f"Deferred revenue was {usd(r.bs.deferred_revenue)} and backlog(4) was {usd(c.backlog)}."
    )
    pdf.h2("Business Outlook")
    pdf.para(r.outlook)
    pdf.para(
        f"Acme ended the quarter with {count(c.employees)} full-time employees. Management will host a "
        f"conference call to discuss these results today, {r.date}, at 4:30 p.m. Eastern Time. A live "
        f"webcast and replay will be available at investors.acmerobotics.example."
    )

    # ---- page 3: statement of operations, key metrics -------------------------------------------
    pdf.add_page()
    pdf.h2("Condensed Consolidated Statements of Operations (unaudited)")
    pdf.caption("($ in millions, except per share data)")
    cols = [c, ya]
    head = [
        "",
        f"Three months ended {c.end_short}, {c.year}",
        f"Three months ended {ya.end_short}, {ya.year}",
    ]
    if r.ytd and r.ytd_year_ago:
        cols += [_sum_quarters(r.ytd), _sum_quarters(r.ytd_year_ago)]
        head += [f"Nine months ended {c.end_short}, {c.year}", f"Nine months ended {ya.end_short}, {ya.year}"]
    lines = [
        ("Revenue", "revenue"),
        ("Cost of revenue", "cost_of_revenue"),
        ("Gross profit", "gross_profit"),
        ("Research and development", "rnd"),
        ("Sales and marketing", "snm"),
        ("General and administrative", "gna"),
        ("Total operating expenses", "opex"),
        ("Operating income (loss)", "operating_income"),
        ("Interest and other income (expense), net", "other_income"),
        ("Income (loss) before income taxes", "pretax"),
        ("Provision for income taxes", "tax"),
        ("Net income (loss)", "net_income"),
    ]
    rows = [head] + [[label] + [num(getattr(q, attr)) for q in cols] for label, attr in lines]
    rows.append(["Net income (loss) per share, diluted"] + [per_share(q.eps) for q in cols])
    rows.append(["Weighted-average diluted shares (millions)"] + [num(q.diluted_shares) for q in cols])
    rows.append(["Gross margin"] + [pct_cell(pct(q.gross_profit, q.revenue)) for q in cols])
    rows.append(["Operating margin"] + [pct_cell(pct(q.operating_income, q.revenue)) for q in cols])
    widths = (46, 18, 18) if len(cols) == 2 else (40, 15, 15, 15, 15)
    pdf.grid(rows, widths, bold_rows=(3, 8, 12))
    pdf.caption(r.other_income_note)

    pdf.h2("Key Operating Metrics")
    metric_rows = [
        ["Metric", c.key, p.key, ya.key],
        ["Robots shipped (units)", count(c.robots_shipped), count(p.robots_shipped), count(ya.robots_shipped)],
        ["Installed base at quarter end (robots)", count(installed_base(c)), count(_prev_installed(p)),
         count(installed_base(ya))],
        ["Software ARR ($ in millions)", num(c.arr), num(p.arr), num(ya.arr)],
        ["Customers", count(c.customers), count(p.customers), count(ya.customers)],
        ["Backlog ($ in millions)", num(c.backlog), num(p.backlog), num(ya.backlog)],
        ["Full-time employees", count(c.employees), count(p.employees), count(ya.employees)],
        ["Adjusted EBITDA ($ in millions)", num(c.adjusted_ebitda), num(p.adjusted_ebitda),
         num(ya.adjusted_ebitda)],
    ]  # fmt: skip
    pdf.grid(metric_rows, (52, 16, 16, 16))

    # ---- page 4: balance sheet, segment table ---------------------------------------------------
    pdf.add_page()
    pdf.h2("Condensed Consolidated Balance Sheets (unaudited)")
    pdf.caption("($ in millions)")
    b, b0 = r.bs, BS_DEC24
    bs_lines = [
        ("Cash and cash equivalents", "cash"),
        ("Accounts receivable, net", "receivables"),
        ("Inventories", "inventories"),
        ("Prepaid expenses and other current assets", "other_current"),
        ("Total current assets", "current_assets"),
        ("Property and equipment, net", "ppe"),
        ("Operating lease and other assets", "other_assets"),
        ("Total assets", "total_assets"),
        ("Accounts payable", "payables"),
        ("Accrued expenses", "accrued"),
        ("Deferred revenue", "deferred_revenue"),
        ("Total current liabilities", "current_liabilities"),
        ("Long-term debt", "debt"),
        ("Other long-term liabilities", "other_liabilities"),
        ("Total liabilities", "total_liabilities"),
        ("Common stock and additional paid-in capital", "paid_in_capital"),
        ("Accumulated deficit", "accumulated_deficit"),
        ("Accumulated other comprehensive loss", "aoci"),
        ("Total stockholders' equity", "equity"),
    ]
    rows = [["", b.date, b0.date]]
    for label, attr in bs_lines:
        rows.append([label, num(getattr(b, attr)), num(getattr(b0, attr))])
    rows.append(["Total liabilities and stockholders' equity", num(b.total_liabilities + b.equity),
                 num(b0.total_liabilities + b0.equity)])  # fmt: skip
    bold = tuple(i + 1 for i, (label, _) in enumerate(bs_lines) if label.startswith("Total")) + (
        len(rows) - 1,
    )
    pdf.grid(rows, (60, 20, 20), bold_rows=bold)

    pdf.h2("Revenue by Segment (unaudited)")
    pdf.caption("($ in millions)")
    seg_rows = [["Segment", c.key, ya.key, "Change", "% of revenue"]]
    for name, cur_v, ya_v, _ in segs:
        seg_rows.append([name, num(cur_v), num(ya_v), f"{growth(cur_v, ya_v)}%", f"{pct(cur_v, c.revenue)}%"])
    seg_rows.append(["Total revenue", num(c.revenue), num(ya.revenue), f"{yoy}%", "100.0%"])
    pdf.grid(seg_rows, (40, 16, 16, 14, 16), bold_rows=(4,))

    # ---- page 5: non-GAAP reconciliations, notes, safe harbor -----------------------------------
    pdf.add_page()
    pdf.h2("Reconciliation of Net Income (Loss) to Adjusted EBITDA (unaudited)")
    pdf.caption("($ in millions)")
    rec = [["", c.key, ya.key]]
    rec.append(["Net income (loss)", num(c.net_income), num(ya.net_income)])
    rec.append(["Provision for income taxes", num(c.tax), num(ya.tax)])
    rec.append(["Interest and other (income) expense, net", num(-c.other_income), num(-ya.other_income)])
    rec.append(["Depreciation and amortization", num(c.dna), num(ya.dna)])
    rec.append(["Stock-based compensation", num(c.sbc), num(ya.sbc)])
    rec.append(["Adjusted EBITDA", num(c.adjusted_ebitda), num(ya.adjusted_ebitda)])
    rec.append(["Adjusted EBITDA margin", f"{ebitda_margin}%", f"{pct(ya.adjusted_ebitda, ya.revenue)}%"])
    pdf.grid(rec, (60, 20, 20), bold_rows=(6,))

    pdf.h2("Reconciliation of Operating Cash Flow to Free Cash Flow (unaudited)")
    pdf.caption("($ in millions)")
    fcf = [
        ["", c.key, ya.key],
        ["Net cash provided by operating activities", num(c.ocf), num(ya.ocf)],
        ["Purchases of property and equipment", num(-c.capex), num(-ya.capex)],
        ["Free cash flow", num(c.free_cash_flow), num(ya.free_cash_flow)],
    ]
    pdf.grid(fcf, (60, 20, 20), bold_rows=(3,))

    pdf.h2("Notes")
    pdf.caption(
        "(1) Software & Services revenue includes subscriptions to the Conductor fleet orchestration "
        "platform, Robots-as-a-Service (RaaS) fees, and deployment and support services. "
        "(2) Adjusted EBITDA is a non-GAAP measure: net income (loss) before income taxes, interest and "
        "other income (expense), depreciation and amortization, and stock-based compensation. "
        "(3) Free cash flow is a non-GAAP measure: net cash provided by operating activities less "
        "purchases of property and equipment. "
        "(4) Backlog is the value of signed, non-cancellable orders for robots and contracted software "
        "and services not yet recognized as revenue. "
        "Software ARR is the annualized value of Conductor subscriptions and RaaS contracts in effect at "
        "quarter end. Fiscal year 2025 runs from January 1, 2025 to December 31, 2025."
    )
    pdf.h2("Forward-Looking Statements")
    pdf.caption(
        "This press release contains forward-looking statements, including statements about Acme's "
        "financial outlook, product plans, manufacturing capacity and customer deployments. These "
        "statements are based on current expectations and are subject to risks and uncertainties, "
        "including component supply and pricing, tariffs, customer demand for warehouse automation, and "
        "the timing of large deployments. Actual results may differ materially. Acme undertakes no "
        "obligation to update these statements."
    )
    pdf.h2(f"About {COMPANY}")
    pdf.caption(
        f"{COMPANY} designs and builds autonomous mobile robots and the Conductor software that runs "
        "them, helping retailers, grocers and third-party logistics providers move goods through "
        "warehouses faster. Acme is headquartered in Austin, Texas. Note: Acme Robotics is a fictional "
        "company; this document was written by the synthtune project as demo data."
    )
    pdf.caption(
        "Investor contact: Daniel Okafor, Vice President, Investor Relations, ir@acmerobotics.example"
    )

    path.write_bytes(bytes(pdf.output()))
    return pdf.page_no()


def _sum_quarters(qs: tuple[Quarter, ...]) -> Quarter:
    """A period made of several quarters (for nine-month columns)."""
    first = qs[0]
    fields = {
        name: sum((getattr(q, name) for q in qs), D(0))
        for name in ("fleet", "software", "parts", "cost_of_revenue", "rnd", "snm", "gna", "other_income",
                     "tax", "dna", "sbc", "ocf", "capex", "arr", "backlog")
    }  # fmt: skip
    shares = (sum((q.diluted_shares for q in qs), D(0)) / len(qs)).quantize(TENTH, ROUND_HALF_UP)
    return Quarter(
        key="", ordinal="", end=first.end, end_short=first.end_short, year=first.year,
        diluted_shares=shares, robots_shipped=sum(q.robots_shipped for q in qs), customers=0,
        employees=0, **fields,
    )  # fmt: skip


# --------------------------------------------------------------------------------------------------
# The three releases
# --------------------------------------------------------------------------------------------------


def releases() -> list[Release]:
    q1_outlook = (
        f"For the second quarter of fiscal 2025, Acme expects revenue of $140 million to $146 million. "
        f"For the full fiscal year 2025, Acme expects revenue of $570 million to $590 million, growth of "
        f"21% to 25% over fiscal 2024 revenue of {usd(Q4_24.fy_revenue)}, and gross margin of 41% to 42%. "
        f'"We are planning for steady margin gains as volumes rise and component costs fall," said '
        f"{CFO}, Chief Financial Officer."
    )
    q2_outlook = (
        f"For the third quarter of fiscal 2025, Acme expects revenue of $150 million to $156 million. "
        f"Acme is raising its full fiscal year 2025 revenue outlook to $578 million to $592 million, from "
        f"$570 million to $590 million previously, and now expects full-year gross margin of 42% to 43%. "
        f'"The record order we signed this quarter gives us unusual visibility into 2026," said {CFO}, '
        f"Chief Financial Officer."
    )
    q3_outlook = (
        f"For the fourth quarter of fiscal 2025, Acme expects revenue of $158 million to $165 million and "
        f"gross margin of approximately 43%. Acme is narrowing its full fiscal year 2025 revenue outlook to "
        f"$585 million to $592 million, from $578 million to $592 million previously. Capital expenditures "
        f"for the full year are now expected to be approximately $70 million, most of it for the second "
        f'manufacturing facility. "We are investing in capacity from a position of profitability," said '
        f"{CFO}, Chief Financial Officer."
    )
    return [
        Release(
            cur=Q1_25, prev=Q4_24, year_ago=Q1_24, ytd=None, ytd_year_ago=None, bs=BS_MAR25,
            date="April 29, 2025", created=datetime(2025, 4, 29, 20, 5, tzinfo=UTC),
            filename="acme_q1_fy2025_earnings_release.pdf",
            ceo_quote=(
                f'"We started fiscal 2025 with the strongest first quarter in Acme\'s history," said {CEO}, '
                f"co-founder and Chief Executive Officer. \"Customers are moving from single-site pilots to "
                f"network-wide rollouts, and every robot we ship now runs on Conductor. That is why Software "
                f'& Services again grew faster than hardware, and why our gross margin keeps climbing."'
            ),
            highlights=(
                "Added 19 net new customers, ending the quarter with 412 customers in 14 countries.",
                "Released Conductor 4.2, which lets Strider and Hauler robots share aisles with "
                "forklifts under a single traffic plan.",
                "The Hauler H4 pallet robot completed its first full year in commercial service with "
                "98.7% fleet uptime across customer sites.",
                "Opened a customer experience center at the Round Rock, Texas manufacturing plant.",
            ),
            outlook=q1_outlook,
            other_income_note=(
                "Interest and other income, net, consists mainly of interest earned on cash and cash "
                "equivalents, net of interest on the $60.0 million term loan."
            ),
        ),
        Release(
            cur=Q2_25, prev=Q1_25, year_ago=Q2_24, ytd=None, ytd_year_ago=None, bs=BS_JUN25,
            date="July 29, 2025", created=datetime(2025, 7, 29, 20, 5, tzinfo=UTC),
            filename="acme_q2_fy2025_earnings_release.pdf",
            ceo_quote=(
                f'"This was a landmark quarter for Acme," said {CEO}, co-founder and Chief Executive '
                f'Officer. "We signed the largest order in our history, shipped Conductor 5.0, and broke '
                f"ground on the manufacturing capacity we will need in 2026 and beyond, all while expanding "
                f'gross margin for the fifth consecutive quarter."'
            ),
            highlights=(
                "Signed the largest order in company history: 1,200 Strider robots for a national "
                "grocery retailer, to be delivered from the fourth quarter of fiscal 2025 through 2026.",
                "Released Conductor 5.0, adding multi-site orchestration and a labor-planning module.",
                "Began site work on a second manufacturing facility in the western United States, "
                "expected to start production in the second half of 2026.",
                "Ended the quarter with 437 customers, up from 412 at the end of the first quarter.",
            ),
            outlook=q2_outlook,
            other_income_note=(
                "Interest and other income, net, consists mainly of interest earned on cash and cash "
                "equivalents, net of interest on the $60.0 million term loan."
            ),
        ),
        Release(
            cur=Q3_25, prev=Q2_25, year_ago=Q3_24, ytd=(Q1_25, Q2_25, Q3_25), ytd_year_ago=(Q1_24, Q2_24, Q3_24),
            bs=BS_SEP25, date="October 28, 2025", created=datetime(2025, 10, 28, 20, 5, tzinfo=UTC),
            filename="acme_q3_fy2025_earnings_release.pdf",
            ceo_quote=(
                f'"Our third quarter shows the operating leverage in the Acme model," said {CEO}, '
                f'co-founder and Chief Executive Officer. "Operating income grew to {usd(Q3_25.operating_income)} '
                f"from {usd(Q3_24.operating_income)} a year ago, we delivered the first robots under the "
                f"largest order in our history, and with Strider X2 on the way we will enter 2026 with the "
                f'strongest backlog we have ever had."'
            ),
            highlights=(
                "Delivered the first robots under the 1,200-robot grocery order signed in the second "
                "quarter.",
                "Unveiled Strider X2, the next generation of Acme's autonomous mobile robot, with twice "
                "the payload of Strider S2; general availability is expected in early 2026.",
                "Construction of the second manufacturing facility remains on schedule; capital "
                f"expenditures were {usd(Q3_25.capex)} in the quarter.",
                "Ended the quarter with 461 customers and a record backlog.",
            ),
            outlook=q3_outlook,
            other_income_note=(
                "Interest and other expense, net, of $0.4 million in the third quarter of fiscal 2025 "
                "includes a foreign exchange loss of $1.3 million on euro-denominated receivables."
            ),
        ),
    ]  # fmt: skip


# --------------------------------------------------------------------------------------------------
# The DOCX fact sheet
# --------------------------------------------------------------------------------------------------

FACT_SHEET = "acme_strider_s2_fact_sheet.docx"
FIXED_ZIP_TIME = (2025, 9, 15, 12, 0, 0)


def write_fact_sheet(path: Path) -> None:
    import docx  # python-docx, a project dependency
    from docx.shared import Pt

    doc = docx.Document()
    props = doc.core_properties
    props.title = "Strider S2 Product Fact Sheet"
    props.author = COMPANY
    props.last_modified_by = COMPANY
    props.created = datetime(2025, 9, 15, 12, 0, tzinfo=UTC)
    props.modified = datetime(2025, 9, 15, 12, 0, tzinfo=UTC)
    props.revision = 1
    props.comments = "Fictional demo data written by the synthtune project."

    doc.add_heading("Strider S2 Autonomous Mobile Robot", level=0)
    doc.add_paragraph(f"Product Fact Sheet - {COMPANY} - September 2025")
    doc.add_heading("Overview", level=1)
    doc.add_paragraph(
        "Strider S2 is Acme's best-selling autonomous mobile robot (AMR). It carries totes, cases and "
        "carts between picking zones, packing stations and docks, and works alongside people and "
        "forklifts without floor markings, magnetic tape or reflectors. Strider S2 has been in commercial "
        "service since March 2023 and accounts for most of the robots in Acme's installed base."
    )
    doc.add_heading("Key specifications", level=1)
    specs = [
        ("Payload", "300 kg (661 lb)"),
        ("Top speed", "2.0 m/s"),
        ("Battery runtime", "10 hours per charge"),
        ("Fast charging", "80% in 30 minutes"),
        ("Navigation", "360-degree lidar plus stereo vision, natural-feature mapping"),
        ("Footprint", "112 cm x 72 cm"),
        ("Robot weight", "145 kg"),
        ("Operating temperature", "0 to 40 degrees Celsius"),
        ("Safety", "Certified to ANSI/RIA R15.08-1"),
    ]
    table = doc.add_table(rows=1, cols=2)
    table.style = "Light Grid Accent 1"
    table.rows[0].cells[0].text = "Specification"
    table.rows[0].cells[1].text = "Strider S2"
    for name, value in specs:
        cells = table.add_row().cells
        cells[0].text, cells[1].text = name, value
    doc.add_heading("Software", level=1)
    doc.add_paragraph(
        "Every Strider S2 ships with Conductor, Acme's fleet orchestration platform, which assigns "
        "missions, plans traffic across mixed fleets and reports throughput per shift. A single Conductor "
        "site can coordinate up to 500 robots."
    )
    doc.add_heading("Pricing and warranty", level=1)
    for text in (
        "Purchase price starts at $38,500 per robot, plus a Conductor subscription.",
        "Robots-as-a-Service (RaaS): $1,150 per robot per month, including software, maintenance and "
        "battery replacement, on a 36-month term.",
        "Standard warranty: 3 years, parts and labor.",
        "Typical deployment time: 6 weeks from signed order to go-live.",
    ):
        doc.add_paragraph(text, style="List Bullet")
    note = doc.add_paragraph(
        "Acme Robotics, Inc. is a fictional company. This fact sheet was written by the synthtune project "
        "as demo data."
    )
    for run in note.runs:
        run.font.size = Pt(8)

    buffer = io.BytesIO()
    doc.save(buffer)
    _rezip_with_fixed_times(buffer.getvalue(), path)


def _rezip_with_fixed_times(data: bytes, path: Path) -> None:
    """python-docx stamps zip entries with the current time; rewrite them with a fixed one."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=FIXED_ZIP_TIME)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            dst.writestr(fixed, src.read(info.filename))
    path.write_bytes(out.getvalue())


# --------------------------------------------------------------------------------------------------


EXPECTED_PAGES = 5


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder to write the documents into")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for r in releases():
        n = write_release(r, args.out / r.filename)
        if n != EXPECTED_PAGES:  # gold.jsonl cites pages: a layout change must not move them silently
            raise SystemExit(f"{r.filename}: {n} pages, expected {EXPECTED_PAGES}; shorten the text")
        print(f"wrote {args.out / r.filename} ({n} pages)")
    write_fact_sheet(args.out / FACT_SHEET)
    print(f"wrote {args.out / FACT_SHEET}")


if __name__ == "__main__":
    main()
