"""Curation on rows written straight into a real store: checks, dedup, document splits, test leaks."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import write

from synthtune.config import BackendSettings
from synthtune.store import GenerationUnit, NewAnswer, NewQuestion
from synthtune.synth.curate import Curator, curate
from synthtune.synth.examples import dataset_status, get_example, list_examples
from synthtune.synth.facts_stage import extract_facts
from synthtune.text.citations import cite
from synthtune.text.judgments import parse_judgment

COMPANIES = [
    ("Alpha", "152.2", "43.4", "412", "Austin"),
    ("Beta", "88.0", "38.1", "130", "Dayton"),
    ("Gamma", "61.5", "51.0", "77", "Reno"),
    ("Delta", "240.9", "29.7", "1,050", "Boise"),
    ("Epsilon", "12.3", "60.2", "18", "Tulsa"),
    ("Zeta", "99.9", "44.4", "301", "Omaha"),
]
DOCS = {
    f"doc{i}.md": f"# Company {name}, Inc. Reports Fourth Quarter Fiscal 2025 Results\n\n"
    f"Revenue was ${rev} million, and gross margin was {margin}%.\n\n"
    f"Company {name} employs {staff} people in {city}."
    for i, (name, rev, margin, staff, city) in enumerate(COMPANIES)
}
Q4 = "in the fourth quarter of fiscal 2025"


@pytest.fixture
def kb(make_project, tmp_path):
    p = make_project({"curate": {"min_examples_per_chunk": 0, "dedup_threshold": 0.9}})
    for name, text in DOCS.items():
        write(tmp_path / "docs" / name, text)
    p.ingest([tmp_path / "docs"])
    extract_facts(p)
    return p


def add_qa(p, chunk_id: int, question: str, answer: str, kind: str = "factual", cites=None, retrieved=None):
    """A question and its answer, written through the store's operations as generation writes them."""
    cites = [chunk_id] if cites is None else cites
    unit = GenerationUnit(
        f"test:{chunk_id}:{question}", chunk_id, None, kind, 0, "test-writer", "sha-q", "ok", 1
    )
    [qid] = p.store.record_generation_unit(unit, [], [NewQuestion(question, "ok")])
    p.store.record_answer(
        NewAnswer(
            qid, answer, cites, cites if retrieved is None else retrieved, "ok", "test-answerer", "sha-a"
        ),
        None,
    )
    return qid


def chunk_of(p, name: str) -> int:
    """The first chunk of the document whose file is ``name``."""
    chunks = p.store.source_chunks()
    paths = {d.id: d.source_path for d in p.store.documents_info({c.document_id for c in chunks})}
    return next(c.id for c in chunks if paths[c.document_id].endswith(name))


def test_deterministic_checks(kb):
    c0 = chunk_of(kb, "doc0.md")
    good = add_qa(kb, c0, f"What was Company Alpha's revenue {Q4}?", "It was $152.2 million.")
    invented = add_qa(kb, c0, f"What was Company Alpha's net income {Q4}?", "Net income was $17.5 million.")
    refused = add_qa(kb, c0, "How many people does Company Alpha employ?", "The documents do not say.")
    unanswerable_ok = add_qa(
        kb, c0, "Who is Company Alpha's auditor?", "The documents do not say.", kind="unanswerable"
    )
    unanswerable_bad = add_qa(kb, c0, "What is Company Alpha's ticker?", "ALPH.", kind="unanswerable")
    bad_cite = add_qa(kb, c0, "Where is Company Alpha based?", "Austin.", cites=[c0], retrieved=[c0 + 1])
    numeric_no_number = add_qa(
        kb, c0, f"What was Company Alpha's gross margin {Q4}?", "It was healthy.", kind="numeric"
    )
    report = curate(kb, coverage=False)
    by_q = {r["question_id"]: r for r in list_examples(kb.store)}
    assert by_q[good]["status"] == "accepted"
    assert by_q[invented]["reasons"] == ["numbers_grounded", "unverified_number"]
    assert by_q[refused]["reasons"] == ["refusal"]
    assert by_q[unanswerable_ok]["status"] == "accepted"
    assert by_q[unanswerable_bad]["reasons"] == ["refusal"]
    assert by_q[bad_cite]["reasons"] == ["citations_retrieved"]
    assert by_q[numeric_no_number]["reasons"] == ["numeric_answer", "no_answer", "unsupported"]  # "healthy"
    assert report.accepted == 2 and report.rejected == 5
    assert report.by_check == {
        "numbers_grounded": 1,
        "refusal": 2,
        "citations_retrieved": 1,
        "numeric_answer": 1,
        "unverified_number": 1,
        "no_answer": 1,
        "unsupported": 1,
    }
    # numbers in a different but equal form are grounded: "$152.2 million" == "152,200 thousand"
    other = add_qa(
        kb, c0, f"What was Company Alpha's revenue {Q4}, in dollars?", "Revenue was 152,200 thousand dollars."
    )
    curate(kb, coverage=False)
    # (no number check rejects it; it asks what the first revenue question asks)
    assert {r["question_id"]: r for r in list_examples(kb.store)}[other]["reasons"] == ["duplicate"]


