"""Search that knows what each document is about: the identity line in every chunk's header, the
company and period a query names, filters and boosts, notes for names no document is about, and
``search --queries`` answering many queries with one model load."""

from __future__ import annotations

import json
from datetime import date

import pytest
from conftest import synthtune_cmd, write

from synthtune.errors import SynthtuneError
from synthtune.text.identity import PeriodRef, document_identity, identity_line, query_periods
from synthtune.text.periods import Period

# The Acme releases name their quarter only in their file names. The Q2 one says "revenue" three times,
# the Q3 one not at all: without the period, BM25 and dense both prefer Q2 for a question about revenue.
DOCS = {
    "acme_q2_2024.md": "Acme Robotics, Inc. (NASDAQ: ACMR) reports its results.\n\n"
    "Revenue: revenue was $140.0 million, record revenue for the company.",
    "acme_q3_2024.md": "Acme Robotics, Inc. (NASDAQ: ACMR) reports its results.\n\nSales were $152.2 million.",
    "initech_q3_2024.md": "# Initech Corporation Reports Third Quarter 2024 Results\n\n"
    "Initech Corporation today reported results for the third quarter of 2024.\n\n"
    "Revenue was $61.5 million, up 8 percent.",
}


@pytest.fixture
def kb(make_project, tmp_path):
    for name, text in DOCS.items():
        write(tmp_path / "docs" / name, text)
    p = make_project()
    p.ingest([tmp_path / "docs"])
    return p


def doc_name(hit) -> str:
    return hit.source_path.rsplit("/", 1)[-1]


@pytest.mark.parametrize(
    ("query", "labels"),
    [
        ("What was Globex's capital expenditure in FY2018?", ["year 2018"]),
        ("Best Buy Q4 fiscal 2023 comparable sales", ["Q4 2023"]),
        ("revenue in the second quarter of fiscal 2024", ["Q2 2024"]),
        ("fiscal second quarter of 2024 margin", ["Q2 2024"]),
        ("Q2 FY24 revenue", ["Q2 2024"]),
        ("2023 Q1 sales and full-year 2022 EPS", ["Q1 2023", "year 2022"]),
        ("net sales for the quarter ended April 29, 2023", ["ended 2023-04-29"]),
        ("What did Acme earn?", []),
        # a quarter without its year takes the year the query names; alone it names no period
        ("What margin did Ulta Beauty expect for fiscal 2023 after its first-quarter report?", ["Q1 2023"]),
        ("What did Acme earn in Q3?", []),
        ("revenue grew 12% to 2,500 units", []),
    ],
)
def test_periods_a_query_names(query, labels):
    assert [r.label for r in query_periods(query)] == labels


def test_a_period_matches_documents_of_that_quarter_year_or_end_date():
    q3 = Period("Q3 FY2025", 3, date(2025, 9, 30), 2025, 3, True)
    assert PeriodRef("Q3 2025", 2025, 3).matches(q3)
    assert not PeriodRef("Q2 2025", 2025, 2).matches(q3)
    assert PeriodRef("FY2025", 2025).matches(q3)  # a year: each of its quarters
    assert not PeriodRef("FY2024", 2024).matches(q3)
    assert PeriodRef("ended", end=date(2025, 10, 2)).matches(q3)  # within a week of the end date
    assert not PeriodRef("ended", end=date(2025, 6, 30)).matches(q3)
    assert not PeriodRef("Q3 2025", 2025, 3).matches(None)


def test_identity_line_names_company_ticker_form_and_period():
    ident = document_identity(
        "Acme Robotics, Inc. Reports Third Quarter Fiscal 2025 Results",
        "Acme Robotics, Inc. (NASDAQ: ACMR) today reported results for the third quarter of fiscal 2025.",
    )
    assert identity_line(ident) == (
        "Acme Robotics, Inc. (ACMR) earnings release, Q3 FY2025, third quarter of fiscal 2025"
    )
    # a transcript named by ticker and quarter, whose text never says its company's legal name
    ects = document_identity("PKG_q3_2021", "I'm pleased to be on the call today.", "PKG_q3_2021.txt")
    assert identity_line(ects) == "ticker PKG earnings call transcript, Q3 2021, third quarter of 2021"


