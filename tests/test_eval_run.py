"""`synthtune eval` on a project with a tiny random model: every system answers every question, metrics,
intervals and comparisons come out, results.json and report.html are written, the evaluation is recorded;
bad gold files are refused naming the line."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml
from conftest import one_line_error, synthtune_cmd, write
from test_cli import run  # noqa: F401  (fixture: the CLI in process)
from test_curate import DOCS
from test_train import bpe, tiny_dir  # noqa: F401  (module fixtures)
from test_train_stage import add_two_questions_per_document

from synthtune.config import BackendSettings
from synthtune.evaluate.run import Answer, GoldFileError, Question, System, judge_answers, load_gold
from synthtune.project import Project
from synthtune.synth.curate import curate
from synthtune.text.judgments import parse_judgment

GOLD = [
    {"question": "What was Company Alpha's revenue in fiscal 2025?", "answer": "$152.2 million", "document": "doc0.md", "page": 1},
    {"question": "How many people does Company Beta employ?", "answer": "130 people", "document": "doc1.md"},
    {"question": "Who audits Company Gamma?", "answer": "The documents do not say.", "answerable": False},
]  # fmt: skip


@pytest.fixture
def project(make_project, tmp_path, tiny_dir):  # noqa: F811
    gold = tmp_path / "gold.jsonl"
    gold.write_text("".join(json.dumps(r) + "\n" for r in GOLD))
    settings = {
        "train": {
            "base_model": tiny_dir,
            "learning_rate": 0.01,
            "batch_size": 2,
            "grad_accum": 1,
            "lora_r": 4,
            "max_steps": 2,
            "eval_steps": 1000,
            "save_steps": 1000,
        },
        "eval": {"gold": str(gold), "max_new_tokens": 8, "bootstrap_resamples": 200, "k": 2},
    }
    p = make_project(settings)
    # the commands below read the project's synthtune.yaml
    (p.dir / "synthtune.yaml").write_text(yaml.safe_dump(settings))
    for name, text in DOCS.items():
        write(tmp_path / "docs" / name, text)
    p.ingest([tmp_path / "docs"])
    add_two_questions_per_document(p)
    report = curate(p, coverage=False)
    assert report.splits["train"] > 0 and report.splits["test"] > 0
    return p


def test_eval_compares_every_system_and_writes_the_report(project, run):  # noqa: F811
    d = str(project.dir)
    project.close()
    for args in (["train", "--json"], ["merge", "--json"]):
        code, _, err = run("-C", d, *args)
        assert code == 0, err
    code, out, err = run("-C", d, "eval", "--json")
    assert code == 0, err
    summary = json.loads(out)
    results = json.loads((project.dir / "report" / "results.json").read_text())
    assert summary["report"].endswith("report.html")
    assert [s["name"] for s in results["systems"]] == ["base", "tuned", "base+rag", "tuned+rag"]
    n_test = results["dataset"]["question_sets"]["test"]
    assert results["dataset"]["question_sets"]["gold"] == len(GOLD) and n_test > 0
    for s in results["systems"]:
        m = s["metrics"]
        assert m["n"] == len(GOLD) + n_test
        for key in ("token_f1", "rouge_l", "semantic_similarity", "refusal_accuracy", "numeric_match"):
            assert m[key] is not None and 0.0 <= m[key] <= 1.0, (s["name"], key)
        # retrieval is measured only where passages were retrieved
        assert (m["recall_at_k"] is not None) == s["rag"]
        assert s["kind"] == ("tuned" if s["name"].startswith("tuned") else "base")
    merged = project.dir / "merged"
    assert results["systems"][1]["model"] == str(merged.resolve())
    # every difference is paired against base, with an interval around it
    against = {(c["system"], c["metric"]) for c in results["comparisons"]}
    assert ("tuned", "token_f1") in against and ("tuned+rag", "mrr") not in against  # base has no mrr
    for c in results["comparisons"]:
        assert c["against"] == "base" and c["ci_low"] <= c["difference"] <= c["ci_high"]
    # every question has every system's answer with its scores; rag answers cite retrieved passages
    for q in results["questions"]:
        assert set(q["answers"]) == {"base", "tuned", "base+rag", "tuned+rag"}
        assert all("token_f1" in a["scores"] for a in q["answers"].values())
        assert all(c["chunk_id"] for c in q["answers"]["base+rag"]["citations"])
        assert q["answers"]["base"]["citations"] == []
    # knowledge (closed book, documents trained on) apart from skill (with passages, unseen documents)
    with Project(project.dir) as p:
        trained = {
            Path(e.source_path).name for e in p.store.reviewed_examples(status="accepted", split="train")
        }
    assert trained
    for q in results["questions"]:
        assert q["scope"] == ("knowledge" if q["document"] in trained else "skill"), q
    scopes = results["scopes"]
    assert sum(sc["n"] for sc in scopes.values()) == len(results["questions"])
    assert "skill" in scopes and all(
        q["set"] != "test" or q["scope"] == "skill" for q in results["questions"]
    )
    for name, sc in scopes.items():
        rag = name == "skill"
        assert [x["name"] for x in sc["systems"]] == (["base+rag", "tuned+rag"] if rag else ["base", "tuned"])
        assert {c["against"] for c in sc["comparisons"]} <= {"base+rag" if rag else "base"}
        assert sc["comparisons"] or sc["n"] < 2  # a comparison needs two questions
        assert all(x["metrics"]["n"] == sc["n"] for x in sc["systems"])
    html = (project.dir / "report" / "report.html").read_text()
    assert 'id="scope-skill"' in html and "Knowledge and skill" in html
    # answering only in scope: the same knowledge and skill results from half the model calls
    settings = yaml.safe_load((project.dir / "synthtune.yaml").read_text())
    settings["eval"]["answer_every_question"] = False
    (project.dir / "synthtune.yaml").write_text(yaml.safe_dump(settings))
    code, _, err = run("-C", d, "eval", "--out", str(project.dir / "scoped"), "--json")
    assert code == 0, err
    scoped = json.loads((project.dir / "scoped" / "results.json").read_text())
    for q in scoped["questions"]:
        expected = {"base", "tuned"} if q["scope"] == "knowledge" else {"base+rag", "tuned+rag"}
        assert set(q["answers"]) == expected, q
    for k, sc in scopes.items():
        same = scoped["scopes"][k]
        assert same["n"] == sc["n"]
        assert [(x["name"], x["metrics"]["n"]) for x in same["systems"]] == [
            (x["name"], x["metrics"]["n"]) for x in sc["systems"]
        ]
    test_q = next(q for q in results["questions"] if q["set"] == "test")
    assert test_q["source"]["text"] and test_q["document"].startswith("doc")
    assert (project.dir / "report" / "report.html").stat().st_size > 1000
    # recorded in the store
    with Project(project.dir) as p:
        recorded = p.store.latest_evaluation()
    assert (
        recorded is not None and len(recorded.systems) == 4 and recorded.report_path.endswith("report.html")
    )
    assert [s["name"] for s in recorded.metrics["systems"]] == [s["name"] for s in results["systems"]]


def test_eval_without_a_trained_model_runs_the_base_systems_and_says_why(project, run):  # noqa: F811
    d = str(project.dir)
    project.close()
    code, out, err = run("-C", d, "eval", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert [s["name"] for s in summary["systems"]] == ["base", "base+rag"]
    assert any("tuned skipped" in n for n in summary["notes"])


def test_eval_with_an_adapter_loads_it_on_its_base(project, run, tmp_path):  # noqa: F811
    d = str(project.dir)
    project.close()
    code, out, err = run("-C", d, "train", "--json")
    assert code == 0, err
    adapter = json.loads(out)["adapter_dir"]
    code, out, err = run("-C", d, "eval", "--adapter", adapter, "--out", str(tmp_path / "r"), "--json")
    assert code == 0, err
    results = json.loads((tmp_path / "r" / "results.json").read_text())
    assert results["systems"][1]["model"] == adapter
    assert results["training"]["steps"] == 2 and results["training"]["loss_curve"]["train"]


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ('{"question": "Q?", "answer": "A"', "not valid JSON"),
        ('["Q?", "A"]', "expected a JSON object"),
        ('{"question": "Q?"}', "'answer' must be a non-empty string"),
        ('{"question": "", "answer": "A"}', "'question' must be a non-empty string"),
        ('{"question": "Q?", "answer": "A", "page": "two"}', "'page' must be a page number"),
        ('{"question": "Q?", "answer": "A", "page": 0}', "'page' must be a page number"),
        ('{"question": "Q?", "answer": "A", "doc": "x.pdf"}', "unknown field 'doc'"),
    ],
)
def test_bad_gold_rows_are_named_by_line(tmp_path, line, says):
    path = tmp_path / "gold.jsonl"
    path.write_text('{"question": "Good?", "answer": "Yes"}\n\n' + line + "\n")
    with pytest.raises(GoldFileError) as exc:
        load_gold(path)
    assert f"{path}:3: " in str(exc.value) and says in str(exc.value)


def test_every_bad_row_is_counted_and_good_files_load(tmp_path):
    path = tmp_path / "gold.jsonl"
    path.write_text('{"question": "Q?"}\nnot json\n{"question": "Q2?", "answer": "A"}\n')
    with pytest.raises(GoldFileError, match=r"gold.jsonl:1: .*\(and 1 more bad rows\)"):
        load_gold(path)
    path.write_text("".join(json.dumps(r) + "\n" for r in GOLD))
    qs = load_gold(path)
    assert [q.page for q in qs] == [1, None, None] and [q.answerable for q in qs] == [True, True, False]
    assert qs[2].kind == "unanswerable" and qs[0].document == "doc0.md"


def test_bad_gold_file_on_the_command_line_is_one_line_and_exit_1(project, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "Q?", "answer": "A"}\n{"question": "Q?", "answer": 3}\n')
    project.close()
    proc = synthtune_cmd("-C", project.dir, "eval", "--questions", bad)
    assert proc.returncode == 1
    one_line_error(proc, f"{bad}:2: 'answer' must be a non-empty string")
    assert not (project.dir / "report").exists()


# A judge_correctness prompt (set with generate.prompts) in a form the bundled 135M model follows: to the
# shipped one it never replies with a score; to this one it replies "4/5" or "2/5" for most answers
# (greedy: always the same reply). It asks for a format, not for a grade to trust.
JUDGE_CORRECTNESS = """Rate this answer from 1 to 5.
Question: {{ question }}
Answer: {{ answer }}
Reference: {{ reference }}
Reply '4/5' if the answer matches the reference, else '2/5'."""


def test_judge_grades_are_parsed_from_its_replies(make_project, tmp_path, bundled_llm):
    """Each answer in a system's scope goes to the judge (the bundled model) once, with the project's
    judge_correctness prompt, and the call is logged with the raw reply; the answer's grade is the 1-5
    score parsed from that reply, as a float, and None (not a default) where the reply holds none."""
    write(tmp_path / "judge_correctness.j2", JUDGE_CORRECTNESS)
    p = make_project({"generate": {"prompts": {"judge_correctness": str(tmp_path / "judge_correctness.j2")}}})
    systems = [
        System("base", "base", False, BackendSettings()),
        System("base+rag", "base", True, BackendSettings()),
    ]
    cases = [
        ("What was Company Alpha's revenue in fiscal 2025?", "$152.2 million", "It was $152.2 million"),
        ("How many people does Company Beta employ?", "130 people", "Company Beta employs 130 people"),
        ("Who audits Company Gamma?", "The documents do not say.", "The documents do not say"),
    ]
    questions = [Question(f"g{i}", "gold", q, ref) for i, (q, ref, _) in enumerate(cases)]
    answers = {
        "base": {q.id: Answer(a + ".") for q, (_, _, a) in zip(questions, cases, strict=True)},
        # the third question is out of base+rag's scope (eval.answer_every_question: false)
        "base+rag": {
            q.id: Answer(a + " [1].") for q, (_, _, a) in zip(questions[:2], cases[:2], strict=True)
        },
    }
    judge_answers(p, bundled_llm, systems, questions, answers)
    calls = p.store.llm_calls("eval_judge")
    graded = [answers[s.name][q.id] for s in systems for q in questions if q.id in answers[s.name]]
    assert len(calls) == len(graded) == 5  # in the order the answers were sent
    sha = hashlib.sha256(JUDGE_CORRECTNESS.encode()).hexdigest()
    assert all(c.prompt_sha == sha and c.model == bundled_llm.name and c.outcome == "ok" for c in calls)
    expected = [parse_judgment(c.raw_output)[0] for c in calls]
    grades = [a.scores["judge_correctness"] for a in graded]
    assert grades == [None if g is None else float(g) for g in expected]
    assert all(isinstance(g, float) for g in grades if g is not None)
    assert any(g is not None for g in expected), [c.raw_output for c in calls]
    # the [n] markers are not graded: the answer with and without them got the same reply
    assert [c.raw_output for c in calls[3:]] == [c.raw_output for c in calls[:2]]


@pytest.mark.slow
def test_reference_systems_and_the_judge(project, run):  # noqa: F811
    """A reference system on another model (the bundled SmolLM2, with retrieval) is compared with base, and
    every answer goes to the judge (the bundled model too), its call logged."""
    settings = yaml.safe_load((project.dir / "synthtune.yaml").read_text())
    settings["eval"] |= {
        "systems": ["base"],
        "test_split": False,
        "references": [{"name": "smollm+rag", "rag": True, "backend": {"max_new_tokens": 24}}],
        "judge": {"max_new_tokens": 16},
    }
    (project.dir / "synthtune.yaml").write_text(yaml.safe_dump(settings))
    d = str(project.dir)
    project.close()
    code, out, err = run("-C", d, "eval", "--json")
    assert code == 0, err
    results = json.loads((project.dir / "report" / "results.json").read_text())
    ref = results["systems"][1]
    assert [s["name"] for s in results["systems"]] == ["base", "smollm+rag"]
    assert ref["kind"] == "reference" and ref["rag"] and ref["model"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert ref["metrics"]["recall_at_k"] is not None
    assert {c["system"] for c in results["comparisons"]} == {"smollm+rag"}
    # every answer was sent to the judge and the call logged with its raw output; the 135M model rarely
    # replies to the shipped prompt with a score, so a grade is 1-5 where it did and absent where it did not
    from synthtune.project import Project

    with Project(project.dir) as p:
        calls = p.store.llm_calls("eval_judge")
    n_answers = sum(len(q["answers"]) for q in results["questions"])
    assert len(calls) == n_answers == 2 * len(GOLD)
    assert all(c.raw_output and c.outcome == "ok" for c in calls)
    grades = [a["scores"]["judge_correctness"] for q in results["questions"] for a in q["answers"].values()]
    assert all(g is None or 1 <= g <= 5 for g in grades)
    # each grade is a logged reply parsed (reply by reply: test_judge_grades_are_parsed_from_its_replies)
    parsed = [parse_judgment(c.raw_output)[0] for c in calls]
    assert sorted(g or 0 for g in grades) == sorted(float(g or 0) for g in parsed)


def test_run_evaluates_once_then_skips_until_the_gold_file_changes(project, tmp_path):
    """The eval stage of `synthtune run` on its own: it runs, is skipped while nothing it reads changed,
    and runs again when the gold file does."""
    from synthtune.pipeline import run_pipeline

    first = run_pipeline(project, only=["eval"])
    assert [(r.stage, r.status) for r in first] == [("eval", "ran")]
    assert first[0].summary["report"].endswith("report.html") and first[0].summary["questions"] > len(GOLD)
    assert set(first[0].summary["systems"]) == {"base", "base+rag"}
    again = run_pipeline(project, only=["eval"])
    assert [r.status for r in again] == ["skipped"] and again[0].summary == first[0].summary
    (tmp_path / "gold.jsonl").write_text(json.dumps(GOLD[0]) + "\n")
    third = run_pipeline(project, only=["eval"])
    assert [r.status for r in third] == ["ran"]
    assert project.store.latest_evaluation().id == 2


def test_the_test_split_is_capped_evenly_and_the_gold_file_is_not(project):
    from synthtune.evaluate.run import question_sets, spread

    assert spread(list(range(10)), 3) == [0, 3, 6] and spread([1, 2], 5) == [1, 2]  # spread, not the first
    project.settings.eval.max_test_questions = 1
    picked = question_sets(project, None)
    assert sum(q.set == "test" for q in picked) == 1
    assert sum(q.set == "gold" for q in picked) == len(GOLD)  # the gold file keeps max_questions