def test_near_duplicates_collapse_to_one(kb):
    c0 = chunk_of(kb, "doc0.md")
    a = add_qa(kb, c0, f"What was Company Alpha's revenue {Q4}?", "$152.2 million.")
    b = add_qa(kb, c0, "What was the revenue of Company Alpha in Q4 of fiscal 2025?", "$152.2 million.")
    c = add_qa(kb, c0, "Where does Company Alpha employ its people?", "In Austin.")
    report = curate(kb, coverage=False)
    status = {r["question_id"]: r["status"] for r in list_examples(kb.store)}
    assert report.duplicates_removed == 1
    assert status[a] == "accepted" and status[b] == "rejected" and status[c] == "accepted"


def test_a_duplicate_across_train_and_val_is_kept_in_train(kb, tmp_path):
    """A figure that a val and a train document both state is trained on, although the val question came
    first: kept in val instead, no split would teach it."""
    write(tmp_path / "more" / "alpha_again.md", DOCS["doc0.md"] + "\n\nCompany Alpha is based in Austin.")
    kb.ingest([tmp_path / "more"])
    extract_facts(kb)
    docs = {Path(d.source_path).name: d.id for d in kb.store.documents()}
    for seed in range(50):  # a seed that puts the two reports of Company Alpha in val and train
        kb.settings.curate.seed = seed
        split_of = Curator(kb).split_of()
        pair = {split_of[docs["doc0.md"]], split_of[docs["alpha_again.md"]]}
        if pair == {"train", "val"}:
            break
    else:
        pytest.fail("no seed puts the two reports in train and val")
    val_doc, train_doc = sorted(["doc0.md", "alpha_again.md"], key=lambda n: split_of[docs[n]] != "val")
    first = add_qa(kb, chunk_of(kb, val_doc), f"What was Company Alpha's revenue {Q4}?", "$152.2 million.")
    second = add_qa(kb, chunk_of(kb, train_doc), f"What was Company Alpha's revenue {Q4}?", "$152.2 million.")
    assert first < second
    curate(kb, coverage=False)
    rows = {ex.question_id: ex for ex in kb.store.examples()}
    assert rows[second].status == "accepted" and rows[second].split == "train", rows[second].reasons
    assert rows[first].status == "rejected" and rows[first].reasons == ["duplicate"], rows[first].reasons


def test_splits_are_by_document_and_seeded(kb):
    for name in DOCS:
        cid = chunk_of(kb, name)
        company = f"Company {COMPANIES[int(name[3])][0]}"
        city = COMPANIES[int(name[3])][4]
        add_qa(
            kb, cid, f"In which city does {company} employ people?", f"{company} employs people in {city}."
        )
    report = curate(kb, coverage=False)
    rows = list_examples(kb.store, status="accepted")
    splits_of_doc: dict[int, set[str]] = {}
    for r in rows:
        splits_of_doc.setdefault(r["document_id"], set()).add(r["split"])
    assert all(len(s) == 1 for s in splits_of_doc.values()), "a document is in two splits"
    assert {next(iter(s)) for s in splits_of_doc.values()} == {"train", "val", "test"}
    assert sum(report.splits.values()) == report.accepted
    first = {r["id"]: r["split"] for r in rows}
    curate(kb, coverage=False)
    assert {r["id"]: r["split"] for r in list_examples(kb.store, status="accepted")} == first