def test_every_chunk_header_starts_with_its_document_identity(kb):
    for d in kb.store.documents():
        for c in kb.store.chunks(d.id):
            assert c.header.startswith(
                "Acme Robotics, Inc. (ACMR) earnings release, Q"
            ) or c.header.startswith("Initech Corporation earnings release, Q3 2024"), c.header
        assert d.metadata["identity"]["period"]["fiscal_year"] == 2024


def test_a_named_company_filters_to_or_ranks_up_its_documents(kb, make_project, tmp_path):
    # the default (filter): only the named company's documents are searched
    hits, scope = kb.search_scoped("What was Initech's revenue?", k=5)
    assert scope.subjects == ("Initech",)
    assert {doc_name(h) for h in hits} == {"initech_q3_2024.md"}
    assert "searched 1 of 3 documents" in scope.describe(3)
    # the ticker, written as tickers are, names the company too
    hits, scope = kb.search_scoped("ACMR sales", k=5)
    assert scope.subjects == ("ACMR",)
    assert {doc_name(h) for h in hits} == {"acme_q2_2024.md", "acme_q3_2024.md"}
    # boost: the named company's documents rank higher; the others may follow
    loose = make_project({"search": {"subject_match": "boost"}}, name="loose")
    loose.ingest([tmp_path / "docs"])
    hits, scope = loose.search_scoped("What was Initech's revenue?", k=5)
    assert scope.subjects == ("Initech",) and scope.searched is None
    assert doc_name(hits[0]) == "initech_q3_2024.md" and "ranked 1 document higher" in scope.describe(3)
    assert len({doc_name(h) for h in hits}) > 1
    hits, scope = loose.search_scoped("ACMR sales", k=5)
    assert {doc_name(h) for h in hits[:2]} == {"acme_q2_2024.md", "acme_q3_2024.md"}


@pytest.mark.parametrize("header_identity", [False, True])
def test_a_named_period_ranks_that_periods_document_first(make_project, tmp_path, header_identity):
    for name, text in DOCS.items():
        write(tmp_path / "docs" / name, text)
    question = "What was Acme Robotics' revenue in the third quarter of 2024?"
    top = {}
    for match in ("off", "boost", "filter"):
        p = make_project(
            {"embedding": {"header_identity": header_identity}, "search": {"period_match": match}}, name=match
        )
        p.ingest([tmp_path / "docs"])
        hits, scope = p.search_scoped(question, k=3)
        assert scope.subjects == ("Acme Robotics",)
        assert scope.periods == (() if match == "off" else ("Q3 2024",))
        top[match] = [doc_name(h) for h in hits]
        if match == "boost":
            assert "ranked 1 document higher" in scope.describe(3)
    assert top["boost"][0] == top["filter"][0] == "acme_q3_2024.md"
    assert set(top["filter"]) == {"acme_q3_2024.md"}
    # the period ignored, "revenue" puts Q2 first (even with the period in Q3's header)
    assert top["off"][0] == "acme_q2_2024.md"


def test_names_and_periods_no_document_has_are_said_and_everything_is_searched(kb):
    hits, scope = kb.search_scoped("What was Globex's revenue?", k=3)
    assert scope.searched is None and hits
    assert any("Globex" in n for n in scope.notes)
    _, scope = kb.search_scoped("Initech revenue in Q1 2019", k=3)
    assert any("no document of Q1 2019" in n for n in scope.notes)


def test_queries_without_words_to_look_for_are_refused_clearly(kb):
    with pytest.raises(SynthtuneError, match="only common words"):
        kb.search("what was the")


def test_search_queries_file_answers_each_query_and_reports_the_bad_one(kb, tmp_path):
    queries = tmp_path / "queries.jsonl"
    queries.write_text(
        json.dumps({"question": "What was Initech's revenue?"})
        + "\n"
        + json.dumps({"query": "of the"})
        + "\n\nACMR sales in Q3 2024\n",
        encoding="utf-8",
    )
    kb.close()
    res = synthtune_cmd("-C", kb.dir, "search", "--queries", queries, "--json", "-k", "2")
    assert res.returncode == 1, res.stderr  # one query failed; the others were answered
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert [r["query"] for r in rows] == ["What was Initech's revenue?", "of the", "ACMR sales in Q3 2024"]
    assert rows[0]["scope"]["subjects"] == ["Initech"]
    assert rows[0]["results"][0]["source_path"].endswith("initech_q3_2024.md")
    assert "only common words" in rows[1]["error"]
    assert rows[2]["results"][0]["source_path"].endswith("acme_q3_2024.md")
    assert "2 queries answered, 1 failed" in res.stderr
    missing = synthtune_cmd("-C", kb.dir, "search", "--queries", tmp_path / "nope.txt")
    assert missing.returncode != 0 and "cannot read" in missing.stderr and "Traceback" not in missing.stderr
    both = synthtune_cmd("-C", kb.dir, "search", "x", "--queries", queries)
    assert both.returncode == 2 and "not both" in both.stderr


