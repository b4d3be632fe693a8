"""SQLite backend.

The connection runs in autocommit mode; :meth:`Store.transaction` opens ``BEGIN IMMEDIATE`` so a writer
takes the lock up front and a second writer waits up to the busy timeout, then gets a clear
:class:`~synthtune.errors.StoreBusyError` instead of a corrupted store.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from synthtune.errors import StoreBusyError, StoreError
from synthtune.store.migrations import MIGRATIONS, migrate

DEFAULT_BUSY_TIMEOUT_S = 30.0


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Store:
    """A project's database. Use as a context manager or call :meth:`close`."""

    def __init__(self, path: str | Path, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = sqlite3.connect(
                self.path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open store {self.path}: {exc}") from None
        self.conn.row_factory = sqlite3.Row
        try:
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA foreign_keys=ON")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
            migrate(self.conn)
        except sqlite3.DatabaseError as exc:
            self.conn.close()
            if "locked" in str(exc) or "busy" in str(exc):
                raise StoreBusyError(
                    f"store {self.path} is busy: another synthtune process holds it"
                ) from None
            raise StoreError(f"{self.path} is not a synthtune store ({exc})") from None
        self._depth = 0

    # -- connection helpers -------------------------------------------------------------------------

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One unit of work: all of it is committed, or none of it. Nested calls join the outer one."""
        if self._depth:
            self._depth += 1
            try:
                yield self.conn
            finally:
                self._depth -= 1
            return
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise StoreBusyError(
                    f"store {self.path} is busy: another synthtune process is writing; try again when it is done"
                ) from None
            raise
        self._depth = 1
        try:
            yield self.conn
        except BaseException:
            self._depth = 0
            self.conn.execute("ROLLBACK")
            raise
        else:
            self._depth = 0
            self.conn.execute("COMMIT")

    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, params)

    def query(self, sql: str, params: Any = ()) -> list[sqlite3.Row]:
        return self.conn.execute(sql, params).fetchall()

    def scalar(self, sql: str, params: Any = ()) -> Any:
        row = self.conn.execute(sql, params).fetchone()
        return None if row is None else row[0]

    # -- metadata ---------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        return self.scalar("SELECT value FROM store_meta WHERE key = ?", (key,))

    def set_meta(self, key: str, value: str) -> None:
        self.execute(
            "INSERT INTO store_meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def schema_version(self) -> int:
        return int(self.scalar("SELECT COALESCE(MAX(id), 0) FROM migrations"))

    # -- runs -------------------------------------------------------------------------------------

    def start_run(self, stage: str, settings_sha: str, inputs_sha: str | None = None) -> int:
        with self.transaction():
            cur = self.execute(
                "INSERT INTO runs(stage, settings_sha, inputs_sha, started_at) VALUES (?, ?, ?, ?)",
                (stage, settings_sha, inputs_sha, utcnow()),
            )
            return int(cur.lastrowid)

    def finish_run(
        self, run_id: int, counters: dict[str, Any], error: str | None = None, inputs_sha: str | None = None
    ) -> None:
        """Mark a run ok (or failed, with ``error``); ``inputs_sha``, when given, replaces the inputs hash
        recorded at the start (a stage that adds to its own inputs records what it left behind)."""
        with self.transaction():
            self.execute(
                "UPDATE runs SET finished_at = ?, status = ?, counters = ?, error = ?,"
                " inputs_sha = COALESCE(?, inputs_sha) WHERE id = ?",
                (
                    utcnow(),
                    "failed" if error else "ok",
                    json.dumps(counters, sort_keys=True),
                    error,
                    inputs_sha,
                    run_id,
                ),
            )


def open_store(project: str | Path) -> Store:
    from synthtune.config import DB_NAME

    return Store(Path(project) / DB_NAME)


LATEST_SCHEMA = len(MIGRATIONS)