def test_explicit_test_documents_and_test_leak_removal(kb, tmp_path):
    # a second report of Company Alpha, forced into the test split
    write(tmp_path / "more" / "alpha_q3.md", DOCS["doc0.md"].replace("Fourth", "Third"))
    kb.ingest([tmp_path / "more"])
    extract_facts(kb)
    kb.settings.curate.test_documents = ["alpha_q3.md"]
    c0, c1 = chunk_of(kb, "doc0.md"), chunk_of(kb, "alpha_q3.md")
    leak = add_qa(kb, c0, "How many employees does Company Alpha have?", "It employs people.")
    tested = add_qa(kb, c1, "How many employees does Company Alpha have?", "It employs people, too.")
    curate(kb, coverage=False)
    rows = {ex.question_id: ex for ex in kb.store.examples()}
    assert rows[tested].status == "accepted" and rows[tested].split == "test", rows[tested].reasons
    assert rows[tested].source_path.endswith("alpha_q3.md")
    # the leak is caught by the split check, before dedup could call it a mere duplicate
    assert rows[leak].status == "rejected" and rows[leak].split is None
    assert rows[leak].reasons == ["test_leak"] and rows[leak].checks["test_leak"] is False


def test_examples_show_and_status(kb):
    c0 = chunk_of(kb, "doc0.md")
    add_qa(kb, c0, f"What was Company Alpha's revenue {Q4}?", "It was $152.2 million.")
    curate(kb, coverage=False)
    ex = list_examples(kb.store)[0]
    for key in (
        "id",
        "question",
        "answer",
        "split",
        "status",
        "document_id",
        "title",
        "page_start",
        "page_end",
        "chunk_id",
        "question_generator",
        "answer_generator",
        "prompt_sha",
        "citations",
        "checks",
    ):
        assert key in ex
    shown = get_example(kb.store, ex["id"])
    assert [p["chunk_id"] for p in shown["passages"]] == [c0]
    assert shown["passages"][0]["text"].count("152.2") == 1
    st = dataset_status(kb.store)
    assert st["examples"]["accepted"] == 1
    assert st["coverage"]["chunks_attempted"] == 1


def test_parse_judgment_and_cite():
    """A judge's reply gives its 1-5 score ("Score: N" in any common markup, else "N/5" or "N out of 5")
    and its reason (the reply itself when it gave none); a reply without a score is None, not a default.
    An answer's citations are its [n] markers, else the passages holding its numbers, else its words."""
    assert parse_judgment("Score: 4\nReason: clear and specific.") == (4, "clear and specific.")
    assert parse_judgment("I'd give it 2/5 because it is vague")[0] == 2
    assert parse_judgment("Right figure, 5 out of 5") == (5, "Right figure, 5 out of 5")
    assert parse_judgment("no idea") == (None, "no idea")
    assert parse_judgment("**Score**: 2\n**Reason:** vague")[0] == 2
    assert parse_judgment("**Score:** 5")[0] == 5
    assert parse_judgment("score = 3")[0] == 3
    assert parse_judgment("Score: 7\nReason: off the scale")[0] is None
    # what the bundled 135M model replies to the shipped judge prompts: a number, but not a score
    assert parse_judgment("The answer is: 5.")[0] is None
    passages = [{"id": 10, "text": "Revenue was $152.2 million."}, {"id": 11, "text": "Margin was 43.4%."}]
    assert cite("Margin was 43.4% [2].", passages) == [11]
    assert cite("Revenue was $152.2 million.", passages) == [10]
    assert cite("The margin improved.", passages) == [11]


def test_curator_without_judge_has_no_judge_checks(kb):
    c0 = chunk_of(kb, "doc0.md")
    add_qa(kb, c0, f"What was Company Alpha's revenue {Q4}?", "It was $152.2 million.")
    rows, scores = Curator(kb).evaluate()
    assert scores == {} and "judge_question" not in rows[0].checks


# Judge prompts in a form the bundled 135M model follows (set with generate.prompts). To the shipped ones it
# never replies "Score: N"; to these it replies "Score: 4" or "Score: 2" for most subjects (greedy: always
# the same reply), so the scores that decide below are parsed from real replies. They ask for a format,
# not for a judgment to trust: what is tested is what curation does with the scores.
JUDGE_QUESTION = """Rate this question from 1 to 5.
Question: {{ question }}
Passage: {{ text }}
Reply 'Score: 4' if the passage answers it, else 'Score: 2'."""
JUDGE_ANSWER = """Rate this question and answer from 1 to 5.
Question: {{ question }} {{ answer }}
Passage: {% for p in passages %}{{ p.text }} {% endfor %}
Reply 'Score: 4' if the passage answers it, else 'Score: 2'."""