def test_turning_the_identity_header_off_keeps_chunk_ids(kb, tmp_path):
    """Only the headers change: the chunks are re-headed in place (what cites them stays)."""
    before = {c.id: c for c in kb.store.chunks()}
    kb.settings.embedding.header_identity = False
    report = kb.ingest([tmp_path / "docs"])
    after = {c.id: c for c in kb.store.chunks()}
    assert report.rechunked == 3 and after.keys() == before.keys()
    assert all(not c.header.startswith(("Acme Robotics, Inc. (ACMR) earnings", "Initech Corporation earnings"))
               for c in after.values())  # fmt: skip
    # the lexical index follows the new headers: the form no longer matches
    assert kb.search("earnings release", k=3, mode="lexical") == []


def test_annual_reports_and_quarterly_reports_know_their_period():
    """10-K and 10-Q cover pages (and a FinanceBench-style file name) give the fiscal year or quarter."""
    k = document_identity(
        "UNITED STATES",
        "FORM 10-K\nANNUAL REPORT PURSUANT TO SECTION 13\nFor the fiscal year ended December 31, 2018\n3M COMPANY",
        "3M_2018_10K.pdf",
    )
    assert identity_line(k) == "3M COMPANY 10-K, FY2018, fiscal year 2018"
    q = document_identity(
        "UNITED STATES",
        "FORM 10-Q\nFor the quarterly period ended June 30, 2022\nGlobex Corporation",
        "g.pdf",
    )
    assert (q.subject, q.form, q.period.quarter, q.period.fiscal_year) == (
        "Globex Corporation",
        "10-Q",
        2,
        2022,
    )
    assert document_identity("", "Globex Corporation", "GLOBEX_2019_10K.pdf").period.label == "FY2019"


def test_a_year_asked_prefers_the_annual_report(make_project, tmp_path):
    docs = {
        "globex_2018_10k.md": "FORM 10-K\n\nFor the fiscal year ended December 31, 2018\n\nGlobex Corporation\n\n"
        "Capital expenditures were $310 million.",
        "globex_2019_10k.md": "FORM 10-K\n\nFor the fiscal year ended December 31, 2019\n\nGlobex Corporation\n\n"
        "Capital expenditures were $355 million. Capital expenditures rose.",
        "globex_q3_2018_10q.md": "FORM 10-Q\n\nFor the quarterly period ended September 30, 2018\n\n"
        "Globex Corporation\n\nCapital expenditures were $80 million. Capital expenditures fell.",
    }
    for name, text in docs.items():
        write(tmp_path / "docs" / name, text)
    p = make_project({"search": {"subject_match": "filter", "period_match": "boost"}})
    p.ingest([tmp_path / "docs"])
    hits, scope = p.search_scoped("What were Globex's capital expenditures in FY2018?", k=3)
    assert scope.periods == ("year 2018",) and len(scope.searched) == 3
    assert [len(b) for b in scope.boosted] == [1]  # the 2018 annual report, not the 2018 10-Q
    assert doc_name(hits[0]) == "globex_2018_10k.md"


def test_generic_possessives_are_not_taken_for_company_names(kb):
    for query in ("What was the Company's revenue?", "Today's revenue outlook", "What is Management's view?"):
        _, scope = kb.search_scoped(query, k=1)
        assert scope.notes == (), query


def test_an_empty_store_says_so(make_project):
    with pytest.raises(SynthtuneError, match="knowledge base is empty"):
        make_project(name="empty").search_scoped("revenue in Q3 2024")


