"""The README's commands are run as written (docs checked from code)."""

from __future__ import annotations

import json
import os
import re
import shlex
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

README = (REPO / "README.md").read_text()


def block(marker: str) -> str:
    m = re.search(rf"<!-- readme-test: {marker} -->\s*```\w*\n(.*?)```", README, re.S)
    assert m, f"README lost its '{marker}' block"
    return m.group(1)


def commands() -> list[list[str]]:
    out = []
    for line in block("commands").splitlines():
        line = line.split("  #", 1)[0].strip()
        if line:
            out.append(shlex.split(line))
    return out


def test_readme_shows_the_two_commands_first():
    first_screen = "\n".join(README.splitlines()[:8])
    assert "make demo" in first_screen and "make test" in first_screen


@pytest.mark.slow
def test_readme_commands_run_as_written(tmp_path):
    (tmp_path / "examples").symlink_to(REPO / "examples")
    exe = Path(sys.executable).with_name("synthtune")
    env = dict(os.environ, COLUMNS="200")
    outputs = []
    for argv in commands():
        assert argv[0] == "synthtune"
        proc = subprocess.run(
            [str(exe), *argv[1:]], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
        )
        assert proc.returncode == 0, f"{argv}: {proc.stderr[-2000:]}"
        outputs.append(proc.stdout)
    ingest = json.loads(outputs[1])
    assert ingest["failed"] == [] and ingest["added"] >= 5
    assert "p." in outputs[2]  # the cited search result
    lexical = json.loads(outputs[3])
    assert "Reno" in lexical["results"][0]["text"]
    # the README's SQL runs against the store the commands built
    rows = sqlite3.connect(tmp_path / "my-project" / "synthtune.db").execute(block("sql")).fetchall()
    assert len(rows) == 5 and all(r[1] >= 1 for r in rows)
