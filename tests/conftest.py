"""Shared fixtures. Tests never touch the network or the real home directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
SRC = REPO / "src"


@pytest.fixture(scope="session", autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory):
    """Caches go to a per-session folder (the converted bundled model is reused within the session)."""
    home = tmp_path_factory.mktemp("home")
    os.environ["HF_HOME"] = str(home / "hf")
    os.environ["XDG_CACHE_HOME"] = str(home / "cache")
    os.environ.setdefault("SYNTHTUNE_CACHE", str(home / "synthtune-cache"))
    yield


@pytest.fixture(scope="session")
def embedder():
    """The bundled all-MiniLM-L6-v2, loaded once per session."""
    from synthtune.config import EmbeddingSettings
    from synthtune.embed import Embedder

    return Embedder(EmbeddingSettings())


# -- the bundled generator -------------------------------------------------------------------------

BUNDLED_LLM_TOKENS = 32
"""Most tokens per reply of the session's bundled model: enough for a sentence, few enough to stay fast."""


@pytest.fixture(scope="session")
def bundled_llm():
    """The bundled SmolLM2-135M-Instruct through the real transformers backend, loaded once per session:
    greedy (deterministic), one prompt at a time, at most ``BUNDLED_LLM_TOKENS`` tokens per reply. These
    are the settings ``synthtune ask`` uses with ``eval.max_new_tokens: 32`` (``ask.backend_settings``),
    so its answers are the ones the command gives. Tests that pass it to code that closes its backend
    (the web app does, on shutdown) must not: they let that code load its own."""
    from synthtune.config import BackendSettings
    from synthtune.llm.base import make_backend

    backend = make_backend(BackendSettings(max_new_tokens=BUNDLED_LLM_TOKENS, batch_size=1, temperature=0.0))
    yield backend
    backend.close()


@pytest.fixture
def make_project(tmp_path: Path, embedder):
    """Build a Project in a temp folder sharing the session's embedder; settings from a dict."""
    from synthtune.config import parse_settings
    from synthtune.project import Project

    made = []

    def make(settings: dict | None = None, name: str = "proj") -> Project:
        d = tmp_path / name
        d.mkdir(exist_ok=True)
        p = Project(d, parse_settings(settings or {}))
        if p.settings.embedding.model == embedder.settings.model:
            p._embedder = embedder
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding=encoding)
    return path


def synthtune_cmd(*args: object, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``python -m synthtune ARGS`` in a subprocess running this checkout's code: exit status, stdout and
    stderr exactly as a user gets them."""
    pythonpath = os.pathsep.join(p for p in (str(SRC), os.environ.get("PYTHONPATH")) if p)
    return subprocess.run(
        [sys.executable, "-m", "synthtune", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": pythonpath},
    )


def one_line_error(proc: subprocess.CompletedProcess[str], says: str) -> None:
    """The error is ``error: ...`` on one line (rich may wrap it; the words are what count), no traceback."""
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.startswith("error: "), proc.stderr
    assert says in " ".join(proc.stderr.split()), proc.stderr


# -- PostgreSQL (store.url) -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory):
    """A PostgreSQL 16 with pgvector, started by pgserver in a temporary folder (no service, no root)
    for the whole session, and stopped at its end. Yields the admin URL."""
    pgserver = pytest.importorskip(
        "pgserver", reason="pgserver not installed (pip install 'synthtune[postgres]')"
    )
    pytest.importorskip("psycopg", reason="psycopg not installed (pip install 'synthtune[postgres]')")
    server = pgserver.get_server(tmp_path_factory.mktemp("pg"), cleanup_mode="stop")
    yield server.get_uri()
    server.cleanup()


@pytest.fixture
def pg_url(pg_server: str, request: pytest.FixtureRequest) -> str:
    """A new, empty database on the session's server, for this test alone."""
    import re
    import uuid

    import psycopg

    name = "t_" + re.sub(r"\W", "_", request.node.name.lower())[:40] + "_" + uuid.uuid4().hex[:6]
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return pg_server.replace("/postgres?", f"/{name}?", 1)


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a test's store lives, once per backend: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "store" / "synthtune.db")
    return request.getfixturevalue("pg_url")