@pytest.mark.parametrize(
    ("query", "names", "periods", "narrowed"),
    [
        ("What was Globex's capex in FY2018?", ["Globex"], ["FY2018"], "What was capex in ?"),
        ("ACMR sales in Q3 2024", ["ACMR"], ["Q3 2024"], "sales in"),
        ("acmr sales", ["ACMR"], [], "acmr sales"),  # a ticker is taken out only as the query wrote it
        ("Initech Q3 2024", ["Initech"], ["Q3 2024"], None),  # nothing left: the whole query is used
    ],
)
def test_a_query_without_its_names_and_periods(query, names, periods, narrowed):
    from synthtune.search import _without

    assert _without(query, names, periods) == narrowed


def test_documents_chosen_by_the_querys_names_are_ranked_by_the_rest_of_it(make_project, tmp_path):
    """Dense search of the company's documents embeds the query without the company and the period;
    the whole store is searched with all of it."""
    for name, text in DOCS.items():
        write(tmp_path / "docs" / name, text)
    p = make_project({"search": {"subject_match": "filter", "period_match": "filter"}})
    p.ingest([tmp_path / "docs"])
    hits, scope = p.search_scoped("What were Acme Robotics' sales in Q3 2024?", k=3, mode="dense")
    assert scope.narrowed == "What were sales in ?" and set(scope.searched) == {hits[0].document_id}
    alone = p.searcher().search("What were sales in ?", k=3, mode="dense", document_ids=scope.searched)
    assert [(h.chunk_id, h.score) for h in hits] == [(h.chunk_id, h.score) for h in alone]
    # a query that names no document is embedded whole: the same scores as with matching off
    off = make_project({"search": {"subject_match": "off"}}, name="off")
    off.ingest([tmp_path / "docs"])
    hits, scope = p.search_scoped("What were sales?", k=3, mode="dense")
    assert scope.narrowed is None
    same = off.search("What were sales?", k=3, mode="dense")
    assert [(doc_name(h), h.text, h.score) for h in hits] == [(doc_name(h), h.text, h.score) for h in same]


def test_a_query_names_a_company_the_way_analysts_write_it():
    from synthtune.search import KnownDocument, _aliases, _Catalog, _initials

    subjects = [
        "The Coca-Cola Company",
        "Wal-Mart Stores, Inc.",
        "ADVANCED MICRO DEVICES, INC.",
        "Johnson & Johnson",
        "Block, Inc.",
        "THE BOEING COMPANY",
        "MGM Resorts International",
        "Amazon.com, Inc.",
        "Foot Locker, Inc.",
    ]
    catalog = _Catalog(
        "v", [KnownDocument(i, _aliases(s), None, None, _initials(s)) for i, s in enumerate(subjects)], 9
    )

    def named(query: str) -> set[str]:
        return {subjects[i] for i in catalog.named(query)[1]}

    assert named("What was Coca Cola's revenue in FY2022?") == {"The Coca-Cola Company"}  # space for hyphen
    assert named("Walmart capex in FY2018") == {"Wal-Mart Stores, Inc."}  # no hyphen at all
    assert named("AMD quick ratio FY22") == {"ADVANCED MICRO DEVICES, INC."}  # initials
    assert named("How much of J&J's sales came from the U.S.?") == {"Johnson & Johnson"}
    assert named("Boeing deliveries in 2022") == {"THE BOEING COMPANY"}  # "The" and "Company" dropped
    assert named("MGM Resorts net revenues") == {"MGM Resorts International"}
    assert named("Amazon AWS segment sales") == {"Amazon.com, Inc."}
    assert named("Block's gross profit") == {"Block, Inc."}
    # a one-word name or a first word in lower case, and initials not in capitals, are ordinary words
    assert named("block trades and foot traffic") == set()
    assert named("amd revenue") == set()
    assert named("Johnson Controls revenue") == set()  # "Johnson" alone is not Johnson & Johnson
    assert _initials("MGM Resorts International") is None  # a name with capitals of its own keeps them
    assert _initials("Earnings Per Share Inc.") is None  # a finance abbreviation (EPS) is never initials


