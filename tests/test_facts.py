"""Facts with their meaning attached: document identity, table facts, prose facts, periods."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from synthtune.ingest.loaders import load_document
from synthtune.ingest.tables import Cell, Row, Table, pdf_tables
from synthtune.synth.facts import Fact, clean_metric, prose_facts, table_facts
from synthtune.text.identity import DocIdentity, document_identity, short_name
from synthtune.text.periods import Period, parse_period

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "examples" / "acme" / "docs"
RELEASES = REPO.parent / "shared" / "data" / "earnings_releases"

Q3 = Period("Q3 FY2025", 3, date(2025, 9, 30), 2025, 3, fiscal=True)
ACME = DocIdentity("Acme Robotics, Inc.", Q3, "earnings release", "ACMR")


def _facts(name: str) -> tuple[DocIdentity, list[Fact]]:
    path = DEMO / name
    doc = load_document(path)
    identity = document_identity(doc.title, doc.pages[0].text, path.name)
    pages = [p.text for p in doc.pages]
    facts = [f for i, t in enumerate(pdf_tables(path, pages)) for f in table_facts(t, identity, i)]
    facts += [f for p in doc.pages for f in prose_facts(p.text, identity, p.page_no)]
    return identity, facts


@pytest.fixture(scope="module")
def q3_release() -> tuple[DocIdentity, list[Fact]]:
    return _facts("acme_q3_fy2025_earnings_release.pdf")


def _find(facts: list[Fact], value: str, **where) -> list[Fact]:
    return [
        f
        for f in facts
        if f.value == Decimal(value)
        and all(getattr(f, k) == v for k, v in where.items() if k != "period")
        and ("period" not in where or (f.period is not None and f.period.label == where["period"]))
    ]


# ------------------------------------------------------------------------------------------ identity


def test_demo_release_identity(q3_release) -> None:
    identity, _ = q3_release
    assert identity.subject == "Acme Robotics, Inc."
    assert identity.name == "Acme Robotics"
    assert identity.ticker == "ACMR"
    assert identity.form == "earnings release"
    assert identity.period is not None
    assert (identity.period.quarter, identity.period.fiscal_year, identity.period.end) == (
        3,
        2025,
        date(2025, 9, 30),
    )
    assert identity.period.names()[:2] == ["the third quarter of fiscal 2025", "Q3 FY2025"]


def test_identity_of_a_transcript_in_capitals() -> None:
    text = (DEMO / "acme_q3_fy2025_earnings_call.txt").read_text()
    identity = document_identity("acme_q3_fy2025_earnings_call", text, "acme_q3_fy2025_earnings_call.txt")
    assert identity.name == "Acme Robotics"
    assert identity.form == "earnings call transcript"
    assert identity.period is not None and identity.period.label == "Q3 FY2025"


def test_identity_of_a_web_page_keeps_the_name_to_its_line() -> None:
    doc = load_document(DEMO / "acme_investor_relations_about.html")
    identity = document_identity(doc.title, doc.pages[0].text, "acme_investor_relations_about.html")
    assert identity.subject == "Acme Robotics, Inc."  # not "About Acme Robotics Acme Robotics, Inc."
    assert document_identity("About", "About Widget Corp. and its products", "").subject == "Widget Corp."


def test_identity_not_found_says_why_instead_of_guessing() -> None:
    identity = document_identity("Notes", "Meeting notes about the office move.", "notes.txt")
    assert identity.subject is None and identity.period is None and identity.form is None
    assert any(r.startswith("subject: not found") for r in identity.reasons)
    assert any(r.startswith("period: no quarter") for r in identity.reasons)
    from_file = document_identity(
        "Update", "Widget Corp. (NYSE: WDGT) reported today.", "WIDGET_2024Q2_EARNINGS.pdf"
    )
    assert from_file.period is not None and from_file.period.label == "Q2 2024"
    assert any("from the file name" in r for r in from_file.reasons)  # said, not silent


def test_short_names() -> None:
    assert short_name("Best Buy Co., Inc.") == "Best Buy"
    assert short_name("Costco Wholesale Corporation") == "Costco Wholesale"
    assert short_name("ACME ROBOTICS, INC.") == "Acme Robotics"


# ----------------------------------------------------------------------------- periods from headers


def test_column_headers_are_tied_to_the_fiscal_calendar() -> None:
    assert parse_period("Three months ended Sep 30, 2025", Q3).label == "Q3 FY2025"
    assert parse_period("Three months ended Sep 30, 2024", Q3).label == "Q3 FY2024"
    nine = parse_period("Nine months ended Sep 30, 2025", Q3)
    assert nine.months == 9 and nine.names() == ["the nine months ended September 30, 2025"]
    assert parse_period("September 30, 2025", Q3).instant
    assert parse_period("Fiscal 2024", Q3).label == "FY2024"
    assert parse_period("Q4 FY23").label == "Q4 FY2023"
    assert parse_period("12 Weeks Ended 6/17/2023").names() == ["the 12 weeks ended June 17, 2023"]
    assert parse_period("Change", Q3) is None and parse_period("% of revenue", Q3) is None
    # an annual report's column: a year up to the date, not a balance at it
    for header in (
        "Years Ended September 30, 2019",
        "Year ended Dec 31, 2019",
        "Fiscal Year Ended 9/30/2019",
    ):
        year = parse_period(header)
        assert (year.months, year.instant) == (12, False), header
    assert parse_period("Years Ended September 30, 2019").names() == [
        "the twelve months ended September 30, 2019"
    ]
    fy = replace(Q3, quarter=4, months=12, end=date(2025, 12, 31))
    assert parse_period("Year Ended December 31, 2025", fy).fiscal_year == 2025
    assert Q3.prior_year().label == "Q3 FY2024" and Q3.prior_quarter().label == "Q2 FY2025"
    assert Q3.prior_year().end == date(2024, 9, 30) and Q3.prior_quarter().end == date(2025, 6, 30)
    # a 52/53-week calendar: the year-ago quarter ended on another day, so no date is made up for it
    costco = replace(Q3, fiscal_year=2023, end=date(2023, 5, 7), weeks=12, months=None)
    assert costco.prior_year().label == "Q3 FY2022" and costco.prior_year().end is None
    assert "May 7, 2022" not in " ".join(costco.prior_year().names())
    assert costco.prior_quarter().end is None
    assert replace(costco, quarter=None, fiscal_year=None, instant=True).prior_year() is None


# ------------------------------------------------------------------- the wrong accepted examples


def test_nine_month_operating_margin_is_not_the_gross_margin(q3_release) -> None:
    """Issue 10: "What is the gross margin?" -> "4.3%" was accepted; 4.3% is the nine-month operating margin."""
    _, facts = q3_release
    four_three = _find(facts, "4.3", unit="%")
    assert [(f.metric, f.period.text) for f in four_three] == [
        ("Operating margin", "Nine months ended Sep 30, 2025")
    ]
    gross_q3 = [f for f in facts if f.metric == "Gross margin" and f.period and f.period.label == "Q3 FY2025"]
    assert gross_q3 and {f.value for f in gross_q3} == {Decimal("43.4")}
    assert {f.source for f in gross_q3} == {"table", "prose"}


def test_net_income_ebitda_margin_and_diluted_eps_are_told_apart(q3_release) -> None:
    """Issue 10: "$7.1 million, or 14.8% of revenue" was given as diluted EPS; it is net income and an EBITDA
    margin, and diluted EPS is $0.16."""
    _, facts = q3_release
    seven = [f for f in _find(facts, "7.1", period="Q3 FY2025") if f.unit == "USD"]
    assert {f.metric for f in seven} == {"Net income (loss)", "GAAP net income"}
    assert all(f.scale == Decimal(10) ** 6 for f in seven)
    margin = _find(facts, "14.8", unit="%", period="Q3 FY2025")
    assert {f.metric for f in margin} == {"Adjusted EBITDA margin"}
    eps = _find(facts, "0.16", period="Q3 FY2025")
    assert {f.metric for f in eps} == {
        "Net income (loss) per share, diluted",
        "GAAP diluted earnings per share",
    }
    assert {f.unit for f in eps} == {"per share USD"}
    assert not [
        f for f in facts if "per share" in f.metric.lower() and f.value in (Decimal("7.1"), Decimal("14.8"))
    ]


# ---------------------------------------------------------------------------------------- table facts


def test_table_fact_places_and_units(q3_release) -> None:
    _, facts = q3_release
    page3 = load_document(DEMO / "acme_q3_fy2025_earnings_release.pdf").pages[2].text
    for fact in (f for f in facts if f.source == "table" and f.page_no == 3):
        assert page3[fact.char_start : fact.char_end] == fact.raw
    loss = _find(facts, "-3.5", period=None) or [f for f in facts if f.raw == "(3.5)"]
    assert loss[0].metric == "Operating income (loss)" and loss[0].unit == "USD"
    shares = [f for f in facts if f.metric == "Weighted-average diluted shares"]
    assert {(f.unit, f.scale) for f in shares} == {("shares", Decimal(10) ** 6)}
    robots = [f for f in facts if f.metric == "Robots shipped" and f.source == "table"]
    assert {(f.unit, f.scale) for f in robots} == {("robots", Decimal(1))}
    assert {f.period.label for f in robots} == {"Q3 FY2025", "Q2 FY2025", "Q3 FY2024"}
    arr = [f for f in facts if f.metric == "Software ARR" and f.period.label == "Q3 FY2025"]
    assert [(f.value, f.unit, f.scale) for f in arr] == [(Decimal("157.9"), "USD", Decimal(10) ** 6)]
    cash = [f for f in facts if f.metric == "Cash and cash equivalents" and f.source == "table"]
    assert {f.period.label for f in cash} == {"September 30, 2025", "December 31, 2024"}
    segment = [f for f in facts if f.metric == "Fleet Systems revenue" and f.source == "table"]
    assert {f.period.label for f in segment} == {"Q3 FY2025", "Q3 FY2024"}


def test_table_facts_on_a_table_built_in_code() -> None:
    table = Table(
        page_no=2,
        source="html",
        columns=("Fiscal 2025", ""),
        rows=(
            Row("Revenue", (Cell("$ 1,200", 0, 10, 17), Cell("1,000", 1, None, None))),
            Row("Diluted", (Cell("(0.10)", 0, None, None),), parent="Earnings per share:", indented=True),
            Row("Gross margin", (Cell("41.9", 0, None, None),)),
        ),
        scale_note="(in millions)",
    )
    facts = table_facts(table, ACME, table_index=4)
    revenue = facts[0]
    assert (revenue.metric, revenue.period.label, revenue.value, revenue.unit, revenue.scale) == (
        "Revenue", "FY2025", Decimal(1200), "USD", Decimal(10) ** 6,
    )  # fmt: skip
    assert revenue.table_cell == (4, 0, 0) and (revenue.char_start, revenue.char_end) == (10, 17)
    assert facts[1].problems == ("no column header: period unknown",) and facts[1].period is None
    eps = facts[2]
    assert (eps.metric, eps.value, eps.unit, eps.scale) == (
        "Earnings per share — Diluted",
        Decimal("-0.10"),
        "per share USD",
        1,
    )
    assert (
        facts[3].unit == "" and "ambiguous unit" in facts[3].problems[0]
    )  # margin without %, in a money table


def test_metric_labels_are_cleaned() -> None:
    assert clean_metric("Backlog ($ in millions)") == "Backlog"
    assert clean_metric("Robots shipped (units)") == "Robots shipped"
    assert clean_metric("Enterprise comparable sales % change1") == "Enterprise comparable sales % change"
    assert clean_metric("Net income (loss)") == "Net income (loss)"


# ----------------------------------------------------------------------------------------- prose facts


def test_prose_clauses_give_metric_and_period() -> None:
    text = (
        "Total revenue was $152.2 million, an increase of 24.9% from $121.9 million in the third quarter of "
        "fiscal 2024, and up 6.7% sequentially from $142.7 million in the prior quarter.\n"
        "Gross margin was 43.4%, compared with 39.9% in the year-ago quarter and 41.9% in the prior quarter.\n"
        "GAAP net income of $7.1 million, or $0.16 per diluted share, compared with net income of $1.2 million, "
        "or $0.03 per diluted share, a year ago.\n"
        "Adjusted EBITDA(2) was $22.6 million, or 14.8% of revenue.\n"
        "Cash and cash equivalents were $209.8 million at September 30, 2025.\n"
        "For the fourth quarter, Acme expects revenue of $158 million to $165 million.\n"
        "The team grew by 12 people and 3 new sites opened."
    )
    got = {
        (f.metric, f.period.label if f.period else None, str(f.value), f.unit)
        for f in prose_facts(text, ACME)
    }
    assert got == {
        ("Total revenue", "Q3 FY2025", "152.2", "USD"),
        ("Total revenue", "Q3 FY2024", "121.9", "USD"),
        ("Total revenue growth (sequential)", "Q3 FY2025", "6.7", "%"),
        ("Total revenue", "Q2 FY2025", "142.7", "USD"),
        ("Gross margin", "Q3 FY2025", "43.4", "%"),
        ("Gross margin", "Q3 FY2024", "39.9", "%"),
        ("Gross margin", "Q2 FY2025", "41.9", "%"),
        ("GAAP net income", "Q3 FY2025", "7.1", "USD"),
        ("GAAP diluted earnings per share", "Q3 FY2025", "0.16", "per share USD"),
        ("Net income", "Q3 FY2024", "1.2", "USD"),
        ("Diluted earnings per share", "Q3 FY2024", "0.03", "per share USD"),
        ("Adjusted EBITDA", "Q3 FY2025", "22.6", "USD"),
        ("Adjusted EBITDA margin", "Q3 FY2025", "14.8", "%"),
        ("Cash and cash equivalents", "September 30, 2025", "209.8", "USD"),
    }  # the 24.9% (growth against a stated figure) is not claimed; outlook and unclear numbers are skipped


def test_prose_fact_spans_point_at_the_number() -> None:
    text = "Highlights\n- Gross margin was 43.4%, up from 39.9% a year ago."
    (first, second) = prose_facts(text, ACME, page_no=7)
    assert text[first.char_start : first.char_end] == "43.4%" and first.page_no == 7
    assert second.period.label == "Q3 FY2024"


def test_prose_without_document_period_is_skipped_not_guessed() -> None:
    identity = DocIdentity("Acme Robotics, Inc.", None, None)
    assert [f.period for f in prose_facts("Gross margin was 43.4%.", identity)] == [None]
    assert prose_facts("Gross margin was 43.4%, compared with 39.9% a year ago.", identity)[1:] == []


@pytest.mark.shared_data
@pytest.mark.skipif(not RELEASES.is_dir(), reason="needs ../shared/data/earnings_releases")
def test_real_releases_identity_and_facts() -> None:
    path = RELEASES / "BESTBUY_2023Q4_EARNINGS.pdf"
    doc = load_document(path)
    identity = document_identity(doc.title, doc.pages[0].text, path.name)
    assert (identity.name, identity.ticker, identity.period.label) == ("Best Buy", "BBY", "Q4 FY2023")
    facts = [
        f
        for i, t in enumerate(pdf_tables(path, [p.text for p in doc.pages]))
        for f in table_facts(t, identity, i)
    ]
    revenue = [f for f in facts if f.metric == "Revenue" and f.page_no == 6]
    assert {(f.period.label, f.value) for f in revenue} == {
        ("Q4 FY2023", Decimal(14735)),
        ("Q4 FY2022", Decimal(16365)),
        ("FY2023", Decimal(46298)),  # twelve months ended January 28, 2023: the fiscal year of the release
        ("FY2022", Decimal(51761)),
    }
    assert {(f.unit, f.scale) for f in revenue} == {("USD", Decimal(10) ** 6)}
    prose = [f for p in doc.pages for f in prose_facts(p.text, identity, p.page_no)]
    assert ("Dividends", "FY2023", Decimal(789)) in {(f.metric, f.period.label, f.value) for f in prose}
    assert not [f for f in prose if f.metric == "Capital expenditures"]  # $850 million is FY24 guidance
    intel = RELEASES / "INTEL_2023Q1_EARNINGS.pdf"
    doc = load_document(intel)
    identity = document_identity(doc.title, doc.pages[0].text, intel.name)
    revenue = [f for f in prose_facts(doc.pages[0].text, identity, 1) if f.metric.startswith("Revenue")]
    assert [(f.metric, f.value, f.unit) for f in revenue] == [
        ("Revenue", Decimal("11.7"), "USD"),
        ("Revenue growth (year over year)", Decimal(-36), "%"),  # "down 36%"
    ]


def _labels(text: str, identity: DocIdentity = ACME) -> set[tuple[str, str | None, str]]:
    return {
        (f.metric, f.period.label if f.period else None, str(f.value)) for f in prose_facts(text, identity)
    }


def test_prose_periods_from_the_words_around_the_figure() -> None:
    # "compared\nto" across a wrapped line; a growth rate followed by "to $X" is not a range
    assert _labels(
        "Operating income increased 1.0% to $442.1 million, or 16.8% of revenue, compared\n"
        "to $437.7 million, or 18.7% of revenue, in the third quarter of fiscal 2024."
    ) == {
        ("Operating income", "Q3 FY2025", "442.1"),
        ("Operating margin", "Q3 FY2025", "16.8"),
        ("Operating income", "Q3 FY2024", "437.7"),
        ("Operating margin", "Q3 FY2024", "18.7"),
    }
    assert _labels("Last year’s third quarter net income was $1.35 billion.") == {
        ("Net income", "Q3 FY2024", "1.35")
    }
    assert _labels("Recorded GAAP earnings were $0.46 per diluted share for the first half of 2025.") == {
        ("GAAP earnings per diluted share", "the first six months of fiscal 2025", "0.46")
    }
    ytd = (
        "For the First Nine Months of Fiscal 2025\nNet income increased to $16.0 million compared to a loss."
    )
    assert _labels(ytd) == {("Net income", "the first nine months of fiscal 2025", "16")}


def test_prose_skips_what_it_cannot_tie_to_a_metric_and_period() -> None:
    assert _labels("Interest expense of $370 million to $430 million after tax.") == set()  # a range
    assert _labels("GAAP and non-GAAP operating margin of 6.2% and 9.0%, respectively.") == set()
    guidance = "Guidance for fiscal 2026 is as follows:\n- Revenue of approximately $700 million\n- Capital expenditures of $80 million"
    assert _labels(guidance) == set()
    assert _labels("Results for 2022 included pre-tax expenses of $127 million, or $0.13 per share.") == set()
    assert _labels("Pre-tax expenses of $127 million, or $0.13 per share.") == {
        ("Pre-tax expenses", "Q3 FY2025", "127"),
        ("Pre-tax expenses per share", "Q3 FY2025", "0.13"),
    }


def test_a_metric_that_does_not_say_of_what_becomes_no_question() -> None:
    from synthtune.synth.facts import metric_problem

    assert metric_problem("Margin") and metric_problem("Net expense")  # the two wrong labelled rows
    assert metric_problem("Gross margin") is None and metric_problem("Net income") is None
    identity = document_identity(
        "Acme Robotics, Inc. Q2 FY2025 call", "Acme Robotics, Inc. second quarter fiscal 2025"
    )
    facts = prose_facts("Adjusted EBITDA was $18.2 million, a margin of 12.8%.", identity, 1)
    assert all(f.problems for f in facts if f.metric.lower() == "margin")


def test_an_html_row_without_its_own_label_becomes_no_question() -> None:
    from synthtune.ingest.loaders import load_html_text
    from synthtune.ingest.tables import html_tables

    html = b"""<html><body><h2>Balance sheet (in thousands)</h2><table>
