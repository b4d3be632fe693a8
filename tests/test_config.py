"""Settings: synthtune.yaml written from the models, read back, unknown keys named with a suggestion."""

from __future__ import annotations

import re

import pytest
import yaml

from synthtune.config import Settings, load_settings, parse_settings, render_settings
from synthtune.errors import ConfigError
from synthtune.project import init_project


def _leaf_paths(model, prefix=""):
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        if hasattr(value, "model_fields"):
            yield from _leaf_paths(value, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", field


def test_init_writes_every_setting_with_a_comment(tmp_path):
    path = init_project(tmp_path)
    text = path.read_text()
    lines = text.splitlines()
    for dotted, field in _leaf_paths(Settings()):
        key = dotted.rsplit(".", 1)[-1]
        idx = next(i for i, line in enumerate(lines) if re.match(rf"\s*{key}:", line))
        assert lines[idx - 1].lstrip().startswith("#"), f"{dotted} has no comment above it"
        assert field.description, f"{dotted} has no description"
    # the written file reads back as exactly the defaults
    assert load_settings(tmp_path) == Settings()
    assert yaml.safe_load(text)["search"]["mode"] == Settings().search.mode


def test_init_refuses_to_overwrite(tmp_path):
    init_project(tmp_path)
    with pytest.raises(ConfigError, match="exists already"):
        init_project(tmp_path)
    init_project(tmp_path, force=True)


def test_init_records_corpus_relative_to_project(tmp_path):
    (tmp_path / "docs").mkdir()
    init_project(tmp_path / "proj", corpus=[str(tmp_path / "docs")])
    assert load_settings(tmp_path / "proj").ingest.paths == ["../docs"]


def test_unknown_top_level_key_names_nearest():
    with pytest.raises(ConfigError, match=r"unknown setting 'serch'; did you mean 'search'\?"):
        parse_settings({"serch": {"k": 3}})


def test_unknown_nested_key_names_nearest():
    with pytest.raises(
        ConfigError, match=r"unknown setting 'ingest.chunk_sise'; did you mean 'ingest.chunk_size'\?"
    ):
        parse_settings({"ingest": {"chunk_sise": 100}})


def test_unknown_key_in_llm_role():
    with pytest.raises(
        ConfigError, match=r"'llm.answerer.temprature'; did you mean 'llm.answerer.temperature'"
    ):
        parse_settings({"llm": {"answerer": {"temprature": 0.5}}})


def test_invalid_value_names_the_setting():
    with pytest.raises(ConfigError, match=r"search.mode"):
        parse_settings({"search": {"mode": "fuzzy"}})
    with pytest.raises(ConfigError, match=r"chunk_overlap \(300\) must be smaller"):
        parse_settings({"ingest": {"chunk_size": 200, "chunk_overlap": 300}})


def test_bad_yaml_is_one_clear_line(tmp_path):
    (tmp_path / "synthtune.yaml").write_text("search:\n  k: [1,\n")
    with pytest.raises(ConfigError, match="synthtune.yaml: line .* is not valid YAML"):
        load_settings(tmp_path)


def test_render_round_trips_changed_values():
    s = parse_settings({"search": {"k": 9, "mode": "dense"}, "ingest": {"exclude": ["drafts"]}})
    assert parse_settings(yaml.safe_load(render_settings(s))) == s