def test_a_filings_cover_gives_its_ticker_so_a_query_may_use_it():
    cover = (
        "UNITED STATES SECURITIES AND EXCHANGE COMMISSION\nFORM 10-K\n"
        "For the fiscal year ended December 31, 2022\nADVANCED MICRO DEVICES, INC.\n"
        "(Exact name of registrant as specified in its charter)\n"
        "Securities registered pursuant to Section 12(b) of the Act:\n"
        "Title of each class\nTrading\nSymbol(s)\nName of each exchange on which registered\n"
        "Common Stock, par value $0.01 per share\nAMD\nThe NASDAQ Global Select Market\n"
    )
    ident = document_identity("", cover, "amd-2022-10k.pdf")
    assert identity_line(ident) == "ADVANCED MICRO DEVICES, INC. (AMD) 10-K, FY2022, fiscal year 2022"
    # a cover without the table (filings before 2019) has no ticker to give
    assert document_identity("", cover.split("Securities registered")[0], "amd.pdf").ticker is None


def test_a_retailers_annual_report_is_named_by_its_own_fiscal_year():
    """Many retailers name the year that ended in January or February by the year before (Home Depot's
    fiscal 2022 ended January 29, 2023): the cover gives only the date, the later pages say the name, and
    a query asks by the name."""
    cover = (
        "UNITED STATES SECURITIES AND EXCHANGE COMMISSION\nFORM 10-K\n"
        "For the fiscal year ended January 28, 2023\nUlta Beauty, Inc.\n"
        "(Exact name of registrant as specified in its charter)\n"
    )
    later = "Our fiscal year ends on the Saturday closest to January 31. Fiscal 2022 was a 52-week year "
    later += "ended January 28, 2023. Net sales in fiscal 2023 are expected to grow 4% to 5%."
    ident = document_identity("", cover, "ulta-10k.pdf", later)
    assert identity_line(ident) == "Ulta Beauty, Inc. 10-K, FY2022, fiscal year 2022"
    assert any("fiscal 2022, as the text names the year ended January 28, 2023" in r for r in ident.reasons)
    assert query_periods("Ulta Beauty's net sales in fiscal 2022")[0].matches(ident.period)
    assert not query_periods("Ulta Beauty's net sales in FY2023")[0].matches(ident.period)
    # the name after the date: 'the fiscal year ended January 29, 2023 ("fiscal 2022")'
    depot = cover.replace("January 28, 2023", "January 29, 2023").replace(
        "Ulta Beauty, Inc.", "THE HOME DEPOT, INC."
    )
    named = 'Unless noted, the fiscal year ended January 29, 2023 ("fiscal 2022") included 52 weeks.'
    assert document_identity("", depot, "hd.pdf", named).period.fiscal_year == 2022
    # no sentence ties a name to the date: the name the text uses more often (Best Buy's fiscal 2023 ended
    # January 28, 2023)
    best_buy = cover.replace("Ulta Beauty, Inc.", "BEST BUY CO., INC.")
    counted = (
        "Fiscal 2023 included 52 weeks. Revenue in fiscal 2023 fell 10.6% from fiscal 2022 to $46.3 billion."
    )
    assert document_identity("", best_buy, "bby.pdf", counted).period.fiscal_year == 2023
    assert (
        document_identity("", best_buy, "bby.pdf", "In fiscal 2022 and fiscal 2022 again.").period.fiscal_year
        == 2022
    )
    # without the later pages, or for a year that ends later in the calendar, the year the date falls in
    assert document_identity("", cover, "ulta-10k.pdf").period.fiscal_year == 2023
    december = cover.replace("January 28, 2023", "December 31, 2018")
    outlook = "For fiscal 2019 we expect growth. Fiscal 2019 capital spending of $1.5 billion."
    assert document_identity("", december, "3m.pdf", outlook).period.fiscal_year == 2018


def test_a_query_for_a_retailers_fiscal_year_ranks_its_annual_report_first(make_project, tmp_path):
    years = {
        "2023": ("January 28, 2023", "Fiscal 2022", "10.2"),
        "2024": ("February 3, 2024", "Fiscal 2023", "11.2"),
    }
    for filed, (end, name, sales) in years.items():
        write(
            tmp_path / "docs" / f"ulta-10k-{filed}.txt",
            f"FORM 10-K\nFor the fiscal year ended {end}\nUlta Beauty, Inc.\n(Exact name of registrant as "
            f"specified in its charter)\n{name} ended {end}. Net sales were ${sales} billion.",
        )
    p = make_project({"search": {"period_match": "boost"}})
    p.ingest([tmp_path / "docs"])
    hits, scope = p.search_scoped("What were Ulta Beauty's net sales in fiscal 2022?", k=2)
    assert scope.periods == ("year 2022",) and [len(b) for b in scope.boosted] == [1]
    assert doc_name(hits[0]) == "ulta-10k-2023.txt" and not scope.notes


