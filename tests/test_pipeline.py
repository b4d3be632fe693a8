"""`synthtune run` without models: settings errors, stage fingerprints, skipping, and every failure recorded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import one_line_error, synthtune_cmd, write
from test_cli import run  # noqa: F401  (fixture: the CLI in process)

from synthtune import pipeline
from synthtune.errors import SynthtuneError
from synthtune.pipeline import StageFailed, fingerprints, run_pipeline, stages
from synthtune.stages import Stage


def stage(name: str) -> Stage:
    return next(s for s in stages() if s.name == name)


def test_run_without_documents_is_one_clear_line(tmp_path):
    (tmp_path / "synthtune.yaml").write_text("generate:\n  questions_per_chunk: 2\n")
    proc = synthtune_cmd("-C", tmp_path, "run")
    assert proc.returncode == 2
    one_line_error(proc, "ingest.paths is empty")


def test_run_names_an_unknown_stage(tmp_path, run):  # noqa: F811
    (tmp_path / "synthtune.yaml").write_text("ingest:\n  paths: [docs]\n")
    code, _, err = run("-C", tmp_path, "run", "--only", "trian")
    assert code == 2 and "unknown stage 'trian'" in err


def test_the_stages_in_order():
    assert [s.name for s in stages()] == [
        "ingest",
        "facts",
        "generate",
        "curate",
        "export",
        "train",
        "merge",
        "eval",
    ]


def test_fingerprints_follow_settings_and_inputs(make_project, tmp_path):
    p = make_project({"ingest": {"paths": [str(tmp_path / "docs")]}})
    write(tmp_path / "docs" / "a.md", "# A\n\nAlpha sold 10 robots.")
    before = {s: fingerprints(p, stage(s)) for s in ("ingest", "generate", "eval")}
    p.ingest()
    # ingesting changes the chunks that generation reads, not the files that ingest reads
    assert fingerprints(p, stage("ingest"))[1] == before["ingest"][1]
    assert fingerprints(p, stage("generate"))[1] != before["generate"][1]
    write(tmp_path / "docs" / "b.md", "# B\n\nBeta sold 12 robots.")
    assert fingerprints(p, stage("ingest"))[1] != before["ingest"][1]
    # a changed eval setting changes the evaluation's fingerprint only
    p.settings.eval.k = 5
    assert fingerprints(p, stage("eval"))[0] != before["eval"][0]
    assert fingerprints(p, stage("generate"))[0] == before["generate"][0]


def test_eval_fingerprint_follows_the_gold_file_and_the_tuned_model(make_project, tmp_path):
    gold = write(tmp_path / "gold.jsonl", '{"question": "Q?", "answer": "A."}\n')
    p = make_project({"eval": {"gold": str(gold)}})
    first = fingerprints(p, stage("eval"))[1]
    gold.write_text('{"question": "Q?", "answer": "B."}\n')
    second = fingerprints(p, stage("eval"))[1]
    assert second != first
    p.store.record_merge(None, str(tmp_path / "adapter"), str(tmp_path / "merged"))
    assert fingerprints(p, stage("eval"))[1] != second
    # eval reads the judge prompt (generate.prompts) and the embedder: both are in its settings
    assert {"eval", "generate", "embedding", "search", "llm", "train", "export"} == set(
        stage("eval").settings
    )


def test_status_shows_each_stage_and_the_report(make_project, run):  # noqa: F811
    p = make_project()
    done = p.store.start_run("run:ingest", "s", "i")
    p.store.finish_run(done, {"added": 1})
    p.store.start_run("run:generate", "s", "i")  # never finished: a run that was killed
    code, out, err = run("-C", p.dir, "status", "--json")
    assert code == 0, err
    stages_ = json.loads(out)["pipeline"]["stages"]
    assert stages_["ingest"]["status"] == "ok" and stages_["generate"]["status"] == "running"
    assert "curate" not in stages_
    code, out, _ = run("-C", p.dir, "status")
    assert "ingest ok, generate unfinished" in out


# ---------------------------------------------------------------------------------------------------
# Skipping and failures, on stages made here


def fake_stages(monkeypatch, *made: Stage) -> None:
    monkeypatch.setattr(pipeline, "stages", lambda: list(made))


def counting_stage(name: str, calls: list[str], out: Path | None = None) -> Stage:
    def run_(project: Any, progress: Any) -> dict[str, Any]:
        calls.append(name)
        if out is not None:
            out.mkdir(exist_ok=True)
        return {"out": str(out)} if out else {"n": 1}

    return Stage(name, ("eval",), lambda p: p.settings.eval.gold, run_, output_key="out" if out else None)


def test_a_stage_is_skipped_until_its_settings_inputs_or_output_change(make_project, monkeypatch, tmp_path):
    p = make_project()
    calls: list[str] = []
    fake_stages(monkeypatch, counting_stage("one", calls), counting_stage("two", calls, tmp_path / "out"))
    assert [r.status for r in run_pipeline(p)] == ["ran", "ran"]
    again = run_pipeline(p)
    assert [r.status for r in again] == ["skipped", "skipped"] and calls == ["one", "two"]
    assert again[0].summary == {"n": 1}  # a skipped stage reports what it last did
    (tmp_path / "out").rmdir()  # its output is gone: redone
    assert [r.status for r in run_pipeline(p)] == ["skipped", "ran"]
    p.settings.eval.gold = "gold.jsonl"  # inputs and settings changed: both redone
    assert [r.status for r in run_pipeline(p)] == ["ran", "ran"]
    assert [r.status for r in run_pipeline(p, force=True)] == ["ran", "ran"]


def failing_stage(exc: BaseException) -> Stage:
    def run_(project: Any, progress: Any) -> dict[str, Any]:
        raise exc

    return Stage("train", ("train",), lambda p: None, run_)


@pytest.mark.parametrize(
    ("exc", "raised", "error"),
    [
        (SynthtuneError("no accepted examples"), StageFailed, "no accepted examples"),
        (
            RuntimeError("CUDA out of memory.\nTried to allocate 2 GiB"),
            RuntimeError,
            "RuntimeError: CUDA out of memory.",
        ),
        (KeyboardInterrupt(), KeyboardInterrupt, "interrupted"),
    ],
)
def test_a_stage_that_fails_for_any_reason_is_recorded_as_failed(
    make_project, monkeypatch, exc, raised, error
):
    p = make_project()
    seen = []
    fake_stages(monkeypatch, failing_stage(exc))
    with pytest.raises(raised):
        run_pipeline(p, on_stage=seen.append)
    recorded = p.store.latest_run("run:train")
    assert recorded is not None and recorded.status == "failed" and recorded.error == error
    assert recorded.finished_at
    assert [(r.stage, r.status, r.reason) for r in seen] == [("train", "failed", error)]
