"""``synthtune run``: every stage in order, as ``synthtune.yaml`` says, skipping the stages whose inputs
and settings have not changed since they last finished.

Each stage declares what it reads next to its own code (a :class:`~synthtune.stages.Stage`: the settings
sections and the inputs); this module only orders the stages and compares fingerprints. Every run of a
stage is recorded in the store's ``runs`` table with the sha256 of its settings and of its inputs. A
stage is skipped when its last finished run has both fingerprints and its output is still there. A
stage that fails, for whatever reason, is recorded as failed; one that was killed keeps ``running``.
Either way it has no newer finished run, so the next ``run`` does it again; the stages themselves
resume (generation units and ingested documents are committed one by one, training restarts from its
newest checkpoint), so nothing finished is redone.
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
from synthtune.stages import Stage, StageProgress


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


class StageFailed(SynthtuneError):
    """A stage of ``synthtune run`` failed; the stages before it are finished and stored."""

    def __init__(self, stage: str, message: str, results: list[StageResult]):
        super().__init__(f"stage {stage} failed: {message}")
        self.stage = stage
        self.results = results


def stages() -> list[Stage]:
    """The stages in the order they run (imported here, not at the top: ``status`` needs only the names
    and should not pay for importing every stage)."""
    from synthtune.evaluate.run import STAGE as EVAL
    from synthtune.export.writer import STAGE as EXPORT
    from synthtune.ingest.pipeline import STAGE as INGEST
    from synthtune.synth.curate import STAGE as CURATE
    from synthtune.synth.facts_stage import STAGE as FACTS
    from synthtune.synth.generate import STAGE as GENERATE
    from synthtune.train.stage import MERGE_STAGE, TRAIN_STAGE

    return [INGEST, FACTS, GENERATE, CURATE, EXPORT, TRAIN_STAGE, MERGE_STAGE, EVAL]


def stage_names() -> list[str]:
    return [s.name for s in stages()]


def _sha(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def fingerprints(project: Project, stage: Stage) -> tuple[str, str]:
    """The sha256 of the settings sections the stage reads and of its inputs."""
    return project.settings.sha(*stage.settings), _sha(stage.inputs(project))


def _run_key(stage: Stage | str) -> str:
    return f"run:{stage if isinstance(stage, str) else stage.name}"


def output_exists(stage: Stage, summary: dict[str, Any]) -> bool:
    """Whether what the stage last wrote outside the store is still there."""
    if stage.output_key is None:
        return True
    path = summary.get(stage.output_key)
    return bool(path) and Path(path).exists()


def pipeline_status(project: Project) -> dict[str, Any]:
    """For ``synthtune status``: each stage's latest ``run`` (ok, failed, or running: still going, or
    killed before it finished), and the latest evaluation report."""
    out: dict[str, Any] = {}
    for name in stage_names():
        run = project.store.latest_run(_run_key(name))
        if run is not None:
            out[name] = {
                "status": run.status,
                "started_at": run.started_at,
                "finished_at": run.finished_at,
                "error": run.error,
            }
    evaluation = project.store.latest_evaluation()
    return {"stages": out, "report": evaluation.report_path if evaluation else None}


def run_pipeline(
    project: Project,
    *,
    only: list[str] | None = None,
    force: bool = False,
    progress: StageProgress | None = None,
    on_stage: Callable[[StageResult], None] | None = None,
) -> list[StageResult]:
    """Run the stages in order; a stage that fails stops the run (later stages need its output)."""
    every = stages()
    names = [s.name for s in every]
    unknown = sorted(set(only or []) - set(names))
    if unknown:
        raise ConfigError(f"unknown stage '{unknown[0]}'; stages: {', '.join(names)}")
    chosen = [s for s in every if not only or s.name in only]
    if not project.settings.ingest.paths and any(s.name == "ingest" for s in chosen):
        raise ConfigError("ingest.paths is empty in synthtune.yaml: name the documents to read")
    results: list[StageResult] = []

    def done(result: StageResult) -> None:
        results.append(result)
        if on_stage:
            on_stage(result)

    for stage in chosen:
        s_sha, i_sha = fingerprints(project, stage)
        last = project.store.latest_run(_run_key(stage), status="ok")
        if (
            not force
            and last is not None
            and (last.settings_sha, last.inputs_sha) == (s_sha, i_sha)
            and output_exists(stage, last.counters)
        ):
            done(
                StageResult(
                    stage.name, "skipped", reason="inputs and settings unchanged", summary=last.counters
                )
            )
            continue
        done(_run_stage(project, stage, s_sha, i_sha, progress, results, on_stage))
    return results


def _run_stage(
    project: Project,
    stage: Stage,
    s_sha: str,
    i_sha: str,
    progress: StageProgress | None,
    results: list[StageResult],
    on_stage: Callable[[StageResult], None] | None,
) -> StageResult:
    """Run one stage and record it. Whatever stops it (a user error, an out-of-memory, Ctrl-C) is recorded
    as a failure before it propagates, so no run is left ``running`` by anything short of a kill."""
    run_id = project.store.start_run(_run_key(stage), s_sha, i_sha)
    t0 = time.perf_counter()
    try:
        summary = stage.run(project, progress)
    except BaseException as exc:
        reason = _failure(exc)
        project.store.finish_run(run_id, {}, error=reason)
        failed = StageResult(stage.name, "failed", time.perf_counter() - t0, reason=reason)
        results.append(failed)
        if on_stage:
            on_stage(failed)
        if isinstance(exc, SynthtuneError):
            raise StageFailed(stage.name, str(exc), results) from exc
        raise
    # the inputs a later run compares with are those this stage left behind: a stage that adds to its
    # own inputs (curation's coverage attempts add questions) is not redone for that reason
    project.store.finish_run(run_id, summary, inputs_sha=fingerprints(project, stage)[1])
    return StageResult(stage.name, "ran", time.perf_counter() - t0, summary=summary)


def _failure(exc: BaseException) -> str:
    if isinstance(exc, SynthtuneError):
        return str(exc)
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    return f"{type(exc).__name__}: {exc}".splitlines()[0]
