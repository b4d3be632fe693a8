"""Open a store by where it lives: a project folder or SQLite file, or a ``postgresql://`` URL."""

from __future__ import annotations

import os
from pathlib import Path

from synthtune.config import DB_NAME, StoreSettings
from synthtune.store.base import Store
from synthtune.store.sqlite import SQLiteStore

PG_SCHEMES = ("postgresql://", "postgres://")


def is_postgres(url: str | Path) -> bool:
    return str(url).startswith(PG_SCHEMES)


def open_url(url: str | Path, settings: StoreSettings | None = None) -> Store:
    """``postgresql://user@host:port/db`` (password from the environment variable ``settings.password_env``),
    ``sqlite:///path/synthtune.db``, a ``.db`` file, or a project folder (its ``synthtune.db``)."""
    settings = settings or StoreSettings()
    if is_postgres(url):
        from synthtune.store.postgres import PostgresStore

        return PostgresStore(
            str(url),
            password=os.environ.get(settings.password_env),
            ef_search=settings.ef_search,
            index_memory=settings.index_memory,
        )
    path = Path(str(url).removeprefix("sqlite:///").removeprefix("sqlite://"))
    if path.is_dir() or not path.suffix:
        path = path / DB_NAME
    return SQLiteStore(path)


def open_project_store(project_dir: Path, settings: StoreSettings) -> Store:
    """A project's store: ``settings.url`` when set, else the folder's own SQLite file."""
    return open_url(settings.url or project_dir / DB_NAME, settings)