def judged_as_replied(kb) -> None:
    """Every stored judgment is its logged reply, parsed: (score, rationale) == parse_judgment(reply)."""
    stored = sorted((j.score or 0, j.rationale) for j in kb.store.judgments())
    parsed = (parse_judgment(c.raw_output) for c in kb.store.llm_calls("judge"))
    assert stored == sorted((score or 0, why) for score, why in parsed)


def test_judge_scores_are_parsed_stored_and_decide(kb, tmp_path, bundled_llm):
    """With the bundled model as judge: every judgment stores the score parsed from the model's reply
    (some are scores, not None), the thresholds decide the judge checks and so acceptance, and a second
    curate reads the judgments from the store instead of asking again, also when the thresholds change."""
    for name, text in (("judge_question", JUDGE_QUESTION), ("judge_answer", JUDGE_ANSWER)):
        write(tmp_path / f"{name}.j2", text)
        kb.settings.generate.prompts[name] = str(tmp_path / f"{name}.j2")
    kb.settings.llm.judge = bundled_llm.settings
    c0, c1 = chunk_of(kb, "doc0.md"), chunk_of(kb, "doc1.md")
    asked = [
        add_qa(kb, c0, f"What was Company Alpha's revenue {Q4}?", "It was $152.2 million."),
        add_qa(
            kb,
            c0,
            "In which city does Company Alpha employ people?",
            "Company Alpha employs people in Austin.",
        ),
        add_qa(kb, c1, "How many people does Company Beta employ?", "Company Beta employs 130 people."),
    ]
    curate(kb, coverage=False, judge=bundled_llm)
    assert kb.store.llm_call_count("judge") == 2 * len(asked)  # one quality, one faithfulness each
    judged_as_replied(kb)
    judgments = kb.store.judgments()
    assert {j.judge for j in judgments} == {"HuggingFaceTB/SmolLM2-135M-Instruct"}
    assert any(j.score is not None for j in judgments), [c.raw_output for c in kb.store.llm_calls("judge")]
    assert all(j.passed == (j.score is not None and j.score >= 3) for j in judgments)

    def decided(min_question: int, min_faithfulness: int) -> dict[int, tuple[bool, bool, str]]:
        """Curate with these thresholds; assert each judge check is its stored score against them, that a
        failed check rejects and is counted. Returns each question's judge checks and status."""
        kb.settings.curate.judge_min_question = min_question
        kb.settings.curate.judge_min_faithfulness = min_faithfulness
        report = curate(kb, coverage=False, judge=bundled_llm)
        decisions = {}
        for e in kb.store.examples():
            scores = {j.criterion: j.score for j in kb.store.judgments(e.question_id, e.answer_id)}
            q, f = scores["quality"], scores["faithfulness"]
            assert e.checks["judge_question"] == (q is not None and q >= min_question)
            assert e.checks["judge_faithfulness"] == (f is not None and f >= min_faithfulness)
            for check in ("judge_question", "judge_faithfulness"):
                assert (check in e.reasons) == (not e.checks[check])
            assert (e.status == "accepted") == (e.reasons == [])
            decisions[e.question_id] = (e.checks["judge_question"], e.checks["judge_faithfulness"], e.status)
        for check in ("judge_question", "judge_faithfulness"):
            assert report.by_check.get(check, 0) == sum(not e.checks[check] for e in kb.store.examples())
        return decisions

    decided(3, 3)
    # scores under 5 pass at 1 and fail at 5: the thresholds, not the verdicts stored, decide acceptance
    lenient, strict = decided(1, 1), decided(5, 5)
    assert {d[2] for d in strict.values()} == {"rejected"}
    assert "accepted" in {d[2] for d in lenient.values()}
    assert kb.store.llm_call_count("judge") == 2 * len(asked)  # judged once, read back since
    assert sorted(e.question_id for e in kb.store.examples()) == sorted(asked)