<tr><th></th><th>December 29, 2019</th><th>December 30, 2018</th></tr>
<tr><td>Inventories</td><td>$600</td><td>$900</td></tr>
<tr><td>Accrued liabilities</td><td></td><td></td></tr>
<tr><td></td><td>$1,133</td><td>$1,903</td></tr>
</table></body></html>"""
    text = load_html_text(html, "doc").pages[0].text
    identity = document_identity("Widget Corp. annual report", "Widget Corp. fiscal 2019")
    facts = [f for t in html_tables(html, text) for f in table_facts(t, identity)]
    unlabelled = [f for f in facts if f.raw in ("$1,133", "$1,903")]
    assert len(unlabelled) == 2 and all(any("no label" in p for p in f.problems) for f in unlabelled)
    assert all(not f.problems for f in facts if f.raw in ("$600", "$900"))


def test_a_clause_word_is_not_part_of_the_metric() -> None:
    identity = document_identity(
        "Acme Robotics, Inc. Q3 FY2025 call", "Acme Robotics, Inc. third quarter fiscal 2025"
    )
    text = "Capital expenditures were $29.8 million, so free cash flow was negative $11.5 million."
    assert [f.metric for f in prose_facts(text, identity, 1)] == ["Capital expenditures", "Free cash flow"]


# ------------------------------------------------------------------------------------------- outlook

Q2 = Period("Q2 FY2025", 3, date(2025, 6, 30), 2025, 2, fiscal=True)
ACME_Q2 = DocIdentity("Acme Robotics, Inc.", Q2, "earnings release", "ACMR")


def _outlook(text: str, identity: DocIdentity = ACME_Q2) -> list[tuple]:
    from synthtune.synth.facts import outlook_facts

    out = []
    for f in outlook_facts(text, identity):
        assert text[f.char_start : f.char_end] == f.raw
        out.append((f.metric, f.period.label, f.value, f.high, f.unit))
    return out


def test_guidance_ranges_are_facts_of_the_period_guided_for() -> None:
    """An outlook keeps both ends of its range and the period it is for (a quarter without a year is the
    coming one); the outlook it replaces ("from ... previously") is not a fact of this report."""
    text = (
        "Business Outlook\nFor the third quarter of fiscal 2025, Acme expects revenue of $150 million to "
        "$156 million. Acme is raising its full fiscal year 2025 revenue outlook to $578 million to $592 "
        "million, from $570 million to $590 million previously, and now expects full-year gross margin of "
        "42% to 43%.\n"
    )
    assert _outlook(text) == [
        ("Revenue", "Q3 FY2025", Decimal("150"), Decimal("156"), "USD"),
        ("Revenue", "FY2025", Decimal("578"), Decimal("592"), "USD"),
        ("Gross margin", "FY2025", Decimal("42"), Decimal("43"), "%"),
    ]
    call = "For the fourth quarter, we expect revenue of $158 million to $165 million and gross margin of approximately 43%."
    q3 = DocIdentity("Acme Robotics, Inc.", Q3, "earnings call", "ACMR")
    assert _outlook(call, q3) == [
        ("Revenue", "Q4 FY2025", Decimal("158"), Decimal("165"), "USD"),
        ("Gross margin", "Q4 FY2025", Decimal("43"), None, "%"),
    ]
    capex = "Capital expenditures for the full year are now expected to be approximately $70 million."
    assert _outlook(capex, q3) == [("Capital expenditures", "FY2025", Decimal("70"), None, "USD")]
    # "for the first quarter" in a fourth-quarter report is next year's
    q4 = DocIdentity("Acme Robotics, Inc.", Period("Q4 FY2025", 3, None, 2025, 4, True), None)
    assert _outlook("For the first quarter, Acme expects revenue of $160 million to $170 million.", q4) == [
        ("Revenue", "Q1 FY2026", Decimal("160"), Decimal("170"), "USD")
    ]


def test_guidance_as_real_releases_write_it() -> None:
    """Headline bullets, a billions range with one scale word, per-share ranges, "~" estimates; the prior
    guidance a bullet compares against is not taken."""
    fy24 = DocIdentity("Salesforce, Inc.", Period("Q1 FY2024", 3, None, 2024, 1, True), None)
    text = (
        "• Initiates Second Quarter FY24 Revenue Guidance of $8.51 Billion to $8.53 Billion, up ~10% Y/Y\n"
        "• Raises Full Year FY24 GAAP Operating Margin Guidance to ~11.4%\n"
    )
    assert _outlook(text, fy24) == [
        ("Revenue", "Q2 FY2024", Decimal("8.51"), Decimal("8.53"), "USD"),
        ("GAAP Operating Margin", "FY2024", Decimal("11.4"), None, "%"),
    ]
    pfizer = DocIdentity("Pfizer Inc.", Period("Q2 2023", 3, None, 2023, 2, False), None)
    assert _outlook(
        "The company narrowed its 2023 revenue guidance range to $67 to $70 billion.", pfizer
    ) == [("Revenue", "2023", Decimal("67"), Decimal("70"), "USD")]
    bby = DocIdentity("Best Buy Co., Inc.", Period("Q2 FY2024", 3, None, 2024, 2, True), None)
    text = (
        "FY24 Financial Guidance\n• Revenue of $43.8 billion to $44.5 billion, which compares to prior "
        "guidance of $43.8 billion to $45.2 billion\n• Enterprise non-GAAP operating income rate2 of 3.9% to "
        "4.1%, which compares to prior guidance of 3.7% to 4.1%\nExpects FY24 Non-GAAP Diluted EPS of $6.00 to "
        "$6.40.\n"
    )
    assert _outlook(text, bby) == [
        ("Revenue", "FY2024", Decimal("43.8"), Decimal("44.5"), "USD"),
        ("Enterprise non-GAAP operating income rate", "FY2024", Decimal("3.9"), Decimal("4.1"), "%"),
        ("Non-GAAP Diluted EPS", "FY2024", Decimal("6.00"), Decimal("6.40"), "per share USD"),
    ]


def test_what_is_not_guidance_is_not_taken() -> None:
    """A single figure not said as an estimate, a past period, a figure that names no measure, an
    outlook without a period: no fact."""
    for text in (
        "For the third quarter, Acme expects revenue of $150 million.",  # neither a range nor an estimate
        "For the first quarter of fiscal 2025, Acme expects revenue of $140 million to $146 million.",  # past
        "We expect to end the year at roughly 1,400 employees.",
        "Acme expects revenue of $150 million to $156 million.",  # for when?
        "Reno will add capacity for about 6,000 robots a year.",
    ):
        assert _outlook(text) == [], text


def test_operating_expense_lines_are_named_as_expenses(q3_release) -> None:
    """ "Research and development" on a statement of operations is the expense, and becomes a question."""
    _, facts = q3_release
    (rd,) = _find(facts, "27.4", source="table", period="Q3 FY2025")
    assert rd.metric == "Research and development expenses" and rd.problems == ()
    (sm,) = _find(facts, "18.3", source="table", period="Q3 FY2025", metric="Sales and marketing expenses")
    assert sm.problems == ()


# ------------------------------------------------------------------------- call-transcript prose

Q4 = Period("Q4 2020", 3, None, 2020, 4)
WIDGET_Q4 = DocIdentity("Widget Corp.", Q4, "earnings call transcript", "WDGT")


def _said(text: str, identity: DocIdentity = ACME) -> set[tuple[str, str | None, str, str]]:
    return {
        (f.metric, f.period.label if f.period else None, str(f.value), f.unit)
        for f in prose_facts(text, identity)
        if not f.problems
    }


def test_transcript_statements_become_facts() -> None:
    text = (
        "Revenue was $152.2 million, up 24.9% from a year ago and up 6.7% from the second quarter.\n"
        "Operating expenses were $56.7 million: research and development of $27.4 million and general and "
        "administrative of $11.0 million.\n"
        "We ended the quarter with 461 customers, up from 437 at the end of June.\n"
        "Acme ended the quarter with 1,310 full-time employees.\n"
        "On a non-GAAP basis, diluted earnings per share were $0.19.\n"
        "The board approved a quarterly dividend of $0.28 a share."
    )
    got = _said(text)
    assert ("Revenue growth (sequential)", "Q3 FY2025", "6.7", "%") in got  # "from the second quarter"
    assert ("Research and development expenses", "Q3 FY2025", "27.4", "USD") in got
    assert ("General and administrative expenses", "Q3 FY2025", "11", "USD") in got
    assert ("Customers", "Q3 FY2025", "461", "customers") in got
    assert ("Full-time employees", "Q3 FY2025", "1310", "employees") in got
    assert ("Non-GAAP diluted earnings per share", "Q3 FY2025", "0.19", "per share USD") in got
    assert ("Dividend per share", "Q3 FY2025", "0.28", "per share USD") in got
    # growth from a quarter that is not the one before is not called sequential
    assert not any("sequential" in m for m, *_ in _said("Revenue was up 9.0% from the first quarter."))


def test_a_fourth_quarter_call_tells_the_quarter_from_the_full_year() -> None:
    text = (
        "In Q4, our net sales of $2.4 billion increased 12%.\n"
        "Finally, our adjusted diluted earnings per share was $1.87, up 14% from prior year.\n"
        "For the full year, we delivered top-line growth resulting in record net sales of $10.1 billion.\n"
        "Record adjusted diluted earnings per share of $8.51, including a $0.66 headwind.\n"
    )
    got = _said(text, WIDGET_Q4)
    assert ("Adjusted diluted earnings per share", "Q4 2020", "1.87", "per share USD") in got
    assert not any(value == "8.51" for *_, value, _ in got)  # said after "For the full year"
    assert not any(p == "Q4 2020" and value == "10.1" for _, p, value, _ in got)


def test_another_subjects_or_a_trailing_figure_is_not_the_companys() -> None:
    assert _said("Magnetrol has annual sales of approximately $100 million.") == set()
    assert _said("Our trailing four quarter adjusted EBITDA was about $4.2 billion.") == set()
    loss = prose_facts(
        "Operating income was $79.5 million compared to a loss of $249.8 million a year ago.", ACME
    )
    assert all(f.problems for f in loss if f.value == Decimal("249.8"))  # "a loss": which one?


def test_a_transcript_without_its_company_name_is_named_by_its_file_ticker() -> None:
    text = "Here at Advance, we are grateful.\nIn Q4, we delivered comparable store sales growth of 4.7%."
    identity = document_identity("AAP_q4_2020", text, "AAP_q4_2020.txt")
    assert identity.subject == "AAP"
    assert any("ticker AAP from the file name" in r for r in identity.reasons)
    passing = "We agreed to sell Globex Trading Company to a buyer.\nAmerican Widgets revenue grew."
    other = document_identity("AWG_q1_2021", passing, "AWG_q1_2021.txt")
    assert other.subject != "Globex Trading Company"  # a company named in passing is not the subject
    assert any("does not spell the file's ticker" in r for r in other.reasons)


def test_changes_ratios_of_unsaid_figures_and_guidance_continued_are_not_facts() -> None:
    assert _said("Operating profit as a percent of sales was 17.2%.") == set()  # percent of which figure?
    fy = "Fiscal 2020 net sales increased by $307.5 million, which included an increase in base business net sales of $244.5 million."
    assert not any(v == "244.5" for *_, v, _ in _said(fy, WIDGET_Q4))  # an increase, and the full year
    guided = "For 2021 we expect revenue of $4.1 billion.\nAnd adjusted EBITDA of approximately $660 million."
    assert _said(guided) == set()
    # "in the first quarter" in a third-quarter document is not the quarter before: not said which year
    q1 = _said("Noninterest income totaled $44.4 million, up from $43 million in the first quarter.")
    assert ("Noninterest income", "Q3 FY2025", "44.4", "USD") in q1 and not any(v == "43" for *_, v, _ in q1)
    q2 = _said("Noninterest income totaled $44.4 million, up from $43 million in the second quarter.")
    assert ("Noninterest income", "Q2 FY2025", "43", "USD") in q2


def test_a_loss_per_share_is_not_called_earnings_and_a_title_is_not_a_name() -> None:
    got = _said("Net loss was $8.9 million, or $0.08 per diluted share.")
    assert ("Diluted net loss per share", "Q3 FY2025", "0.08", "per share USD") in got
    assert not any("earnings" in m for m, *_ in got)
    text = "With me is the Chief Executive Officer of Chemed Corporation. Chemed grew. Chemed hired."
    assert document_identity("call", text, "CHE_q1_2021.txt").subject == "Chemed Corporation"


def test_a_segments_figure_is_not_the_companys_unless_its_name_says_so() -> None:
    text = (
        "Total revenue was $142.7 million.\n"
        "Turning to our segments. In Snacks, organic net sales were $1.0 billion and gross margin was 38.1%.\n"
        "Fleet Systems revenue was $94.7 million."
    )
    got = _said(text)
    assert ("Total revenue", "Q3 FY2025", "142.7", "USD") in got
    assert ("Fleet Systems revenue", "Q3 FY2025", "94.7", "USD") in got  # the segment named in the metric
    assert not any(m in ("Organic net sales", "Gross margin") for m, *_ in got)


def test_two_subsidiaries_named_alike_are_not_the_parent() -> None:
    text = (
        "Sales at CooperVision grew. Sales at CooperSurgical grew.\n"
        "Margins at CooperVision rose, and so did those at CooperSurgical. Revenue was up."
    )
    identity = document_identity("call", text, "COO_q1_2021.txt")
    assert identity.subject == "COO"  # neither subsidiary: the file's ticker
    one = text.replace("CooperSurgical", "the surgical unit")
    assert document_identity("call", one, "COO_q1_2021.txt").subject == "CooperVision"


def test_a_name_that_spells_the_ticker_beside_a_common_word_is_kept() -> None:
    text = "Sales at Aptar grew. We got an Authorization.\nMargins at Aptar rose. Revenue was up."
    assert document_identity("call", text, "ATR_q1_2021.txt").subject == "Aptar"


def test_a_transcripts_name_is_a_capitalised_name_inside_its_sentences() -> None:
    # every sentence starts with a capital: "During" and "However" there are not names (DRI, HE)
    text = (
        "During the quarter, demand held up. During the year, we opened stores.\n"
        "However, costs rose. However, we kept our margin."
    )
    assert document_identity("call", text, "DRI_q2_2022.txt").subject == "DRI"
    assert document_identity("call", text, "HE_q2_2021.txt").subject == "HE"
    # inside a sentence a capital tells a name, of up to three words, "&" and hyphens included
    for name, file in (
        ("Black Hills", "BKH_q2_2021.txt"),
        ("Church & Dwight", "CHD_q4_2020.txt"),
        ("Curtiss-Wright", "CW_q3_2021.txt"),
    ):
        named = f"During the quarter, {name} added customers.\nWe think {name} is well placed."
        assert document_identity("call", named, file).subject == name
    # a word the text also writes in lower case is a word, not a name; months are not names either
    words = (
        "Our stores at First did well, and at First we grew.\nIn the first quarter sales rose.\n"
        "We closed in February, and in February we reopened."
    )
    assert document_identity("call", words, "FR_q4_2020.txt").subject == "FR"
    # a web address does not make a name a word ("investor.hormel.com")
    web = "Sales at Hormel grew.\nOrders at Hormel rose.\nSee investor.hormel.com for the slides."
    assert document_identity("call", web, "HRL_q2_2021.txt").subject == "Hormel"
