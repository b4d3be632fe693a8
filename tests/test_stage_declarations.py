"""Each stage declares the settings sections it reads next to its code: an edit to any section the code
reads re-runs the stage, and the declarations are checked against what the code really reads."""

from __future__ import annotations

from typing import Any

import pytest
from test_curate import add_qa, chunk_of
from test_curate import kb as curate_kb  # noqa: F401  (fixture)
from test_export import build_kb

from synthtune.config import Settings
from synthtune.errors import CheckpointMismatch, ConfigError
from synthtune.export import writer
from synthtune.export.writer import export_dataset
from synthtune.synth import curate as curate_module
from synthtune.synth import generate as generate_module
from synthtune.train import stage as train_stage

SECTIONS = set(Settings.model_fields)


class ReadRecorder:
    """The project's settings, noting which sections are read."""

    def __init__(self, settings: Settings):
        object.__setattr__(self, "_settings", settings)
        object.__setattr__(self, "read", set())

    def __getattr__(self, name: str) -> Any:
        if name in SECTIONS:
            self.read.add(name)
        return getattr(self._settings, name)


def test_a_training_settings_edit_changes_the_export_fingerprint():
    """Export writes axolotl.yaml and the manifest from ``train``: editing it must re-run export."""
    settings = Settings()
    before = settings.sha(*writer.STAGE.settings)
    settings.train.max_steps = 7
    assert settings.sha(*writer.STAGE.settings) != before
    # context rows show the passages frozen at curate: search is not one of export's inputs
    assert "search" not in writer.STAGE.settings


@pytest.mark.parametrize("context", [False, True])
def test_export_reads_only_the_sections_it_declares(tmp_path, embedder, context):
    p = build_kb(tmp_path, embedder)
    recorder = ReadRecorder(p.settings)
    p.settings = recorder
    export_dataset(p, out=tmp_path / "out", with_context=context)
    assert recorder.read <= set(writer.STAGE.settings), recorder.read
    assert {"export", "train"} <= recorder.read
    p.close()


def test_curate_reads_only_the_sections_it_declares(curate_kb):  # noqa: F811
    c0 = chunk_of(curate_kb, "doc0.md")
    add_qa(curate_kb, c0, "What was Company Alpha's revenue in fiscal 2025?", "It was $152.2 million.")
    add_qa(curate_kb, c0, "What was the revenue of Company Alpha in fiscal 2025?", "$152.2 million.")
    recorder = ReadRecorder(curate_kb.settings)
    curate_kb.settings = recorder
    curate_module.curate(curate_kb, coverage=False)
    assert recorder.read <= set(curate_module.STAGE.settings), recorder.read


def test_every_stage_of_the_data_path_is_declared():
    assert generate_module.STAGE.name == "generate" and curate_module.STAGE.name == "curate"
    assert writer.STAGE.output_key == "out"
    assert (train_stage.TRAIN_STAGE.output_key, train_stage.MERGE_STAGE.output_key) == (
        "adapter_dir",
        "merged_dir",
    )
    for stage in (generate_module.STAGE, curate_module.STAGE, writer.STAGE, train_stage.TRAIN_STAGE,
                  train_stage.MERGE_STAGE):  # fmt: skip
        assert set(stage.settings) <= SECTIONS, stage.name


def test_training_starts_afresh_only_on_a_checkpoint_mismatch(make_project, monkeypatch):
    """The train stage retries without resuming when the checkpoints are from other data or settings (a
    typed error), and never on another configuration error."""
    p = make_project()
    (p.dir / "adapter" / "checkpoints" / "checkpoint-2").mkdir(parents=True)
    calls: list[bool] = []

    def fake_train(project, *, resume, progress):
        calls.append(resume)
        if resume:
            raise CheckpointMismatch("checkpoint-2 was trained on other data")
        return {"adapter_dir": str(project.dir / "adapter"), "steps": 3}

    monkeypatch.setattr(train_stage, "train_project", fake_train)
    summary = train_stage.TRAIN_STAGE.run(p, None)
    assert calls == [True, False] and summary["steps"] == 3

    def other_error(project, *, resume, progress):
        raise ConfigError("cannot resume: but not a checkpoint mismatch")

    monkeypatch.setattr(train_stage, "train_project", other_error)
    with pytest.raises(ConfigError, match="not a checkpoint mismatch"):
        train_stage.TRAIN_STAGE.run(p, None)
