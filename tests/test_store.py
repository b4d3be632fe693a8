"""The store: migrations on an empty database, pragmas, transactions, a second writer."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap

import pytest

from synthtune.errors import StoreBusyError, StoreError
from synthtune.store import SQLiteStore
from synthtune.store.migrations import MIGRATIONS

PUBLIC = {
    "documents": {"id", "sha256", "source_path", "title", "media_type", "n_pages", "metadata", "ingested_at"},
    "pages": {"document_id", "page_no", "text", "has_text"},
    "chunks": {
        "id",
        "document_id",
        "ordinal",
        "text",
        "page_start",
        "page_end",
        "char_start",
        "char_end",
        "n_tokens",
        "sha256",
        "header",
        "section",
    },
    "embedding_models": {"id", "name", "dim", "normalized", "query_prefix", "passage_prefix"},
    "embeddings": {"model_id", "key", "vector"},
    "runs": {"id", "stage", "settings_sha", "started_at", "finished_at", "status", "counters", "error"},
}


def columns(conn, table):
    return {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}


def test_migrates_empty_database(tmp_path):
    with SQLiteStore(tmp_path / "s.db") as s:
        for table, cols in PUBLIC.items():
            assert cols <= columns(s.conn, table), table
        names = [r[0] for r in s.conn.execute("SELECT name FROM migrations ORDER BY id")]
        assert names == [m.__name__ for m in MIGRATIONS]
        assert s.scalar("PRAGMA journal_mode") == "wal"
        assert s.scalar("PRAGMA foreign_keys") == 1
        fts = s.scalar("SELECT sql FROM sqlite_master WHERE name = 'chunks_fts'")
        assert "fts5" in fts.lower()
    # opening again applies nothing twice
    with SQLiteStore(tmp_path / "s.db") as s:
        assert s.scalar("SELECT COUNT(*) FROM migrations") == len(MIGRATIONS)


def test_a_failing_migration_leaves_nothing(tmp_path, monkeypatch):
    from synthtune.store import migrations

    def m999_broken(conn):
        conn.execute("CREATE TABLE half(x)")
        raise RuntimeError("boom")

    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS, m999_broken])
    with pytest.raises(RuntimeError, match="boom"):
        SQLiteStore(tmp_path / "s.db")
    conn = sqlite3.connect(tmp_path / "s.db")
    assert conn.execute("SELECT COUNT(*) FROM sqlite_master WHERE name = 'half'").fetchone()[0] == 0
    assert conn.execute("SELECT MAX(id) FROM migrations").fetchone()[0] == len(MIGRATIONS)


def test_transaction_rolls_back_on_error(tmp_path):
    with SQLiteStore(tmp_path / "s.db") as s:
        with pytest.raises(RuntimeError), s.transaction():
            s.execute("INSERT INTO store_meta(key, value) VALUES ('a', '1')")
            raise RuntimeError("fail mid-way")
        assert s.get_meta("a") is None


def test_foreign_keys_cascade(tmp_path):
    with SQLiteStore(tmp_path / "s.db") as s, s.transaction():
        s.execute(
            "INSERT INTO documents(id, sha256, source_path, title, media_type, n_pages, size_bytes, mtime,"
            " ingested_at) VALUES (1, 'x', '/a', 't', 'text/plain', 1, 1, 0, 'now')"
        )
        s.execute("INSERT INTO pages(document_id, page_no, text) VALUES (1, 1, 'hello')")
        s.execute(
            "INSERT INTO chunks(document_id, ordinal, text, page_start, page_end, char_start, char_end,"
            " n_tokens, sha256, embed_key) VALUES (1, 0, 'hello', 1, 1, 0, 5, 1, 'h', 'k')"
        )
        s.execute("DELETE FROM documents WHERE id = 1")
        assert s.scalar("SELECT COUNT(*) FROM pages") == 0
        assert s.scalar("SELECT COUNT(*) FROM chunks_fts WHERE chunks_fts MATCH 'hello'") == 0


def test_second_writer_waits_then_says_busy(tmp_path):
    db = tmp_path / "s.db"
    SQLiteStore(db).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import sqlite3, sys, time
            c = sqlite3.connect({str(db)!r}, isolation_level=None)
            c.execute("BEGIN IMMEDIATE")
            c.execute("INSERT INTO store_meta(key, value) VALUES ('holder', '1')")
            print("locked", flush=True)
            time.sleep(3)
            c.execute("COMMIT")
        """),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "locked"
    s = SQLiteStore(db, busy_timeout_s=0.3)
    with pytest.raises(StoreBusyError, match="busy"), s.transaction():
        pass
    holder.wait(timeout=30)
    # a writer with a longer timeout waits for the lock and then succeeds
    with s.transaction():
        s.set_meta("second", "1")
    assert s.get_meta("holder") == "1" and s.get_meta("second") == "1"
    s.close()


def test_not_a_database(tmp_path):
    (tmp_path / "junk.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a synthtune store"):
        SQLiteStore(tmp_path / "junk.db")
