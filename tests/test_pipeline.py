"""`synthtune run` settings errors and stage fingerprints, without models."""

from __future__ import annotations

import json

from conftest import write
from test_cli import run  # noqa: F401  (fixture: the CLI in process)

from synthtune.pipeline import inputs_sha, settings_sha


def test_run_without_documents_is_one_clear_line(tmp_path, run):  # noqa: F811
    (tmp_path / "synthtune.yaml").write_text("generate:\n  questions_per_chunk: 2\n")
    code, _, err = run("-C", tmp_path, "run")
    assert code == 2 and "ingest.paths is empty" in err and "Traceback" not in err


def test_run_names_an_unknown_stage(tmp_path, run):  # noqa: F811
    (tmp_path / "synthtune.yaml").write_text("ingest:\n  paths: [docs]\n")
    code, _, err = run("-C", tmp_path, "run", "--only", "trian")
    assert code == 2 and "unknown stage 'trian'" in err


def test_fingerprints_follow_settings_and_inputs(make_project, tmp_path):
    p = make_project({"ingest": {"paths": [str(tmp_path / "docs")]}})
    write(tmp_path / "docs" / "a.md", "# A\n\nAlpha sold 10 robots.")
    before = {s: (settings_sha(p, s), inputs_sha(p, s)) for s in ("ingest", "generate", "eval")}
    p.ingest()
    # ingesting changes the chunks that generation reads, not the files that ingest reads
    assert inputs_sha(p, "ingest") == before["ingest"][1]
    assert inputs_sha(p, "generate") != before["generate"][1]
    write(tmp_path / "docs" / "b.md", "# B\n\nBeta sold 12 robots.")
    assert inputs_sha(p, "ingest") != before["ingest"][1]
    # a changed eval setting changes the evaluation's fingerprint only
    p.settings.eval.k = 5
    assert settings_sha(p, "eval") != before["eval"][0]
    assert settings_sha(p, "generate") == before["generate"][0]


def test_status_shows_each_stage_and_the_report(make_project, run):  # noqa: F811
    p = make_project()
    done = p.store.start_run("run:ingest", "s", "i")
    p.store.finish_run(done, {"added": 1})
    p.store.start_run("run:generate", "s", "i")  # never finished: a run that was killed
    code, out, err = run("-C", p.dir, "status", "--json")
    assert code == 0, err
    stages = json.loads(out)["pipeline"]["stages"]
    assert stages["ingest"]["status"] == "ok" and stages["generate"]["status"] == "running"
    assert "curate" not in stages
    code, out, _ = run("-C", p.dir, "status")
    assert "ingest ok, generate unfinished" in out
