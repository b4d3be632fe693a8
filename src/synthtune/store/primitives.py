"""The primitives a store backend provides, and the helpers the domain operations share."""

from __future__ import annotations

import abc
import contextlib
import hashlib
import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Primitives(abc.ABC):
    """What a backend provides; the domain operations are written against these alone."""

    url: str

    @abc.abstractmethod
    def close(self) -> None: ...

    @abc.abstractmethod
    def transaction(self) -> contextlib.AbstractContextManager[Any]:
        """One unit of work: all of it is committed, or none of it. Nested calls join the outer one."""

    @abc.abstractmethod
    def _execute(self, sql: str, params: Sequence[Any] = ()) -> None: ...

    @abc.abstractmethod
    def _executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    @abc.abstractmethod
    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Result rows as dicts keyed by column name."""

    @abc.abstractmethod
    def _iter(self, sql: str, params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        """Result rows as tuples, streamed (for fingerprints and large scans)."""

    def _one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        rows = self._rows(sql, params)
        return rows[0] if rows else None

    def _scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self._one(sql, params)
        return None if row is None else next(iter(row.values()))

    def _insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run an ``INSERT ... RETURNING id`` and return the id."""
        return int(self._scalar(sql, params))

    def _placeholders(self, n: int) -> str:
        return ",".join("?" * n)

    # -- metadata ---------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        return self._scalar("SELECT value FROM store_meta WHERE key = ?", (key,))

    def set_meta(self, key: str, value: str) -> None:
        self._execute(
            "INSERT INTO store_meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def schema_version(self) -> int:
        return int(self._scalar("SELECT COALESCE(MAX(id), 0) FROM migrations"))

    def fingerprint(self, table: str, columns: Sequence[str], where: str = "", order: str = "id") -> str:
        """sha256 over the given columns of a table's rows, in ``order``: what ``run`` compares to tell
        whether a stage's inputs changed. ``table``/``columns``/``where`` come from the stages' own
        declarations, never from users."""
        h = hashlib.sha256()
        sql = f"SELECT {', '.join(columns)} FROM {table}" + (f" WHERE {where}" if where else "")
        for row in self._iter(sql + f" ORDER BY {order}"):
            h.update(json.dumps(list(row), default=str).encode())
        return h.hexdigest()

    # -- moving a store between backends (store/transfer.py) ----------------------------------------

    def table_columns(self, table: str) -> list[str]:
        """A table's column names in declaration order (SQLite's catalogue; other backends override)."""
        return [r["name"] for r in self._rows(f"PRAGMA table_info({table})")]

    def after_copy(self) -> None:  # noqa: B027 - a hook; SQLite needs nothing
        """Called when rows were inserted with their ids by a copy: whatever the backend keeps beside
        the rows (id sequences, per-model indexes) is brought up to date. Nothing to do for SQLite."""