@pytest.mark.slow
def test_llm_judges_with_the_bundled_model(kb):
    """With the shipped judge prompts, curation loads the judge that llm.judge names (the bundled model)
    and stores each judgment as its logged reply parsed, once."""
    kb.settings.llm.judge = BackendSettings(max_new_tokens=32)
    c0 = chunk_of(kb, "doc0.md")
    q = add_qa(kb, c0, f"What was Company Alpha's revenue {Q4}?", "It was $152.2 million.")
    report = curate(kb, coverage=False)
    rows = kb.store.judgments()
    assert [r.criterion for r in rows] == ["faithfulness", "quality"]
    assert all(r.judge == "HuggingFaceTB/SmolLM2-135M-Instruct" and r.rationale for r in rows)
    judged_as_replied(kb)
    # the 135M model does not follow the shipped prompts' reply format ("Score: N"): an unparsed reply is
    # no score and fails its check (parsed scores deciding: test_judge_scores_are_parsed_stored_and_decide)
    assert all(r.score is None or 1 <= r.score <= 5 for r in rows)
    assert all(r.passed == (r.score is not None and r.score >= 3) for r in rows)
    ex = {e.question_id: e for e in kb.store.examples()}[q]
    assert "judge_question" in ex.checks and "judge_faithfulness" in ex.checks
    assert ex.status == ("accepted" if all(r.passed for r in rows) else "rejected")
    assert kb.store.llm_call_count("judge") == 2
    # judged once: a second curate reads the judgments from the store
    curate(kb, coverage=False)
    assert kb.store.llm_call_count("judge") == 2
    assert report.accepted + report.rejected == 1


def test_reviews_of_unchanged_examples_survive_a_reingest(kb, tmp_path):
    """A changed file is a new document (its questions and examples go with the old one); the examples
    that come back with the same question and answer keep the humans' decisions."""
    from synthtune.synth.fact_questions import generate_fact_questions

    generate_fact_questions(kb)
    curate(kb, coverage=False)
    alpha = [e for e in kb.store.reviewed_examples(status="accepted") if "Company Alpha" in e.question]
    assert len(alpha) >= 2
    edited, rejected = alpha[0], alpha[1]
    kb.store.record_review(edited.id, "edit", "me", answer="Revenue was $152.2 million (edited).")
    kb.store.record_review(rejected.id, "reject", "me")
    # the file changes (a sentence added), so the document is replaced and re-derived
    path = tmp_path / "docs" / "doc0.md"
    path.write_text(path.read_text(encoding="utf-8") + "\n\nThe company has a new logo.", encoding="utf-8")
    assert kb.ingest([tmp_path / "docs"]).updated == 1
    assert {edited.id, rejected.id} <= set(kb.store.orphaned_reviews())
    extract_facts(kb)
    generate_fact_questions(kb)
    report = curate(kb, coverage=False)
    assert (report.reviews_kept, report.reviews_orphaned) == (2, 0)
    assert kb.store.orphaned_reviews() == []
    by_question = {e.question: e for e in kb.store.reviewed_examples()}
    assert by_question[edited.question].answer == "Revenue was $152.2 million (edited)."
    assert by_question[edited.question].id != edited.id  # a new example, the old decision on it
    assert by_question[rejected.question].status == "rejected"


def test_fact_questions_also_use_the_short_name_the_documents_use(make_project, tmp_path):
    """The call says "Zenith" alone, so some phrasings of the release's facts ask by it, and their answers
    say it; a company its documents never shorten is asked by its full name only."""
    from synthtune.synth.fact_questions import generate_fact_questions

    write(
        tmp_path / "z" / "zenith_release.md",
        "# Zenith Robotics, Inc. Reports Fourth Quarter Fiscal 2025 Results\n\n"
        "Revenue was $152.2 million, and gross margin was 43.4%. Operating income was $9.4 million.",
    )
    write(
        tmp_path / "z" / "zenith_call.md",
        "# Zenith Robotics, Inc. Fourth Quarter Fiscal 2025 Earnings Call\n\n"
        "Orders at Zenith rose, and we thank the teams across Zenith for the quarter.",
    )
    write(
        tmp_path / "z" / "apex_release.md",
        "# Apex Drones, Inc. Reports Fourth Quarter Fiscal 2025 Results\n\nRevenue was $61.5 million.",
    )
    p = make_project({"generate": {"phrasings_per_fact": 8}})
    p.ingest([tmp_path / "z"])
    extract_facts(p)
    assert generate_fact_questions(p).questions > 0
    rows = p.store._rows(
        "SELECT q.text AS q, a.text AS a FROM questions q JOIN answers a ON a.question_id = q.id"
    )
    zenith = [(r["q"], r["a"]) for r in rows if "Zenith" in r["q"]]
    short = [(q, a) for q, a in zenith if "Zenith Robotics" not in q]
    assert short and len(short) < len(zenith)
    assert all("Zenith Robotics" not in a and "Zenith" in a for _, a in short)
    assert not any("Apex" in r["q"] and "Apex Drones" not in r["q"] for r in rows)
