"""``synthtune train`` and ``synthtune merge`` on a project: the accepted examples of the store become
messages rows (the same conversations ``synthtune export`` writes), the adapter is trained, and the run
is recorded in the store."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from synthtune.errors import SynthtuneError
from synthtune.export.formats import to_messages
from synthtune.export.writer import conversation
from synthtune.project import Project
from synthtune.store import utcnow
from synthtune.synth.examples import list_examples

DEFAULT_ADAPTER_DIR = "adapter"
DEFAULT_MERGED_DIR = "merged"
HEADLINE_KEYS = (
    "steps",
    "train_loss_first",
    "train_loss_last",
    "eval_loss_before",
    "eval_loss",
    "tokens_per_s",
)
"""The training numbers that summaries (``synthtune run``, the evaluation report) repeat."""


def training_rows(project: Project, split: str) -> list[dict[str, Any]]:
    with_context = project.settings.export.with_context
    return [
        to_messages(conversation(project, ex, with_context)[0])
        for ex in list_examples(project.store, split=split, status="accepted")
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
    with project.store.transaction():
        project.store.execute(
            "INSERT INTO trainings(base_model, adapter_path, data_sha, settings, metrics, status, created_at)"
            " VALUES (?, ?, ?, ?, ?, 'ok', ?)",
            (
                result.base_model,
                str(Path(result.adapter_dir).resolve()),
                result.data_sha256,
                settings.model_dump_json(),
                json.dumps(summary, default=str),
                utcnow(),
            ),
        )
    return summary


def latest_adapter(project: Project) -> Path:
    path = project.store.scalar(
        "SELECT adapter_path FROM trainings WHERE status = 'ok' ORDER BY id DESC LIMIT 1"
    )
    if path is None:
        raise SynthtuneError(
            "no trained adapter in this project: run `synthtune train` or pass --adapter DIR"
        )
    return Path(path)


def merge_project(
    project: Project, *, adapter: str | Path | None = None, out: str | Path | None = None
) -> dict:
    from synthtune.train.merge import merge

    adapter_dir = Path(adapter) if adapter else latest_adapter(project)
    if not (adapter_dir / "adapter_config.json").exists():
        raise SynthtuneError(f"{adapter_dir} is not a LoRA adapter folder (no adapter_config.json)")
    out_dir = Path(out) if out else project.dir / DEFAULT_MERGED_DIR
    merged = merge(adapter_dir, out_dir)
    training_id = project.store.scalar(
        "SELECT id FROM trainings WHERE adapter_path = ? ORDER BY id DESC LIMIT 1",
        (str(adapter_dir.resolve()),),
    )
    with project.store.transaction():
        project.store.execute(
            "INSERT INTO merges(training_id, adapter_path, merged_path, created_at) VALUES (?, ?, ?, ?)",
            (training_id, str(adapter_dir.resolve()), str(Path(merged).resolve()), utcnow()),
        )
    return {"merged_dir": str(merged)}
