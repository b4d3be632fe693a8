"""`synthtune train` and `synthtune merge` on a project: accepted examples in, adapter and merged model out,
both recorded in the store."""

from __future__ import annotations

import json
import sys

import pytest
from conftest import synthtune_cmd, write
from test_curate import DOCS, add_qa, chunk_of
from test_train import bpe, tiny_dir  # noqa: F401  (module fixtures)

from synthtune import cli
from synthtune.synth.curate import curate


def add_two_questions_per_document(p) -> None:
    """Two accepted-looking examples per company document of ``DOCS`` (answers without numbers)."""
    for name in DOCS:
        company = DOCS[name].split("\n")[0].removeprefix("# ")
        cid = chunk_of(p, name)
        add_qa(p, cid, f"In which city does {company} employ people?", f"{company} employs people there.")
        add_qa(p, cid, f"What was the revenue of {company} in fiscal 2025?", f"{company} reported revenue.")


@pytest.fixture
def dataset(make_project, tmp_path):
    p = make_project(
        {
            "train": {
                "learning_rate": 0.01,
                "batch_size": 2,
                "grad_accum": 1,
                "lora_r": 4,
                "eval_steps": 1000,
                "save_steps": 1000,
            }
        }
    )
    for name, text in DOCS.items():
        write(tmp_path / "docs" / name, text)
    p.ingest([tmp_path / "docs"])
    add_two_questions_per_document(p)
    report = curate(p, coverage=False)
    assert report.splits["train"] > 0 and report.splits["val"] > 0
    return p


def test_train_and_merge_a_project(dataset, tiny_dir, monkeypatch, capsys):  # noqa: F811
    monkeypatch.setattr(
        sys,
        "argv",
        ["synthtune", "-C", str(dataset.dir), "train", "--base", tiny_dir, "--max-steps", "3", "--json"],
    )
    dataset.close()
    try:
        cli.main()
    except SystemExit as exc:
        assert not exc.code, capsys.readouterr().err
    out = json.loads(capsys.readouterr().out)
    assert out["steps"] == 3
    assert {"adapter_dir", "train_loss_first", "train_loss_last", "eval_loss"} <= set(out)
    assert (dataset.dir / "adapter" / "adapter_config.json").exists()
    monkeypatch.setattr(sys, "argv", ["synthtune", "-C", str(dataset.dir), "merge", "--json"])
    try:
        cli.main()
    except SystemExit as exc:
        assert not exc.code, capsys.readouterr().err
    merged = json.loads(capsys.readouterr().out)["merged_dir"]
    assert (dataset.dir / "merged" / "model.safetensors").exists() or any(
        p.suffix == ".safetensors" for p in (dataset.dir / "merged").iterdir()
    )
    assert merged.endswith("merged")
    s = dataset.store
    training, merge_row = s.latest_training(), s.latest_merge()
    assert training is not None and merge_row is not None and merge_row.training_id == training.id


def test_train_without_examples_is_a_clear_error(make_project):
    p = make_project()
    assert p.store.schema_version() >= 3  # the store exists
    proc = synthtune_cmd("-C", p.dir, "train")
    assert proc.returncode == 1 and "synthtune curate" in proc.stderr and "Traceback" not in proc.stderr
