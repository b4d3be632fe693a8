"""Training data a person would sign off (issue 10): facts and identities in the store, template questions
from facts, checks against what the question asks, splits that hold. On the demo's real documents."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from synthtune.store import GenerationUnit, NewAnswer, NewQuestion
from synthtune.synth.curate import curate
from synthtune.synth.fact_questions import generate_fact_questions
from synthtune.synth.facts_stage import extract_facts
from synthtune.synth.splits import document_splits

DEMO = Path(__file__).resolve().parents[1] / "examples" / "acme" / "docs"
RELEASE = "acme_q3_fy2025_earnings_release.pdf"
CALL = "acme_q3_fy2025_earnings_call.txt"
Q3 = "in the third quarter of fiscal 2025"


@pytest.fixture
def acme(make_project, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in (RELEASE, CALL):
        shutil.copy(DEMO / name, docs / name)
    p = make_project({"curate": {"min_examples_per_chunk": 0, "split_ratios": {"train": 1.0}}})
    p.ingest([docs])
    extract_facts(p)
    return p


def doc_id(p, name: str) -> int:
    return next(d.id for d in p.store.documents() if d.source_path.endswith(name))


def chunk_with(p, name: str, *texts: str) -> int:
    """The first chunk of document ``name`` holding every one of ``texts``."""
    return next(c.id for c in p.store.chunks(doc_id(p, name)) if all(t in c.text for t in texts))


def add_qa(p, chunk_id: int, question: str, answer: str, kind: str = "numeric", cites=None) -> int:
    cites = [chunk_id] if cites is None else cites
    unit = GenerationUnit(f"t:{chunk_id}:{question}:{answer}", chunk_id, None, kind, 0, "w", "sq", "ok", 1)
    [qid] = p.store.record_generation_unit(unit, [], [NewQuestion(question, "ok")])
    p.store.record_answer(NewAnswer(qid, answer, cites, cites, "ok", "a", "sa"), None)
    return qid


def curate_examples(p):
    curate(p, coverage=False)
    return p.store.examples()


def reasons(p) -> dict[int, list[str]]:
    curate(p, coverage=False)
    return {e.question_id: e.reasons for e in p.store.examples()}


def test_identity_and_facts_are_stored(acme):
    release = acme.store.document_identity(doc_id(acme, RELEASE))
    assert release.subject == "Acme Robotics, Inc." and release.form == "earnings release"
    assert release.period["quarter"] == 3 and release.period["fiscal_year"] == 2025
    facts = acme.store.facts(doc_id(acme, RELEASE), usable=True)
    margin = [
        f for f in facts if f.metric == "Gross margin" and f.period["quarter"] == 3 and f.source == "table"
    ]
    assert margin and margin[0].value == "43.4" and margin[0].unit == "%" and margin[0].table_cell
    page = next(pg.text for pg in acme.store.pages(doc_id(acme, RELEASE)) if pg.page_no == margin[0].page_no)
    assert page[margin[0].char_start : margin[0].char_end] == margin[0].raw
    status = acme.store.facts_status()
    assert status.facts == len(acme.store.facts())
    assert status.facts_with_problems == len(acme.store.facts(usable=False)) > 0
    assert status.documents_without_subject == [] and status.documents_with_facts == 2


def test_an_override_re_derives_only_that_document(acme):
    call_facts = [f.id for f in acme.store.facts(doc_id(acme, CALL))]
    generate_fact_questions(acme)
    call_questions = {e.question_id for e in curate_examples(acme) if e.document_id == doc_id(acme, CALL)}
    acme.settings.documents = {"acme_q3*.pdf": {"subject": "Acme Automation, Inc."}}
    assert extract_facts(acme)["documents"] == 1
    assert [f.id for f in acme.store.facts(doc_id(acme, CALL))] == call_facts
    redone = acme.store.facts(doc_id(acme, RELEASE))
    assert redone and {f.subject for f in redone} == {"Acme Automation, Inc."}
    generate_fact_questions(acme)
    after = curate_examples(acme)
    assert {e.question_id for e in after if e.document_id == doc_id(acme, CALL)} == call_questions
    release_questions = [e.question for e in after if e.document_id == doc_id(acme, RELEASE)]
    # asked by the new name (some phrasings by the short name "Acme" its documents use), never the old one
    assert any("Acme Automation" in q for q in release_questions)
    assert not any("Acme Robotics" in q for q in release_questions)
    identity = acme.store.document_identity(doc_id(acme, RELEASE))
    assert identity.subject == "Acme Automation, Inc." and identity.overridden
    assert extract_facts(acme)["documents"] == 0


def test_a_changed_pdf_keeps_prose_facts_and_says_why(acme, tmp_path):
    (tmp_path / "docs" / RELEASE).write_bytes(b"%PDF-1.4 changed")
    acme.settings.documents = {RELEASE: {"period": "Q3 FY2025"}}  # forces a re-derivation
    extract_facts(acme)
    identity = acme.store.document_identity(doc_id(acme, RELEASE))
    assert any("changed since it was ingested" in r for r in identity.reasons)
    assert {f.source for f in acme.store.facts(doc_id(acme, RELEASE))} == {"prose", "outlook"}  # no tables


# -- the four accepted examples of issue 10, each rejected by the check that should reject it ---------


def test_gross_margin_answered_with_the_operating_margin(acme):
    c = chunk_with(acme, RELEASE, "4.3%", "43.4%")
    vague = add_qa(acme, c, "What is the gross margin of the company?", "4.3%")
    asked = add_qa(acme, c, f"What was Acme Robotics' gross margin {Q3}?", "4.3%")
    right = add_qa(acme, c, f"What was Acme Robotics' gross margin {Q3}?", "43.4%.")
    got = reasons(acme)
    assert "not_standalone" in got[vague]
    assert got[asked] == ["wrong_fact"]
    assert got[right] == []


def test_diluted_eps_answered_with_net_income_and_a_margin(acme):
    c = chunk_with(acme, RELEASE, "7.1 million", "14.8%", "0.16")
    vague = add_qa(acme, c, "What is the net income per share diluted?", "$7.1 million, or 14.8% of revenue.")
    q = f"What was Acme Robotics' diluted net income per share {Q3}?"
    asked = add_qa(acme, c, q, "$7.1 million, or 14.8% of revenue.")
    right = add_qa(acme, c, q, "$0.16 per diluted share.")
    got = reasons(acme)
    assert "not_standalone" in got[vague]
    assert got[asked] == ["wrong_fact"]
    assert got[right] == []


def test_gross_margin_answered_with_a_quote_and_no_number(acme):
    c = chunk_with(acme, RELEASE, "Gross margin")
    quote = '"Gross margin expanded as the software mix grew."'
    vague = add_qa(acme, c, "What is the gross margin?", quote)
    asked = add_qa(acme, c, f"What was Acme Robotics' gross margin {Q3}?", quote)
    got = reasons(acme)
    assert "not_standalone" in got[vague] and "no_answer" in got[vague]
    assert got[asked] == ["numeric_answer", "no_answer", "unsupported"]  # the quote is not in the source


def test_investment_answered_with_a_period(acme):
    c = chunk_with(acme, CALL, "Reno investment")
    vague = add_qa(acme, c, "What is the current investment from the investor?", "2025-2026.", "factual")
    asked = add_qa(
        acme,
        c,
        "What total investment does Acme Robotics expect in its Reno factory?",
        "2025-2026.",
        "factual",
    )
    got = reasons(acme)
    assert got[vague] == ["not_standalone", "no_answer"]
    assert got[asked] == ["no_answer"]


def test_answers_about_the_text_restating_or_in_another_period(acme):
    c = chunk_with(acme, RELEASE, "4.3%", "43.4%")
    q = f"What was Acme Robotics' gross margin {Q3}?"
    about = add_qa(acme, c, q, "The passage says the gross margin was 43.4%.")
    restated = add_qa(
        acme, c, "Who is Acme Robotics' chief executive?", "Acme Robotics' chief executive.", "factual"
    )
    other_quarter = add_qa(acme, c, q, "It was 43.4% in the second quarter of fiscal 2025.")
    got = reasons(acme)
    assert got[about] == ["about_the_text", "unsupported"]  # "the passage says" is not in the passage
    assert got[restated] == ["restates_question"]
    assert got[other_quarter] == ["wrong_period"]


# -- questions from facts ----------------------------------------------------------------------------


def test_fact_questions_stand_alone_and_cite_their_span(acme):
    acme.settings.generate.max_facts_per_document = 8
    made = generate_fact_questions(acme)
    assert made.questions == 3 * made.facts and made.facts >= 8
    assert generate_fact_questions(acme).questions == 0  # done units are skipped
    report = curate(acme, coverage=False)
    accepted = acme.store.examples(status="accepted")
    fact_rows = [e for e in accepted if e.kind == "fact"]
    assert len(fact_rows) >= 0.9 * made.questions, report.by_check
    by_question = acme.store.question_facts([e.question_id for e in fact_rows])
    for e in fact_rows:
        fact = acme.store.fact(by_question[e.question_id])
        assert re.search(r"\bAcme\b", e.question) and e.answer_generator == "template"  # or "Acme's"
        [cited] = e.citations
        chunk = next(c for c in acme.store.chunks(e.document_id) if c.id == cited)
        assert chunk.char_start <= fact.char_start and fact.char_end <= chunk.char_end
    revenue = [e for e in fact_rows if e.question.startswith("What was Acme Robotics' revenue in the third")]
    assert revenue and "$152.2 million" in revenue[0].answer


def test_a_quarters_balance_sheet_is_asked_before_the_figures_it_is_compared_with(acme):
    """In a quarter's release, the balances at the quarter's end (the balance sheet's first column) are the
    quarter's own figures: they rank after the quarter's results and before the year-ago and year-to-date
    columns, which the cap on facts per document cuts first."""
    from synthtune.synth.fact_questions import rank_facts
    from synthtune.text.periods import period_from_json

    rid = doc_id(acme, RELEASE)
    ranked = rank_facts(acme.store.facts(rid, usable=True), acme.store.document_identities()[rid].period)
    tables = [(period_from_json(f.period).label, f.metric) for f in ranked if f.source == "table"]
    at = {label: [i for i, (lab, _) in enumerate(tables) if lab == label] for label, _ in tables}
    quarter, balance = at["Q3 FY2025"], at["September 30, 2025"]
    earlier = at["Q3 FY2024"] + at["Nine months ended Sep 30, 2025"] + at["Nine months ended Sep 30, 2024"]
    assert {"Inventories", "Total assets"} <= {tables[i][1] for i in balance}
    assert min(balance) > min(quarter) and max(balance) < min(earlier)


def test_a_figure_stated_in_the_release_and_its_call_is_asked_once(acme):
    generate_fact_questions(acme)
    made = acme.store.question_facts([e.question_id for e in acme.store.candidates()])
    by_figure: dict[tuple, set[int]] = {}
    for fid in set(made.values()):
        f = acme.store.fact(fid)
        key = (f.metric.lower(), json.dumps(f.period, sort_keys=True), f.value)
        by_figure.setdefault(key, set()).add(f.document_id)
    assert by_figure and all(len(docs) == 1 for docs in by_figure.values())
    revenue = [k for k in by_figure if k[0] == "revenue" and "152.2" in k[2]]
    assert len(revenue) == 1  # the call says it too, and was not asked it again


def _revenue_askers(p) -> set[str]:
    """The files whose facts the Q3 revenue questions were made from."""
    made = p.store.question_facts([e.question_id for e in p.store.candidates()])
    facts = [p.store.fact(fid) for fid in set(made.values())]
    docs = {d.id: Path(d.source_path).name for d in p.store.documents()}
    return {docs[f.document_id] for f in facts if f.metric.lower() == "revenue" and "152.2" in f.value}


@pytest.mark.parametrize("held", ["test", "val"])
def test_a_figure_two_splits_state_is_asked_where_it_is_held_out_or_trained_on(acme, held):
    """The release and its call both state Q3 revenue. With the release in test, only the release asks it
    (the call's question would be a test leak); with the call in val, only the release (train) asks it, so
    that the figure is trained on. Either way the call's slot goes to another of its figures."""
    if held == "test":
        acme.settings.curate.test_documents = [RELEASE]
    else:
        acme.settings.curate.split_ratios = {"train": 0.5, "val": 0.5}
        for seed in range(50):
            acme.settings.curate.seed = seed
            if document_splits(acme.store.documents(), acme.settings.curate)[doc_id(acme, CALL)] == "val":
                break
        else:
            pytest.fail("no seed puts the call in val")
    generate_fact_questions(acme)
    assert _revenue_askers(acme) == {RELEASE}


def test_new_templates_replace_the_old_questions(acme, monkeypatch):
    from synthtune.synth import fact_questions

    acme.settings.generate.max_facts_per_document = 4
    first = generate_fact_questions(acme).questions
    monkeypatch.setattr(fact_questions, "TEMPLATE_SHA", "templates-of-a-later-version")
    assert generate_fact_questions(acme).questions == first  # every fact asked anew
    curate(acme, coverage=False)
    examples = acme.store.examples()
    fact_rows = [e for e in examples if e.kind == "fact"]
    assert len(fact_rows) == first  # not twice
    assert {e.question_prompt_sha for e in fact_rows} == {"templates-of-a-later-version"}


def test_changed_phrasing_and_fact_settings_replace_the_old_questions(acme):
    """More phrasings per fact, then fewer facts, then none: each time the fact questions are those the
    settings now make, never the old ones as well (an edit that added to them would train on both)."""

    def fact_questions() -> dict[int, list[str]]:
        curate(acme, coverage=False)
        rows = [e for e in acme.store.examples() if e.kind == "fact"]
        fact_of = acme.store.question_facts([e.question_id for e in rows])
        by_fact: dict[int, list[str]] = {}
        for e in rows:
            by_fact.setdefault(fact_of[e.question_id], []).append(e.question)
        return by_fact

    g = acme.settings.generate
    g.max_facts_per_document, g.phrasings_per_fact = 4, 2
    generate_fact_questions(acme)
    two = fact_questions()
    assert len(two) == 8 and all(len(qs) == 2 for qs in two.values())
    g.phrasings_per_fact = 5
    generate_fact_questions(acme)
    five = fact_questions()
    assert five.keys() == two.keys()
    # five phrasings (an outlook has four in all), none twice
    assert all(len(qs) == len(set(qs)) in (4, 5) for qs in five.values()), five
    assert max(len(qs) for qs in five.values()) == 5
    g.max_facts_per_document = 2
    generate_fact_questions(acme)
    fewer = fact_questions()
    assert len(fewer) == 4 and all(len(qs) == len(set(qs)) in (4, 5) for qs in fewer.values())
    g.phrasings_per_fact = 0
    generate_fact_questions(acme)
    assert fact_questions() == {}


def test_one_wording_of_a_fact_twice_is_a_duplicate_and_other_wordings_are_kept(acme):
    acme.settings.generate.max_facts_per_document = 1
    generate_fact_questions(acme)
    first = next(q for q in acme.store.candidates() if q.kind == "fact")
    fact_id = acme.store.question_facts([first.question_id])[first.question_id]
    # the fact's first phrasing again, from another unit (as two settings once made), and a new wording
    unit = GenerationUnit("again", first.chunk_id, None, "fact", 0, "template", "sha", "ok", 2)
    again = [(first.question, first.answer), (f"Tell me: {first.question}", first.answer)]
    acme.store.record_fact_questions(unit, fact_id, again, "sha")
    curate(acme, coverage=False)
    rows = [e for e in acme.store.examples() if e.kind == "fact"]
    same = [e for e in rows if e.question == first.question]
    assert len(same) == 2 and sorted("duplicate" in e.reasons for e in same) == [False, True]
    reworded = [e for e in rows if e.question.startswith("Tell me")]
    assert reworded and "duplicate" not in reworded[0].reasons


# -- splits ------------------------------------------------------------------------------------------


def test_no_accepted_example_cites_a_document_of_another_split(acme):
    acme.settings.curate.test_documents = [CALL]
    generate_fact_questions(acme)
    release_chunk = chunk_with(acme, RELEASE, "43.4%")
    call_chunk = chunk_with(acme, CALL, "Reno investment")
    crossing = add_qa(
        acme, call_chunk, f"What was Acme Robotics' gross margin {Q3}?", "43.4%.", cites=[release_chunk]
    )
    curate(acme, coverage=False)
    examples = acme.store.examples()
    assert {e.question_id: e for e in examples}[crossing].reasons == ["split_leak"]
    split_of = {e.document_id: e.split for e in examples if e.status == "accepted"}
    owner = {c.id: c.document_id for c in acme.store.chunks()}
    for e in examples:
        if e.status == "accepted":
            assert all(split_of.get(owner[c]) == e.split for c in e.citations), e.question


def test_a_figure_the_test_split_asks_is_not_trained_on_however_its_period_is_written(acme):
    """The call (test) and the release (train) both state Q3 revenue, one as "third quarter fiscal 2025",
    the other under "Three months ended Sep 30, 2025" (and as "total revenue"): the release's questions on
    it are test leaks. Both give the Q4 outlook, the same figure under the same name: the release does not
    even ask it, since the call (test) did."""
    acme.settings.curate.test_documents = [CALL]
    generate_fact_questions(acme)
    curate(acme, coverage=False)
    examples = acme.store.examples()
    leaks = [e for e in examples if "test_leak" in e.reasons]
    assert {e.document_id for e in leaks} == {doc_id(acme, RELEASE)}
    assert "total revenue in the third quarter of fiscal 2025" in " ".join(e.question for e in leaks)
    outlook = "expect for the fourth quarter of fiscal 2025"
    assert {e.document_id for e in examples if outlook in e.question} == {doc_id(acme, CALL)}
    trained = [e for e in examples if e.split == "train"]
    assert trained and not any(
        "152.2" in e.answer or "$158 million to $165 million" in e.answer for e in trained
    )


def test_answer_retrieval_stays_in_the_question_split(acme):
    from synthtune.store.dataset import Question
    from synthtune.synth.generate import Generator

    acme.settings.curate.test_documents = [CALL]
    call_chunk = chunk_with(acme, CALL, "Reno investment")
    question = Question(0, call_chunk, None, f"What was Acme Robotics' gross margin {Q3}?", "numeric")
    owner = {c.id: c.document_id for c in acme.store.chunks()}
    passages = Generator(acme).passages(question)
    assert len(passages) >= 2 and {owner[p["id"]] for p in passages} == {doc_id(acme, CALL)}
    # unrestricted, the release (another split) would have answered it
    assert doc_id(acme, RELEASE) in {h.document_id for h in acme.search(question.text, k=3)}