def test_a_quarterly_filing_is_named_by_the_fiscal_quarter_its_text_names():
    """A 10-Q's cover gives the date its quarter ended; a company whose year is not the calendar year
    names the quarter in its text (Microsoft's quarter ended September 30, 2023 is its first of fiscal
    2024), and a query asks by that name."""
    cover = "FORM 10-Q\nFor the Quarterly Period Ended September 30, 2023\nMICROSOFT CORPORATION\n"
    later = (
        "Revenue for the first quarter of fiscal year 2024 increased 13%. Compared with the fourth quarter of "
        "fiscal year 2023, ... Cloud revenue in the first quarter of fiscal year 2024 was $31.8 billion."
    )
    ident = document_identity("", cover, "msft-10q.pdf", later)
    assert (ident.period.quarter, ident.period.fiscal_year) == (1, 2024)
    assert query_periods("Microsoft's revenue in Q1 FY2024")[0].matches(ident.period)
    assert any(
        "Q1 of fiscal 2024, as the text names the quarter (Q1 of fiscal 2024 2 times" in r
        for r in ident.reasons
    )
    # a retailer's quarter ended April 29, 2023 is the first of fiscal 2024 (Best Buy) ...
    retail = "FORM 10-Q\nFor the quarterly period ended April 29, 2023\nBEST BUY CO., INC.\n"
    said = (
        "In the first quarter of fiscal 2024, revenue fell; Q1 FY24 comparable sales fell 10.1% from Q1 FY23."
    )
    assert document_identity("", retail, "bby.pdf", said).period.label == "Q1 FY2024"
    # ... or of fiscal 2023 (Ulta Beauty): both are counted from the date
    said = (
        "Net sales in the first quarter of fiscal 2023 rose 12%. The fiscal 2023 first quarter set a record."
    )
    assert document_identity("", retail, "ulta.pdf", said).period.label == "Q1 FY2023"
    # a company on the calendar year names no fiscal quarter: the calendar one, as before
    calendar = cover.replace("MICROSOFT", "PEPSICO")
    assert (
        document_identity("", calendar, "pep.pdf", "In the third quarter of 2023 revenue rose.").period.label
        == "Q3 2023"
    )
    # a fiscal quarter named once, or two named as often, decides nothing
    once = "the first quarter of fiscal year 2024 and the fourth quarter of fiscal year 2023"
    assert document_identity("", cover, "msft.pdf", once).period.label == "Q3 2023"


def test_a_call_that_cites_the_annual_report_is_not_one():
    """Safe-harbour lines name other filings ("risks described in our annual report on Form 10-K"): the
    document is not that filing, and its header must not say so."""
    for head in (
        "Actual results may differ, including those discussed in Item 1A of our annual report on Form 10-K.",
        "Please see the risk factors disclosed in NHI's Form 10-Q for the quarter ended March 31, 2020.",
        "including those disclosed in our Form 10-K along with other SEC filings.",
        "can be found in the Company's Annual Report on Form 10-K for the year ended December 31, 2020 and any "
        "subsequent quarterly report on Form 10-Q or Current Report on Form 8-K",
        "the risk factors listed in our Form 10-Q and our Form 8-K filings with the SEC",
    ):
        assert document_identity("", head, "MMS_q2_2021.txt").form is None, head
    cover = "FORM 10-K\nANNUAL REPORT PURSUANT TO SECTION 13\nFor the fiscal year ended December 31, 2018"
    assert document_identity("", cover, "3m.pdf").form == "10-K"


