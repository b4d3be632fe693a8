"""``synthtune train`` and ``synthtune merge`` on a project: the accepted examples of the store become
messages rows (the same conversations ``synthtune export`` writes, from the passages frozen at curate),
the adapter is trained, and the run is recorded in the store. Declares the train and merge stages."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from synthtune.errors import CheckpointMismatch, SynthtuneError
from synthtune.export.formats import to_messages
from synthtune.export.writer import conversation
from synthtune.project import Project
from synthtune.stages import Stage, StageProgress

DEFAULT_ADAPTER_DIR = "adapter"
DEFAULT_MERGED_DIR = "merged"
HEADLINE_KEYS = (
    "steps",
    "train_loss_first",
    "train_loss_last",
    "eval_loss_before",
    "eval_loss",
    "tokens_per_s",
    "planned_steps",
    "cpu_bf16",
    "frozen_cache",
)
"""The training numbers that summaries (``synthtune run``, the evaluation report) repeat."""


def training_rows(project: Project, split: str) -> list[dict[str, Any]]:
    with_context = project.settings.export.with_context
    return [
        to_messages(conversation(project.settings, ex, with_context)[0])
        for ex in project.store.reviewed_examples(status="accepted", split=split)
    ]


def train_project(
    project: Project,
    *,
    base_model: str | None = None,
    max_steps: int | None = None,
    out: str | Path | None = None,
    resume: bool = False,
    progress: Callable[[Any], None] | None = None,
) -> dict[str, Any]:
    from synthtune.train.trainer import train

    train_rows = training_rows(project, "train")
    val_rows = training_rows(project, "val")
    if not train_rows:
        raise SynthtuneError(
            "no accepted examples in the train split: run `synthtune generate` and `synthtune curate` first"
        )
    out_dir = Path(out) if out else project.dir / DEFAULT_ADAPTER_DIR
    settings = project.settings.train
    result = train(
        train_rows,
        val_rows,
        settings,
        out_dir,
        base_model=base_model,
        max_steps=max_steps,
        resume=resume,
        progress=progress,
    )
    summary = result.to_dict()
    project.store.record_training(
        result.base_model,
        str(Path(result.adapter_dir).resolve()),
        result.data_sha256,
        settings.model_dump_json(),
        summary,
    )
    return summary


def latest_adapter(project: Project) -> Path:
    training = project.store.latest_training()
    if training is None:
        raise SynthtuneError(
            "no trained adapter in this project: run `synthtune train` or pass --adapter DIR"
        )
    return Path(training.adapter_path)


def merge_project(
    project: Project, *, adapter: str | Path | None = None, out: str | Path | None = None
) -> dict:
    from synthtune.train.merge import merge

    adapter_dir = Path(adapter) if adapter else latest_adapter(project)
    if not (adapter_dir / "adapter_config.json").exists():
        raise SynthtuneError(f"{adapter_dir} is not a LoRA adapter folder (no adapter_config.json)")
    out_dir = Path(out) if out else project.dir / DEFAULT_MERGED_DIR
    merged = merge(adapter_dir, out_dir)
    training = project.store.latest_training(str(adapter_dir.resolve()))
    project.store.record_merge(
        training.id if training else None, str(adapter_dir.resolve()), str(Path(merged).resolve())
    )
    return {"merged_dir": str(merged)}


# ---------------------------------------------------------------------------------------------------
# The stages


def _examples_fingerprint(project: Project) -> str:
    """What training reads: the reviewed examples, with their frozen passages (context rows show them)."""
    return project.store.dataset_fingerprint()


def _train(project: Project, progress: StageProgress | None) -> dict[str, Any]:
    """Train the project's adapter, resuming from its newest checkpoint; checkpoints made from other data
    or settings (:class:`CheckpointMismatch`) are set aside and training starts afresh."""
    seen: dict[str, int | None] = {"step": None}

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
    except CheckpointMismatch:
        if not resume:
            raise
        result = train_project(project, resume=False, progress=on_step)
    keep = ("adapter_dir", *HEADLINE_KEYS, "resumed_from_step")
    return {k: result.get(k) for k in keep}


def _latest_training(project: Project) -> list[Any]:
    training = project.store.latest_training()
    return [training.id, training.adapter_path] if training else []


TRAIN_STAGE = Stage(
    name="train",
    # export: context rows or closed-book, the system prompt (the rows are export's conversations)
    settings=("train", "export"),
    inputs=_examples_fingerprint,
    run=_train,
    output_key="adapter_dir",
)

MERGE_STAGE = Stage(
    name="merge",
    settings=("train",),
    inputs=_latest_training,
    run=lambda project, progress: merge_project(project),
    output_key="merged_dir",
)
