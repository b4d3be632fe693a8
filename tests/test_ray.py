"""The Ray executor on a local Ray cluster (2 CPUs, started here) with tiny models built in code: the
same rows as the local executor, and a SIGKILLed worker or driver loses and duplicates nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import yaml
from conftest import SRC, write
from test_search import tiny_embedder_dir  # noqa: F401  (module fixture)
from test_train import bpe, tiny_dir  # noqa: F401  (module fixtures)

ray = pytest.importorskip("ray", reason="ray not installed (pip install 'synthtune[ray]')")


@pytest.fixture(scope="module")
def cluster():
    """A local Ray instance with 2 CPUs for this module; its GCS address lets other drivers join."""
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def corpus(tmp_path, n: int = 6):
    for i in range(n):
        text = f"# Plant {i}\n\n" + " ".join(f"Line {j} of plant {i} made {i * j} robots." for j in range(60))
        write(tmp_path / "docs" / f"plant_{i:02}.md", text)
    return tmp_path / "docs"


def settings(embedder_dir, executor: str, **more) -> dict:
    return {
        "embedding": {"model": str(embedder_dir)},
        "ingest": {"chunk_size": 64, "chunk_overlap": 0},
        "executor": executor,
        "ray": {"workers": 2, "batch_size": 16},
        **more,
    }


def rows(p):
    """What ingest stored, without ids or times: chunks with their vectors."""
    s = p.store
    model = s.embedding_model(s.active_embedding_model())
    vecs = s.vectors(model.id, [c.embed_key for c in s.chunks()])
    return {(c.text, c.embed_key): vecs[c.embed_key] for c in s.chunks()}


def assert_same_rows(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_allclose(a[k], b[k], atol=1e-5)


def test_ray_embedding_gives_the_same_rows_as_local(cluster, make_project, tmp_path, tiny_embedder_dir):  # noqa: F811
    docs = corpus(tmp_path)
    local = make_project(settings(tiny_embedder_dir, "local"), name="local")
    remote = make_project(settings(tiny_embedder_dir, "ray"), name="ray")
    assert local.ingest([docs]).embedded == remote.ingest([docs]).embedded > 50
    assert_same_rows(rows(local), rows(remote))
    assert sum(remote.embedder.pool.done_per_worker) > 0 and all(remote.embedder.pool.done_per_worker)


def test_ray_generation_gives_the_same_rows_as_local(cluster, make_project, tmp_path, tiny_dir):  # noqa: F811
    from synthtune.synth.generate import generate

    write(tmp_path / "docs" / "a.md", "# Acme\n\nAcme sold 12 robots in the third quarter for $4 million.")
    backend = {"model": tiny_dir, "max_new_tokens": 8, "batch_size": 4}
    more = {
        "llm": {"question_writer": backend, "answerer": backend},
        "generate": {"questions_per_chunk": 3, "max_retries": 0},
    }
    out = {}
    for executor in ("local", "ray"):
        p = make_project(
            {**more, "executor": executor, "ray": {"workers": 2, "batch_size": 1}}, name=executor
        )
        p.ingest([tmp_path / "docs"])
        report = generate(p)
        calls = p.store.llm_calls("question_writer")
        out[executor] = (
            report.units_done,
            sorted(p.store.done_work_keys()),
            sorted(c.raw_output for c in calls),
        )
    assert out["local"] == out["ray"]


def test_judging_and_evaluation_answers_run_on_ray_with_the_same_results(
    cluster,
    make_project,
    tmp_path,
    tiny_dir,  # noqa: F811
):
    """The curate judge and the evaluation's answers go through the executor too: on Ray actors they give
    the same judgments and answers as in this process, and the actors did the work."""
    from synthtune.config import BackendSettings
    from synthtune.evaluate.run import Question, System, answer_all, retrieve
    from synthtune.store import GenerationUnit, NewAnswer, NewQuestion
    from synthtune.synth.curate import curate

    write(tmp_path / "docs" / "a.md", "# Acme\n\nAcme sold 12 robots in the third quarter for $4 million.")
    backend = {"model": tiny_dir, "max_new_tokens": 8, "batch_size": 4}
    more = {
        "llm": {"judge": backend},
        "curate": {"min_examples_per_chunk": 0},
        "search": {"mode": "lexical"},
    }
    questions = [Question(f"q{i}", "gold", f"How many robots did Acme sell ({i})?", "12") for i in range(3)]

    def workers() -> int:
        """Generation actors this cluster has started so far (ended ones stay in its actor table)."""
        from ray._private import state

        return sum(a["ActorClassName"] == "_GenerateWorker" for a in state.actors().values())

    out, started = {}, {}
    for executor in ("local", "ray"):
        p = make_project(
            {**more, "executor": executor, "ray": {"workers": 2, "batch_size": 1}}, name=executor
        )
        p.ingest([tmp_path / "docs"])
        # an example that passes the checks, so that the judge is asked about it
        chunk = p.store.source_chunks()[0].id
        unit = GenerationUnit("ray:judge", chunk, None, "numeric", 0, "test-writer", "sha-q", "ok", 1)
        [qid] = p.store.record_generation_unit(
            unit, [], [NewQuestion("How many robots did Acme sell in the third quarter?", "ok")]
        )
        p.store.record_answer(
            NewAnswer(qid, "Acme sold 12 robots.", [chunk], [chunk], "ok", "test", "a"), None
        )
        before_curate = workers()
        curate(p, coverage=False)
        before_answers = workers()
        judged = sorted((c.prompt_sha, c.raw_output) for c in p.store.llm_calls("judge"))
        system = System("base+rag", "base", True, BackendSettings(**backend))
        answers = answer_all(p, [system], questions, retrieve(p, questions, 2))
        out[executor] = (judged, [answers["base+rag"][q.id].text for q in questions])
        started[executor] = (before_answers - before_curate, workers() - before_answers)
    assert out["local"][0]  # the judge was asked
    assert out["local"] == out["ray"]
    assert started == {"local": (0, 0), "ray": (2, 2)}  # the judge's and the answerer's actors


def test_a_sigkilled_worker_is_restarted_and_nothing_is_lost(
    cluster,
    make_project,
    tmp_path,
    tiny_embedder_dir,  # noqa: F811
):
    docs = corpus(tmp_path, n=8)
    local = make_project(settings(tiny_embedder_dir, "local"), name="local")
    remote = make_project(settings(tiny_embedder_dir, "ray", ray={"workers": 2, "batch_size": 4}), name="ray")
    local.ingest([docs])
    pool = remote.embedder.pool
    victim = ray.get(pool.actors[1].pid.remote())

    def kill_when_busy() -> None:
        while sum(pool.done_per_worker) == 0:
            time.sleep(0.01)
        os.kill(victim, signal.SIGKILL)

    killer = threading.Thread(target=kill_when_busy)
    killer.start()
    remote.ingest([docs])
    killer.join()
    assert ray.get(pool.actors[1].pid.remote()) != victim, "the actor was restarted"
    assert_same_rows(rows(local), rows(remote))


@pytest.mark.slow
def test_a_sigkilled_driver_then_resume(cluster, make_project, tmp_path, tiny_embedder_dir):  # noqa: F811
    """A driver on the cluster is SIGKILLed mid-ingest; the next run finishes the rest, nothing twice."""
    docs = corpus(tmp_path, n=24)
    local = make_project(settings(tiny_embedder_dir, "local"), name="local")
    local.ingest([docs])
    proj = tmp_path / "driver"
    proj.mkdir()
    (proj / "synthtune.yaml").write_text(
        yaml.safe_dump(
            settings(tiny_embedder_dir, "ray", ray={"address": cluster, "workers": 1, "batch_size": 4})
        )
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (str(SRC), os.environ.get("PYTHONPATH")) if p),
    }
    driver = subprocess.Popen(
        [sys.executable, "-m", "synthtune", "-C", str(proj), "ingest", str(docs), "--json"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    from synthtune.project import Project

    deadline = time.time() + 240
    stored = 0
    while time.time() < deadline and driver.poll() is None:
        if (proj / "synthtune.db").exists():
            with Project(proj) as peek:
                stored = peek.store.kb_counts().documents
            if stored >= 3:
                break
        time.sleep(0.2)
    assert driver.poll() is None, driver.stderr.read()
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    assert 3 <= stored < 24
    resumed = make_project(
        settings(tiny_embedder_dir, "ray", ray={"workers": 2, "batch_size": 4}), name="driver"
    )
    report = resumed.ingest([docs])
    assert report.added + report.unchanged == 24 and report.unchanged >= stored
    assert_same_rows(rows(local), rows(resumed))
    assert len(resumed.store.documents()) == 24


def test_a_backend_a_worker_cannot_start_reaches_the_driver_as_its_own_error(cluster, tmp_path):
    """A model not found (or vllm without a GPU) fails the worker's start: the driver says why in the
    worker's one line, not "a Ray worker died", and Ray does not restart the actor to fail again."""
    from synthtune.config import BackendSettings, RaySettings
    from synthtune.errors import ModelNotFoundError
    from synthtune.executor.ray_actors import RayBackend

    missing = tmp_path / "no-such-model"
    with pytest.raises(ModelNotFoundError, match="no-such-model") as info:
        RayBackend(BackendSettings(model=str(missing)), RaySettings(workers=1))
    assert "\n" not in str(info.value) and "Ray worker died" not in str(info.value)