def test_documents_of_one_ticker_are_found_by_the_name_either_says(make_project, tmp_path):
    """MMS's Q4 call says "Maximus", its Q2 call never does: a query naming Maximus searches both calls,
    and the quarter it names ranks the Q2 call first. Another company's call stays out."""
    calls = {
        "MMS_q2_2021.txt": "Thanks for joining us. We project COVID response revenue between $800 million and "
        "$850 million for the full fiscal year.",
        "MMS_q4_2021.txt": "At Maximus we closed the year well. The team at Maximus won new contracts. COVID "
        "response revenue was $1.1 billion in fiscal 2021.",
        "MYE_q2_2021.txt": "At Myers we grew sales. The Myers team projects COVID response revenue to fade.",
    }
    for name, text in calls.items():
        write(tmp_path / "docs" / name, text)
    p = make_project({"search": {"subject_match": "filter", "period_match": "boost"}})
    p.ingest([tmp_path / "docs"])
    hits, scope = p.search_scoped(
        "How much COVID response revenue did Maximus project on its Q2 2021 call?", k=3
    )
    assert scope.subjects == ("Maximus",) and len(scope.searched) == 2
    assert [len(b) for b in scope.boosted] == [1]
    assert doc_name(hits[0]) == "MMS_q2_2021.txt"
    assert {doc_name(h) for h in hits} == {"MMS_q2_2021.txt", "MMS_q4_2021.txt"}


@pytest.mark.parametrize(
    ("query", "said"),
    [
        ("What EBITDA guidance did Cheniere give on its Q1 2021 call?", ["Cheniere"]),
        ("Cheniere EBITDA guidance 2021", ["Cheniere"]),
        ("Home Depot's EPS in Q3?", ["Home Depot"]),
        ("According to Darden, how did sales grow in May?", ["Darden"]),
        ("What did The New York Times add?", ["New York Times"]),
        ("How much will Pacific Gas and Electric pay?", ["Pacific Gas and Electric"]),
        ("What was the Company's revenue in the Quarter?", []),
    ],
)
def test_the_names_a_query_says(query, said):
    from synthtune.search import _said_names

    assert [name for name, _forms in _said_names(query)] == said


def test_a_name_no_identity_gives_ranks_up_the_documents_whose_text_says_it(make_project, tmp_path):
    """Two calls filed by ticker whose text never gives their company's legal name: LNG's says "Cheniere",
    which does not spell LNG, so its identity is the ticker alone. A query naming Cheniere ranks its call
    first although the other call says "EBITDA guidance" more; a name both calls say is no one's."""
    calls = {
        "LNG_q1_2021.txt": "Cheniere had a record quarter in Texas. Cheniere now expects consolidated adjusted "
        "EBITDA of $4.3 billion to $4.6 billion.",
        "PPL_q1_2021.txt": "We reaffirm our EBITDA guidance. EBITDA guidance for the year is unchanged, and our "
        "EBITDA guidance range reflects the storm in Texas.",
    }
    for name, text in calls.items():
        write(tmp_path / "docs" / name, text)

    def project(name: str, **search):
        p = make_project({"search": search}, name=name)
        p.ingest([tmp_path / "docs"])
        return p

    p = project("boost", subject_match="filter", period_match="boost")
    query = "What EBITDA guidance did Cheniere give on its Q1 2021 call?"
    hits, scope = p.search_scoped(query, k=2)
    assert scope.searched is None and [len(b) for b in scope.boosted] == [1, 1]
    assert any("'Cheniere'" in n and "ranked the 1 that says it higher" in n for n in scope.notes)
    assert doc_name(hits[0]) == "LNG_q1_2021.txt"
    assert scope.narrowed == "What EBITDA guidance did give on its call?"
    _, scope = p.search_scoped("What EBITDA guidance did Cheniere give for Q3 2024?", k=2)
    assert "no document of Q3 2024 among those that say 'Cheniere'" in scope.notes
    # a period filter keeps to the company's documents of that period, never to a mention's
    hits, scope = project("strict", subject_match="filter", period_match="filter").search_scoped(query, k=2)
    assert scope.searched is None and len(hits) == 2 and doc_name(hits[0]) == "LNG_q1_2021.txt"
    # off: the call that says "EBITDA guidance" most comes first
    hits, scope = project("off", subject_match="off").search_scoped(query, k=2)
    assert scope.boosted == () and doc_name(hits[0]) == "PPL_q1_2021.txt"
    # a name every call says tells none apart
    _, scope = p.search_scoped("What did the storm in Texas cost?", k=2)
    assert scope.boosted == () and scope.notes == ()
