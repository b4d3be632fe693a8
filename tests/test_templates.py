"""Numeric questions from facts without an LLM, and the check that a paraphrase keeps its fact."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from synthtune.ingest.loaders import load_document
from synthtune.ingest.tables import pdf_tables
from synthtune.synth.facts import Fact, prose_facts, table_facts
from synthtune.synth.templates import (
    BY_NICKNAME,
    format_value,
    question_keeps_fact,
    select_phrasings,
    template_questions,
)
from synthtune.text.identity import document_identity, nickname
from synthtune.text.periods import Period

DEMO = Path(__file__).resolve().parents[1] / "examples" / "acme" / "docs"
Q2 = Period("Q2 FY2025", 3, date(2025, 6, 30), 2025, 2, fiscal=True)
M = Decimal(10) ** 6


def fact(
    metric: str, value: str, unit: str, scale: Decimal = Decimal(1), raw: str | None = None, **kw
) -> Fact:
    defaults = dict(
        subject="Acme Robotics, Inc.",
        period=Q2,
        page_no=1,
        char_start=0,
        char_end=4,
        table_cell=None,
        source="table",
    )
    defaults.update(kw)
    return Fact(metric=metric, value=Decimal(value), unit=unit, scale=scale, raw=raw or value, **defaults)


GROSS = fact("Gross margin", "41.9", "%", raw="41.9%")
REVENUE = fact("Revenue", "142.7", "USD", M)
EPS = fact("Net income (loss) per share, diluted", "0.12", "per share USD", raw="$0.12")


def test_several_phrasings_each_naming_subject_and_period() -> None:
    questions = template_questions(GROSS)
    assert len(questions) >= 3
    assert (
        questions[0].question == "What was Acme Robotics' gross margin in the second quarter of fiscal 2025?"
    )
    assert "What gross margin did Acme Robotics report for Q2 FY2025?" in [q.question for q in questions]
    for q in questions:
        assert "Acme Robotics" in q.question
        assert question_keeps_fact(q.question, GROSS) is None, q.question
    # besides Period.names(), the period as analysts also write it
    assert "For fiscal Q2 2025, what gross margin did Acme Robotics report?" in [
        q.question for q in questions
    ]
    assert any("the quarter ended June 30, 2025" in q.question for q in questions)
    assert questions[0].answer == (
        "In the second quarter of fiscal 2025 (the three months ended June 30, 2025), "
        "Acme Robotics' gross margin was 41.9%."
    )
    assert len({q.question for q in questions}) == len(questions)


def test_a_documents_facts_spread_over_the_phrasings() -> None:
    """Each fact keeps its first phrasing and takes others from a place a hash of the fact sets, so a model trained
    on the dataset sees the other phrasings too, not only the first three, and a re-run picks the same."""
    facts = [fact(m, "1.0", "USD", M) for m in ("Revenue", "Gross profit", "Operating income", "Net income",
                                                 "Cost of revenue", "Research and development", "Backlog")]  # fmt: skip
    picked = [select_phrasings(template_questions(f), 3, f.metric) for f in facts]
    assert all(len(p) == 3 and p[0].template == "what_was" for p in picked)
    assert picked == [select_phrasings(template_questions(f), 3, f.metric) for f in facts]
    used = {q.template for p in picked for q in p}
    assert len(used) >= 6 and len({tuple(q.template for q in p) for p in picked}) >= 3, used
    assert select_phrasings(template_questions(GROSS), 0, "x") == []
    assert select_phrasings(template_questions(GROSS), 99, "x") == template_questions(GROSS)


def test_some_phrasings_call_the_company_by_the_name_its_documents_also_use() -> None:
    """Readers ask "What was Acme's revenue?" as often as "Acme Robotics' revenue": a model trained only on
    the full name answers the short one badly, so some phrasings, question and answer, use the short one."""
    full = template_questions(REVENUE)
    short = template_questions(REVENUE, nickname="Acme")
    assert [q.template for q in short] == [q.template for q in full]
    for f, s in zip(full, short, strict=True):
        if f.template in BY_NICKNAME:
            assert "Acme Robotics" not in s.question + s.answer and "Acme" in s.question, s.question
            assert question_keeps_fact(s.question, REVENUE) is None, s.question
        else:
            assert s == f
    report = next(q for q in short if q.template == "report")
    assert report.question == "What revenue did Acme report for Q2 FY2025?"
    figure = next(q for q in short if q.template == "figure")
    assert (
        figure.answer
        == "In the second quarter of fiscal 2025 (the three months ended June 30, 2025), Acme's revenue was $142.7 million."
    )
    assert {q.template for q in short} & BY_NICKNAME and {q.template for q in short} - BY_NICKNAME


def test_the_short_name_is_one_the_documents_use_alone_inside_their_sentences() -> None:
    said = ["Acme Robotics reported results.", "Backlog at Acme rose, and Acme's margin grew."]
    assert nickname("Acme Robotics, Inc.", said) == "Acme"
    assert (
        nickname("Acme Robotics, Inc.", ["Acme Robotics grew. Acme Robotics hired."]) is None
    )  # never alone
    assert (
        nickname("Acme Robotics, Inc.", ["Acme grew.\nAcme hired.\n- Acme shipped."]) is None
    )  # a sentence's first word
    assert (
        nickname("Acme Robotics, Inc.", ["We sold to Acme Automation and to Acme Foods."]) is None
    )  # other names
    assert nickname("Johnson & Johnson", ["Sales of Johnson & Johnson rose at Johnson & Johnson."]) is None
    assert nickname("Best Buy Co., Inc.", ["sales at Best rose at Best"]) is None  # too common to stand alone
    assert nickname("Costco", ["at Costco, and Costco's"]) is None  # one word: no shorter name


def test_money_questions_and_answers_state_unit_and_scale() -> None:
    questions = template_questions(REVENUE)
    assert "How much revenue did Acme Robotics report for Q2 FY2025?" in [q.question for q in questions]
    assert questions[0].answer.startswith("In the second quarter of fiscal 2025")
    assert questions[0].answer.endswith(", Acme Robotics' revenue was $142.7 million.")
    assert format_value(EPS) == "$0.12 per share"
    assert format_value(fact("Operating income (loss)", "-3.5", "USD", M, raw="(3.5)")) == "-$3.5 million"
    assert format_value(fact("Sales and marketing", "45.0", "USD", M)) == "$45.0 million"
    assert format_value(fact("Robots shipped", "1210", "robots", raw="1,210")) == "1,210 robots"


def test_balance_at_a_date_is_asked_as_of_that_date() -> None:
    cash = fact(
        "Cash and cash equivalents",
        "209.8",
        "USD",
        M,
        period=Period("September 30, 2025", end=date(2025, 9, 30), instant=True),
    )
    questions = template_questions(cash)
    assert (
        questions[0].question == "What were Acme Robotics' cash and cash equivalents at September 30, 2025?"
    )
    assert (
        questions[0].answer
        == "At September 30, 2025, Acme Robotics' cash and cash equivalents were $209.8 million."
    )


@pytest.mark.parametrize(
    ("metric", "unit", "question", "answer_end"),
    [
        ("Robots shipped", "robots", "How many robots did Acme Robotics ship in the second quarter of fiscal 2025?",
         "Acme Robotics shipped 1,210 robots."),
        ("Shipments", "robots", "What were Acme Robotics' shipments in the second quarter of fiscal 2025?",
         "Acme Robotics' shipments were 1,210 robots."),
        ("Software & Services revenue", "USD",
         "What was Acme Robotics' Software & Services revenue in the second quarter of fiscal 2025?",
         "Acme Robotics' Software & Services revenue was $1,210 million."),
        ("GAAP Diluted EPS", "per share USD",
         "What was Acme Robotics' GAAP Diluted EPS in the second quarter of fiscal 2025?",
         "Acme Robotics' GAAP Diluted EPS was $1,210 per share."),
        ("Revenue — Domestic comparable sales % change", "%",
         "What was Acme Robotics' domestic comparable sales % change in the second quarter of fiscal 2025?",
         "Acme Robotics' domestic comparable sales % change was 1,210%."),
        ("Revenue — Domestic segment", "USD",
         "What was Acme Robotics' domestic segment revenue in the second quarter of fiscal 2025?",
         "Acme Robotics' domestic segment revenue was $1,210 million."),
        ("Net income (loss) per share, diluted", "per share USD",
         "What was Acme Robotics' diluted net income (loss) per share in the second quarter of fiscal 2025?",
         "Acme Robotics' diluted net income (loss) per share was $1,210 per share."),
        ("Customers", "customers",
         "How many customers did Acme Robotics have in the second quarter of fiscal 2025?",
         "Acme Robotics had 1,210 customers."),
        ("Full-time employees", "employees",
         "How many full-time employees did Acme Robotics have in the second quarter of fiscal 2025?",
         "Acme Robotics had 1,210 full-time employees."),
        ("Revenue growth (sequential)", "%",
         "What was Acme Robotics' sequential revenue growth in the second quarter of fiscal 2025?",
         "Acme Robotics' sequential revenue growth was 1,210%."),
        ("Software & Services revenue growth (year over year)", "%",
         "What was Acme Robotics' year-over-year Software & Services revenue growth in the second quarter of fiscal 2025?",
         "Acme Robotics' year-over-year Software & Services revenue growth was 1,210%."),
    ],
)  # fmt: skip
def test_questions_read_as_sentences(metric, unit, question, answer_end) -> None:
    """Counts told by a verb are asked how many; plural metrics take "were"; a segment's name keeps its
    capitals; "X, diluted" reads "diluted X"; a short sub-row reads before its parent."""
    q = template_questions(fact(metric, "1210", unit, M if unit == "USD" else Decimal(1)))
    assert q[0].question == question
    assert q[0].answer.endswith(answer_end), q[0].answer
    assert len({t.question for t in q}) == len(q) >= 4


def test_no_question_without_subject_period_or_with_a_problem() -> None:
    assert template_questions(fact("Gross margin", "41.9", "%", subject=None)) == []
    assert template_questions(fact("Gross margin", "41.9", "%", period=None)) == []
    assert template_questions(fact("Gross margin", "41.9", "", problems=("ambiguous unit",))) == []


@pytest.mark.parametrize(
    ("question", "reason"),
    [
        # the accepted examples: no subject, no period
        ("What is the gross margin of the company?", "drops the subject"),
        ("What is the gross margin?", "drops the subject"),
        ("What was Acme Robotics' gross margin?", "drops the period"),
        ("What was Acme Robotics' operating margin in Q2 FY2025?", "drops or changes the metric"),
        ("What was Acme Robotics' gross margin in Q2 FY2024?", "changes the period"),
        ("What was Acme Robotics' gross margin in the third quarter of fiscal 2025?", "changes the period"),
    ],
)
def test_paraphrases_that_lose_the_fact_are_rejected(question: str, reason: str) -> None:
    assert (question_keeps_fact(question, GROSS) or "").startswith(reason)


@pytest.mark.parametrize(
    "question",
    [
        "What was Acme's gross margin in the second quarter of fiscal 2025?",
        "For Q2 FY2025, what gross margin did Acme Robotics post?",
        "What was the gross margin of Acme Robotics for the three months ended June 30, 2025?",
        "In fiscal 2025's second quarter, what was Acme Robotics's gross margin?",
    ],
)
def test_paraphrases_that_keep_the_fact_pass(question: str) -> None:
    assert question_keeps_fact(question, GROSS) is None


def test_eps_paraphrase_may_say_eps() -> None:
    assert question_keeps_fact("What was Acme Robotics' diluted EPS in Q2 FY2025?", EPS) is None
    assert question_keeps_fact("What was Acme Robotics' net income per share in Q2 FY2025?", EPS) is not None


def test_every_template_question_of_the_demo_releases_keeps_its_fact() -> None:
    n_questions = 0
    for path in sorted(DEMO.glob("*_earnings_release.pdf")):
        doc = load_document(path)
        identity = document_identity(doc.title, doc.pages[0].text, path.name)
        facts = [
            f
            for i, t in enumerate(pdf_tables(path, [p.text for p in doc.pages]))
            for f in table_facts(t, identity, i)
        ]
        facts += [f for p in doc.pages for f in prose_facts(p.text, identity, p.page_no)]
        for f in facts:
            for q in template_questions(f):
                n_questions += 1
                assert question_keeps_fact(q.question, f) is None, q.question
    assert n_questions > 1000


def test_product_specifications_are_asked_as_of_the_documents_date() -> None:
    """A fact sheet's "Payload | 300 kg (661 lb)" row becomes a fact about the product in the header,
    dated by the month the sheet is dated; rows with two figures or no unit are not facts."""
    from synthtune.synth.facts import spec_facts
    from synthtune.text.identity import document_identity

    page = (
        "Strider S2 Product Fact Sheet - Acme Robotics, Inc. - September 2025\n\nKey specifications\n\n"
        "Specification | Strider S2\nPayload | 300 kg (661 lb)\nTop speed | 2.0 m/s\n"
        "Fast charging | 80% in 30 minutes\nFootprint | 112 cm x 72 cm\nNavigation | 360-degree lidar\n"
    )
    identity = document_identity("Strider S2 Product Fact Sheet", page, "fact_sheet.docx")
    facts = spec_facts(page, identity)
    assert [(f.metric, f.raw, f.period.label) for f in facts] == [
        ("Strider S2 payload", "300 kg", "September 2025"),
        ("Strider S2 top speed", "2.0 m/s", "September 2025"),
    ]
    assert page[facts[0].char_start : facts[0].char_end] == "300 kg"
    questions = template_questions(facts[0])
    assert questions[0].question == (
        "According to Acme Robotics' specifications as of September 2025, what is the Strider S2's payload?"
    )
    assert questions[0].answer == "As of September 2025, Acme Robotics' Strider S2 has a payload of 300 kg."
    assert all(question_keeps_fact(q.question, facts[0]) is None for q in questions)
    undated = spec_facts(page.replace("September 2025", ""), identity)
    assert undated and all(f.problems for f in undated)  # never dated by a guess


def test_guidance_is_asked_as_of_the_report_that_gave_it() -> None:
    """An outlook changes from one report to the next, so its questions name the report's period as well
    as the period guided for, and the answer states the whole range; without the report's period there
    is no question."""
    q3 = Period("Q3 FY2025", 3, None, 2025, 3, fiscal=True)
    guide = fact("Revenue", "150", "USD", M, raw="$150 million to $156 million", source="outlook", period=q3,
                 high=Decimal(156))  # fmt: skip
    assert format_value(guide) == "$150 million to $156 million"
    assert template_questions(guide) == []
    questions = template_questions(guide, Q2)
    assert questions[0].question == (
        "What revenue did Acme Robotics expect for the third quarter of fiscal 2025 when it reported its "
        "results for the second quarter of fiscal 2025?"
    )
    assert {q.answer for q in questions} == {
        "When it reported its results for the second quarter of fiscal 2025, Acme Robotics expected revenue of "
        "$150 million to $156 million for the third quarter of fiscal 2025."
    }
    assert all(question_keeps_fact(q.question, guide) is None for q in questions)
    fy = Period("FY2025", 12, None, 2025, None, fiscal=True)
    capex = fact("Capital expenditures", "70", "USD", M, raw="approximately $70 million", source="outlook",
                 period=fy)  # fmt: skip
    assert format_value(capex) == "approximately $70 million"
    eps = fact("Non-GAAP diluted EPS", "6.00", "per share USD", raw="$6.00 to $6.40", source="outlook", period=fy,
               high=Decimal("6.40"))  # fmt: skip
    assert format_value(eps) == "$6.00 to $6.40 per share"


def test_an_outflow_row_is_stated_as_a_positive_amount_with_its_verb_agreeing() -> None:
    capex = fact("Purchases of property and equipment", "-9.2", "USD", M, raw="(9.2)")
    answer = template_questions(capex)[0].answer
    assert answer.endswith("Acme Robotics' purchases of property and equipment were $9.2 million.")
    loss = fact("Operating income (loss)", "-1.1", "USD", M, raw="(1.1)")  # not an outflow: the sign stays
    assert template_questions(loss)[0].answer.endswith("operating income (loss) was -$1.1 million.")


@pytest.mark.parametrize(
    ("metric", "verb"),
    [
        ("Provision for income taxes", "was"),  # the head is "provision", not "taxes"
        ("Number of customers", "was"),
        ("Cash and cash equivalents", "were"),
        ("Total operating expenses", "were"),
        ("Net income (loss) per share, diluted", "was"),
    ],
)
def test_the_verb_agrees_with_the_metric_head_noun(metric: str, verb: str) -> None:
    answer = template_questions(fact(metric, "5.0", "USD", M))[0].answer
    assert f" {verb} $5.0 million." in answer
