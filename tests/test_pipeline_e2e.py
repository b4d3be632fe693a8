"""`synthtune run` end to end on a tiny corpus: the bundled SmolLM2-135M writes and answers the questions,
a tiny random llama is fine-tuned, merged and evaluated. The run is killed with SIGKILL mid-way, resumed,
and then run a third time, when every stage is skipped."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import REPO
from test_train import bpe, tiny_dir  # noqa: F401  (module fixtures)

pytestmark = pytest.mark.slow

DEMO = REPO / "examples" / "acme" / "docs"
DOCS = [
    "acme_q3_fy2025_earnings_call.txt",
    "acme_q2_fy2025_earnings_call.md",
    "acme_strider_s2_fact_sheet.docx",
]
EXE = str(Path(sys.executable).with_name("synthtune"))
STAGES = ["ingest", "facts", "generate", "curate", "export", "train", "merge", "eval"]


def count(project: Path, sql: str) -> int:
    c = sqlite3.connect(project / "synthtune.db")
    try:
        return c.execute(sql).fetchone()[0]
    finally:
        c.close()


def test_run_killed_mid_way_resumes_and_then_skips_everything(tmp_path, tiny_dir):  # noqa: F811
    proj = tmp_path / "proj"
    proj.mkdir()
    gold = [json.loads(line) for line in (REPO / "examples" / "acme" / "gold.jsonl").read_text().splitlines()]
    gold = [g for g in gold if g.get("document") in DOCS][:4]
    assert gold
    (proj / "gold.jsonl").write_text("".join(json.dumps(g) + "\n" for g in gold))
    settings = {
        "ingest": {"paths": [str(DEMO / n) for n in DOCS]},
        "llm": {
            "question_writer": {"max_new_tokens": 64, "batch_size": 4},
            "answerer": {"max_new_tokens": 48, "batch_size": 4},
        },
        "generate": {"max_chunks_per_document": 2, "questions_per_chunk": 2, "max_retries": 1, "answer_k": 2},
        "curate": {
            "max_attempts_per_chunk": 1,
            "split_ratios": {"train": 1.0, "val": 0.0, "test": 0.0},
            "test_documents": ["acme_strider_s2_fact_sheet.docx"],
        },
        "train": {"base_model": tiny_dir, "max_steps": 2, "batch_size": 2, "grad_accum": 1, "save_steps": 1},
        "eval": {"gold": "gold.jsonl", "max_new_tokens": 8, "bootstrap_resamples": 200},
    }
    (proj / "synthtune.yaml").write_text(yaml.safe_dump(settings))
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}

    # 1. start, and kill -9 once generation has committed its first unit
    proc = subprocess.Popen(
        [EXE, "-C", proj, "run"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env=env,
    )
    deadline = time.time() + 900
    try:
        while time.time() < deadline and proc.poll() is None:
            time.sleep(0.5)
            try:
                if count(proj, "SELECT COUNT(*) FROM generation_units") >= 1:
                    os.killpg(proc.pid, signal.SIGKILL)
                    break
            except sqlite3.OperationalError:
                continue
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    units_before = count(proj, "SELECT COUNT(*) FROM generation_units")
    assert count(proj, "SELECT COUNT(*) FROM runs WHERE stage = 'run:ingest' AND status = 'ok'") == 1
    assert count(proj, "SELECT COUNT(*) FROM runs WHERE stage = 'run:generate' AND status = 'running'") == 1

    # 2. resume: ingest and facts (finished before the kill) are skipped, the rest runs to the report;
    # finished units are not redone
    rerun = subprocess.run(
        [EXE, "-C", proj, "run", "--json"], capture_output=True, text=True, timeout=1500, env=env
    )
    assert rerun.returncode == 0, rerun.stderr
    summary = json.loads(rerun.stdout)
    assert summary["skipped"] == ["ingest", "facts"]
    assert summary["ran"] == STAGES[2:]
    assert summary["failed"] == []
    report = Path(summary["report"])
    assert report == proj / "report" / "report.html" and report.exists()
    results = json.loads((proj / "report" / "results.json").read_text())
    assert {s["name"] for s in results["systems"]} == {"base", "tuned", "base+rag", "tuned+rag"}
    assert results["dataset"]["question_sets"]["gold"] == len(gold)
    assert count(proj, "SELECT COUNT(*) FROM generation_units") >= units_before
    assert (
        count(
            proj,
            "SELECT COUNT(*) FROM (SELECT work_key FROM generation_units GROUP BY 1 HAVING COUNT(*) > 1)",
        )
        == 0
    )
    assert count(proj, "SELECT COUNT(*) FROM evaluations") == 1
    assert (proj / "merged" / "config.json").exists()

    # 3. nothing changed: every stage is skipped and nothing is added
    again = subprocess.run(
        [EXE, "-C", proj, "run", "--json"], capture_output=True, text=True, timeout=600, env=env
    )
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["skipped"] == STAGES
    assert count(proj, "SELECT COUNT(*) FROM evaluations") == 1

    # 4. a changed eval setting redoes the evaluation only
    settings["eval"]["k"] = 2
    (proj / "synthtune.yaml").write_text(yaml.safe_dump(settings))
    third = subprocess.run(
        [EXE, "-C", proj, "run", "--json"], capture_output=True, text=True, timeout=600, env=env
    )
    assert third.returncode == 0, third.stderr
    assert json.loads(third.stdout)["ran"] == ["eval"]
    assert count(proj, "SELECT COUNT(*) FROM evaluations") == 2
