"""``synthtune run``: every stage in order, as ``synthtune.yaml`` says, skipping the stages whose inputs
and settings have not changed since they last finished.

Each stage is recorded in the store's ``runs`` table with two fingerprints: the sha256 of the settings it
reads and the sha256 of its inputs (the files for ingest, store contents for the rest: chunks, questions
and answers, examples, the latest training, the latest merge). A stage is skipped when its last finished
run has both fingerprints and its output is still there. A stage that was interrupted has no finished
run, so the next ``run`` does it again; the stages themselves resume (generation units and ingested
documents are committed one by one, training restarts from its newest checkpoint), so nothing finished
is redone.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synthtune.errors import ConfigError, SynthtuneError
from synthtune.project import Project

STAGES = ("ingest", "generate", "curate", "export", "train", "merge", "eval")

StageProgress = Callable[[str, int | None, int], None]


@dataclass
class StageResult:
    stage: str
    status: str  # ran | skipped | failed
    seconds: float = 0.0
    summary: dict[str, Any] = field(default_factory=dict)
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"stage": self.stage, "status": self.status, "seconds": round(self.seconds, 1)}
        if self.reason:
            out["reason"] = self.reason
        if self.summary:
            out["summary"] = self.summary
        return out


def _sha(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def _digest(project: Project, sql: str) -> str:
    h = hashlib.sha256()
    for row in project.store.execute(sql):
        h.update(json.dumps(list(row), default=str).encode())
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------------
# What each stage reads


def settings_sha(project: Project, stage: str) -> str:
    s = project.settings
    sections = {
        "ingest": ("ingest", "embedding"),
        "generate": ("generate", "llm", "search"),
        "curate": ("curate", "generate", "llm", "embedding"),
        "export": ("export",),
        "train": ("train", "export"),
        "merge": ("train",),
        "eval": ("eval", "export", "search", "llm", "train"),
    }[stage]
    return s.sha(*sections)


def inputs_sha(project: Project, stage: str) -> str:
    if stage == "ingest":
        from synthtune.ingest.pipeline import discover

        paths = [project.resolve_path(p) for p in project.settings.ingest.paths]
        files, missing = discover(paths, project.settings.ingest.include, project.settings.ingest.exclude)
        stats = [(str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files]
        return _sha({"files": stats, "missing": missing})
    if stage == "generate":
        return _digest(project, "SELECT id, sha256 FROM chunks ORDER BY id")
    if stage == "curate":
        return _sha(
            [
                _digest(project, "SELECT id, status FROM questions ORDER BY id"),
                _digest(project, "SELECT id, status FROM answers ORDER BY id"),
            ]
        )
    if stage in ("export", "train"):
        return _digest(project, "SELECT id, question_id, answer_id, split, status FROM examples ORDER BY id")
    if stage == "merge":
        return _digest(
            project, "SELECT id, adapter_path FROM trainings WHERE status = 'ok' ORDER BY id DESC LIMIT 1"
        )
    if stage == "eval":
        gold = project.settings.eval.gold
        gold_sha = None
        if gold and project.resolve_path(gold).is_file():
            gold_sha = hashlib.sha256(project.resolve_path(gold).read_bytes()).hexdigest()
        return _sha(
            [
                inputs_sha(project, "export"),
                _digest(project, "SELECT id, merged_path FROM merges ORDER BY id DESC LIMIT 1"),
                gold_sha,
            ]
        )
    raise ValueError(stage)


def output_exists(project: Project, stage: str, summary: dict[str, Any]) -> bool:
    """Whether what the stage last wrote outside the store is still there."""
    key = {"export": "out", "train": "adapter_dir", "merge": "merged_dir", "eval": "report"}.get(stage)
    if key is None:
        return True
    path = summary.get(key)
    return bool(path) and Path(path).exists()


def pipeline_status(project: Project) -> dict[str, Any]:
    """For ``synthtune status``: each stage's latest ``run`` (ok, failed, or running: still going, or
    killed before it finished), and the latest evaluation report."""
    stages = {}
    for stage in STAGES:
        rows = project.store.query(
            "SELECT status, started_at, finished_at, error FROM runs WHERE stage = ? ORDER BY id DESC LIMIT 1",
            (f"run:{stage}",),
        )
        if rows:
            stages[stage] = dict(rows[0])
    report = project.store.scalar("SELECT report_path FROM evaluations ORDER BY id DESC LIMIT 1")
    return {"stages": stages, "report": report}


def last_finished(project: Project, stage: str) -> dict[str, Any] | None:
    rows = project.store.query(
        "SELECT settings_sha, inputs_sha, counters FROM runs WHERE stage = ? AND status = 'ok'"
        " ORDER BY id DESC LIMIT 1",
        (f"run:{stage}",),
    )
    if not rows:
        return None
    return {
        "settings_sha": rows[0]["settings_sha"],
        "inputs_sha": rows[0]["inputs_sha"],
        **json.loads(rows[0]["counters"]),
    }


# ---------------------------------------------------------------------------------------------------
# The stages


def _ingest(project: Project, progress: StageProgress | None) -> dict[str, Any]:
    report = project.ingest()
    data = report.to_json()
    if not report.ok:
        # failed files are reported by name; the rest of the corpus goes on to the next stages
        data["warning"] = f"{len(report.failed)} file(s) failed to ingest"
    return data


def _generate(project: Project, progress: StageProgress | None) -> dict[str, Any]:
    from synthtune.synth.generate import generate

    data = generate(project, progress=progress).to_json()
    return {k: data[k] for k in ("questions_added", "answers_added", "failed", "rejected_questions")}


def _curate(project: Project, progress: StageProgress | None) -> dict[str, Any]:
    from synthtune.synth.curate import curate

    return curate(project, progress=progress).to_json()


def _export(project: Project, progress: StageProgress | None) -> dict[str, Any]:
    from synthtune.export import export_dataset

    result = export_dataset(project)
    return {k: result[k] for k in ("out", "format", "with_context", "rows")}


def _train(project: Project, progress: StageProgress | None) -> dict[str, Any]:
    from synthtune.train.stage import DEFAULT_ADAPTER_DIR, HEADLINE_KEYS, train_project

    seen = {"step": None}

    def on_step(ev: Any) -> None:  # a synthtune.train.trainer.TrainProgress
        if progress is None:
            return
        if seen["step"] is None:
            progress("train (steps)", ev.max_steps, 0)
            seen["step"] = 0
        if ev.step > seen["step"]:
            progress("train (steps)", None, ev.step - seen["step"])
            seen["step"] = ev.step

    checkpoints = project.dir / DEFAULT_ADAPTER_DIR / "checkpoints"
    resume = checkpoints.exists() and any(checkpoints.glob("checkpoint-*"))
    try:
        result = train_project(project, resume=resume, progress=on_step)
    except ConfigError as exc:
        if not resume or "cannot resume" not in str(exc):
            raise
        # the checkpoints are from other data or settings: start afresh
        result = train_project(project, resume=False, progress=on_step)
    keep = ("adapter_dir", *HEADLINE_KEYS, "resumed_from_step")
    return {k: result.get(k) for k in keep}


def _merge(project: Project, progress: StageProgress | None) -> dict[str, Any]:
    from synthtune.train.stage import merge_project

    return merge_project(project)


def _eval(project: Project, progress: StageProgress | None) -> dict[str, Any]:
    from synthtune.evaluate.run import evaluate, headline

    results = evaluate(project, progress=progress)
    return {
        "report": results["report"],
        "results": results["results_path"],
        "questions": len(results["questions"]),
        "systems": {s["name"]: s["metrics"] for s in results["systems"]},
        "headline": headline(results),
        "notes": results["notes"],
    }


RUNNERS: dict[str, Callable[[Project, StageProgress | None], dict[str, Any]]] = {
    "ingest": _ingest,
    "generate": _generate,
    "curate": _curate,
    "export": _export,
    "train": _train,
    "merge": _merge,
    "eval": _eval,
}


def run_pipeline(
    project: Project,
    *,
    only: list[str] | None = None,
    force: bool = False,
    progress: StageProgress | None = None,
    on_stage: Callable[[StageResult], None] | None = None,
) -> list[StageResult]:
    """Run the stages in order; a stage that fails stops the run (later stages need its output)."""
    stages = [s for s in STAGES if not only or s in only]
    unknown = sorted(set(only or []) - set(STAGES))
    if unknown:
        raise ConfigError(f"unknown stage '{unknown[0]}'; stages: {', '.join(STAGES)}")
    if not project.settings.ingest.paths and "ingest" in stages:
        raise ConfigError("ingest.paths is empty in synthtune.yaml: name the documents to read")
    results: list[StageResult] = []
    for stage in stages:
        s_sha, i_sha = settings_sha(project, stage), inputs_sha(project, stage)
        last = last_finished(project, stage)
        if (
            not force
            and last is not None
            and last["settings_sha"] == s_sha
            and last["inputs_sha"] == i_sha
            and output_exists(project, stage, last)
        ):
            result = StageResult(
                stage, "skipped", reason="inputs and settings unchanged", summary=_public(last)
            )
            results.append(result)
            if on_stage:
                on_stage(result)
            continue
        run_id = project.store.start_run(f"run:{stage}", s_sha, i_sha)
        t0 = time.perf_counter()
        try:
            summary = RUNNERS[stage](project, progress)
        except SynthtuneError as exc:
            project.store.finish_run(run_id, {}, error=str(exc))
            result = StageResult(stage, "failed", time.perf_counter() - t0, reason=str(exc))
            results.append(result)
            if on_stage:
                on_stage(result)
            raise StageFailed(stage, str(exc), results) from exc
        # the inputs a later run compares with are those this stage left behind: a stage that adds to
        # its own inputs (curation's coverage attempts add questions) is not redone for that reason
        project.store.finish_run(run_id, summary, inputs_sha=inputs_sha(project, stage))
        result = StageResult(stage, "ran", time.perf_counter() - t0, summary=summary)
        results.append(result)
        if on_stage:
            on_stage(result)
    return results


def _public(last: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in last.items() if k not in ("settings_sha", "inputs_sha")}


class StageFailed(SynthtuneError):
    """A stage of ``synthtune run`` failed; the stages before it are finished and stored."""

    def __init__(self, stage: str, message: str, results: list[StageResult]):
        super().__init__(f"stage {stage} failed: {message}")
        self.stage = stage
        self.results = results
