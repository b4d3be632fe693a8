"""End to end with the bundled SmolLM2-135M-Instruct: generate, curate, kill -9 and resume, two writers."""

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

pytestmark = pytest.mark.slow

DEMO = REPO / "examples" / "acme" / "docs"
EXE = str(Path(sys.executable).with_name("synthtune"))


def settings(**extra) -> dict:
    base = {
        "llm": {
            "question_writer": {"max_new_tokens": 64},
            "answerer": {"max_new_tokens": 48},
        },
        "generate": {"questions_per_chunk": 2, "max_retries": 1, "answer_k": 2},
        "curate": {"max_attempts_per_chunk": 1},
    }
    for section, values in extra.items():
        base.setdefault(section, {}).update(values)
    return base


def make(tmp_path: Path, name: str, docs: list[str], **extra) -> Path:
    d = tmp_path / name
    d.mkdir()
    (d / "synthtune.yaml").write_text(yaml.safe_dump(settings(**extra)))
    proc = subprocess.run(
        [EXE, "-C", d, "ingest", *[DEMO / n for n in docs], "--json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    return d


LLM_UNITS = "SELECT COUNT(*) FROM generation_units WHERE kind != 'fact'"


def db(project: Path) -> sqlite3.Connection:
    return sqlite3.connect(project / "synthtune.db")


def assert_complete_and_unique(project: Path, n_units: int) -> None:
    c = db(project)
    # the model's units (the template units of the facts, made first by `generate`, are not planned here)
    assert c.execute(LLM_UNITS).fetchone()[0] == n_units
    assert c.execute("SELECT COUNT(*) FROM generation_units WHERE kind = 'fact'").fetchone()[0] > 0
    # no question stored twice for one unit, no answer twice for one question
    assert (
        c.execute(
            "SELECT COUNT(*) FROM (SELECT work_key, text FROM questions GROUP BY 1, 2 HAVING COUNT(*) > 1)"
        ).fetchone()[0]
        == 0
    )
    assert (
        c.execute(
            "SELECT COUNT(*) FROM (SELECT question_id FROM answers GROUP BY 1 HAVING COUNT(*) > 1)"
        ).fetchone()[0]
        == 0
    )
    # every usable question has its answer; every unit that failed kept its raw output
    assert (
        c.execute(
            "SELECT COUNT(*) FROM questions q WHERE q.status = 'ok' AND NOT EXISTS"
            " (SELECT 1 FROM answers a WHERE a.question_id = q.id)"
        ).fetchone()[0]
        == 0
    )
    assert (
        c.execute(
            "SELECT COUNT(*) FROM generation_units u WHERE u.status = 'failed' AND NOT EXISTS"
            " (SELECT 1 FROM llm_calls l WHERE l.id = u.call_id AND l.raw_output IS NOT NULL)"
        ).fetchone()[0]
        == 0
    )


def planned_units(project: Path, limit: int) -> int:
    from synthtune.project import Project
    from synthtune.synth.generate import Generator

    with Project(project) as p:
        g = Generator(p)
        return len(g.plan(g.chunks(limit=limit), 0))


def test_generate_and_curate_on_the_demo_corpus(tmp_path):
    docs = sorted(p.name for p in DEMO.iterdir())
    proj = make(
        tmp_path,
        "demo",
        docs,
        generate={"max_chunks_per_document": 3},
        curate={"max_attempts_per_chunk": 2},
    )
    proc = subprocess.run(
        [EXE, "-C", proj, "generate", "--json"], capture_output=True, text=True, timeout=1200
    )
    assert proc.returncode == 0, proc.stderr
    gen = json.loads(proc.stdout)
    assert {"questions_added", "answers_added", "failed"} <= set(gen)
    assert gen["questions_added"] > 0 and gen["answers_added"] > 0
    # a re-run with the same inputs and settings adds nothing
    again = json.loads(
        subprocess.run(
            [EXE, "-C", proj, "generate", "--json"], capture_output=True, text=True, timeout=600
        ).stdout
    )
    assert (again["questions_added"], again["answers_added"]) == (0, 0)

    proc = subprocess.run([EXE, "-C", proj, "curate", "--json"], capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr
    cur = json.loads(proc.stdout)
    assert {"accepted", "rejected", "by_check", "splits"} <= set(cur)
    assert set(cur["splits"]) == {"train", "val", "test"}
    c = db(proj)
    # at least one accepted, cited example per document
    per_doc = dict(
        c.execute(
            "SELECT d.id, COUNT(e.id) FROM documents d LEFT JOIN examples e ON e.document_id = d.id"
            " AND e.status = 'accepted' GROUP BY d.id"
        ).fetchall()
    )
    # a document with facts is covered by its template questions (`generate` extracts the facts first)
    with_facts = {d for (d,) in c.execute("SELECT DISTINCT document_id FROM facts WHERE problems = '[]'")}
    names = dict(c.execute("SELECT id, source_path FROM documents").fetchall())
    # the releases, the transcripts and the fact sheet (its specifications); not the web page
    assert sorted(names[d].rsplit("/", 1)[-1] for d in with_facts) == [n for n in docs if "about" not in n], (
        with_facts
    )
    assert all(per_doc[d] >= 1 for d in with_facts), per_doc
    # one without: 3 sampled chunks, then more of its chunks (extra_chunks_per_document: 2) while it has no
    # accepted example; the checks decide whether the small model's questions about it are accepted
    tried = dict(
        c.execute(
            "SELECT k.document_id, COUNT(DISTINCT u.chunk_id) FROM generation_units u"
            " JOIN chunks k ON k.id = u.chunk_id WHERE u.kind != 'fact' GROUP BY 1"
        ).fetchall()
    )
    sizes = dict(c.execute("SELECT document_id, COUNT(*) FROM chunks GROUP BY 1").fetchall())
    for d, n in per_doc.items():
        if n == 0:
            assert tried[d] == min(sizes[d], 3 + 2), (d, tried[d], sizes[d])
    for (cites,) in c.execute(
        "SELECT a.citations FROM examples e JOIN answers a ON a.id = e.answer_id WHERE e.status = 'accepted'"
    ):
        assert json.loads(cites), "an accepted answer without citations"
    # lineage: every model call is logged with its prompt hash
    assert c.execute("SELECT COUNT(*) FROM llm_calls WHERE prompt_sha = '' OR model = ''").fetchone()[0] == 0
    listed = json.loads(
        subprocess.run(
            [EXE, "-C", proj, "examples", "list", "--status", "accepted", "--json"],
            capture_output=True,
            text=True,
            timeout=300,
        ).stdout
    )
    assert listed and all(r["status"] == "accepted" and r["prompt_sha"] for r in listed)


def test_kill_9_mid_generation_then_resume(tmp_path):
    # small batches, so the run commits several times before it ends
    proj = make(
        tmp_path,
        "killed",
        ["acme_q3_fy2025_earnings_call.txt"],
        llm={
            "question_writer": {"max_new_tokens": 64, "batch_size": 2},
            "answerer": {"max_new_tokens": 48, "batch_size": 2},
        },
    )
    limit = 6
    n_units = planned_units(proj, limit)
    proc = subprocess.Popen(
        [EXE, "-C", proj, "generate", "--limit-chunks", str(limit)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 900
    try:
        while time.time() < deadline:
            time.sleep(0.5)
            if proc.poll() is not None:
                break
            try:
                done = db(proj).execute(LLM_UNITS).fetchone()[0]
            except sqlite3.OperationalError:
                continue
            if done >= 1:
                os.killpg(proc.pid, signal.SIGKILL)
                break
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    partial = db(proj).execute(LLM_UNITS).fetchone()[0]
    assert 1 <= partial < n_units
    before = {r for r in db(proj).execute("SELECT work_key, text FROM questions")}
    rerun = subprocess.run(
        [EXE, "-C", proj, "generate", "--limit-chunks", str(limit), "--json"],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads(rerun.stdout)["units_skipped"] == partial
    assert_complete_and_unique(proj, n_units)
    after = {r for r in db(proj).execute("SELECT work_key, text FROM questions")}
    assert before <= after, "work committed before the kill was lost"


def test_two_processes_on_one_store(tmp_path):
    proj = make(
        tmp_path,
        "shared",
        ["acme_q2_fy2025_earnings_call.md"],
        generate={"questions_per_chunk": 1},
        llm={"question_writer": {"max_new_tokens": 40}, "answerer": {"max_new_tokens": 32}},
    )
    limit = 2
    n_units = planned_units(proj, limit)
    procs = [
        subprocess.Popen(
            [EXE, "-C", proj, "generate", "--limit-chunks", str(limit), "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=1500) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0 or "busy" in err, err
    assert_complete_and_unique(proj, n_units)
    assert db(proj).execute("PRAGMA integrity_check").fetchone()[0] == "ok"
