"""The SQLite backend (the embedded default): one file per project, WAL, foreign keys on, FTS5 for BM25.

The connection runs in autocommit mode; :meth:`SQLiteStore.transaction` opens ``BEGIN IMMEDIATE`` so a
writer takes the lock up front and a second writer waits up to the busy timeout, then gets a clear
:class:`~synthtune.errors.StoreBusyError` instead of a corrupted store.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from synthtune.errors import StoreBusyError, StoreError
from synthtune.store.base import Store
from synthtune.store.migrations import MIGRATIONS, migrate

DEFAULT_BUSY_TIMEOUT_S = 30.0


def _busy(exc: Exception) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


class SQLiteStore(Store):
    def __init__(self, path: str | Path, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S):
        self.path = Path(path)
        self.url = f"sqlite:///{self.path}"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(
                self.path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open store {self.path}: {exc}") from None
        self.conn.row_factory = sqlite3.Row
        try:
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA foreign_keys=ON")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
            version = self.conn.execute(
                "SELECT COALESCE(MAX(id), 0) FROM migrations" if self._has_table("migrations") else "SELECT 0"
            ).fetchone()[0]
            if version > len(MIGRATIONS):
                raise StoreError(
                    f"{self.path} has schema version {version}, newer than this synthtune knows "
                    f"({len(MIGRATIONS)}): upgrade synthtune"
                )
            migrate(self.conn)
        except sqlite3.DatabaseError as exc:
            self.conn.close()
            if _busy(exc):
                raise StoreBusyError(
                    f"store {self.path} is busy: another synthtune process holds it"
                ) from None
            raise StoreError(f"{self.path} is not a synthtune store ({exc})") from None
        except StoreError:
            self.conn.close()
            raise
        self._depth = 0

    def _has_table(self, name: str) -> bool:
        return (
            self.conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
            ).fetchone()
            is not None
        )

    def close(self) -> None:
        self.conn.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if _busy(exc):
                raise StoreBusyError(
                    f"store {self.path} is busy: another synthtune process is writing; try again when it is done"
                ) from None
            raise
        self._depth = 1
        try:
            yield
        except BaseException:
            self._depth = 0
            self.conn.execute("ROLLBACK")
            raise
        else:
            self._depth = 0
            self.conn.execute("COMMIT")

    # -- primitives -------------------------------------------------------------------------------

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.conn.execute(sql, params)

    def _executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self.conn.executemany(sql, rows)

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return [dict(r) for r in self.conn.execute(sql, params)]

    def _iter(self, sql: str, params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        for r in self.conn.execute(sql, params):
            yield tuple(r)


def open_store(project: str | Path) -> SQLiteStore:
    from synthtune.config import DB_NAME

    return SQLiteStore(Path(project) / DB_NAME)


LATEST_SCHEMA = len(MIGRATIONS)
