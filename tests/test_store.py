"""The store: migrations on an empty database, pragmas, transactions, a second writer."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from synthtune.errors import StoreBusyError, StoreError
from synthtune.store import Chunk, Document, EmbeddingModel, Page, SQLiteStore
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
    SQLiteStore(tmp_path / "s.db").close()
    conn = sqlite3.connect(tmp_path / "s.db")
    for table, cols in PUBLIC.items():
        assert cols <= columns(conn, table), table
    names = [r[0] for r in conn.execute("SELECT name FROM migrations ORDER BY id")]
    assert names == [m.__name__ for m in MIGRATIONS]
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    fts = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'chunks_fts'").fetchone()[0]
    assert "fts5" in fts.lower()
    conn.close()
    # opening again applies nothing twice
    with SQLiteStore(tmp_path / "s.db") as s:
        assert s.schema_version() == len(MIGRATIONS)


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
            s.set_meta("a", "1")
            s.bump_kb_version()  # a nested transaction joins the outer one
            raise RuntimeError("fail mid-way")
        assert s.get_meta("a") is None and s.kb_version() is None


def _document(text: str, sha: str = "x") -> tuple[Document, list[Page], list[Chunk]]:
    doc = Document(sha, "/a", "t", "text/plain", 1, len(text), 0.0, chunking_sha="c")
    chunk = Chunk(0, text, "t", None, 1, 1, 0, len(text), 1, "h-" + sha, "k-" + sha)
    return doc, [Page(1, text)], [chunk]


def test_write_document_and_replace_it(tmp_path):
    with SQLiteStore(tmp_path / "s.db") as s:
        s.record_failure("/a", "was broken")
        first = s.write_document(*_document("hello world"), replace=[], model="m")
        (doc,) = s.documents()
        assert (doc.id, doc.sha256, doc.chunking_sha, doc.ingested_at != "") == (first, "x", "c", True)
        assert s.failures() == [] and s.active_embedding_model() == "m" and s.kb_version() == "1"
        assert [c.id for c in s.chunks(first)] == [cid for cid, _ in s.lexical_candidates(["hello"], 5)]
        # the new version replaces the old one, and everything derived from it cascades
        second = s.write_document(*_document("goodbye", "y"), replace=[first], model="other")
        assert [d.sha256 for d in s.documents()] == ["y"] and [d.id for d in s.documents()] == [second]
        assert [p.text for p in s.pages(second)] == [c.text for c in s.chunks(second)] == ["goodbye"]
        assert s.lexical_candidates(["hello"], 5) == []
        counts = s.kb_counts()
        assert (counts.documents, counts.pages, counts.chunks) == (1, 1, 1)
        assert s.active_embedding_model() == "m" and s.kb_version() == "2"


def test_vectors_and_dense_candidates(tmp_path):
    with SQLiteStore(tmp_path / "s.db") as s:
        model = s.add_embedding_model(EmbeddingModel("m", 2, True, "", "", 128))
        assert s.embedding_model("m") == model and model.id > 0
        ids = [s.write_document(*_document(t, t), replace=[], model="m") for t in ("a", "b")]
        s.put_vectors(model.id, ["k-a", "k-b"], np.array([[1, 0], [0.6, 0.8]], dtype=np.float32))
        s.put_vectors(model.id, ["k-a"], np.array([[0, 1]], dtype=np.float32))  # a cached key is kept
        assert s.cached_keys(model.id, ["k-a", "k-c"]) == {"k-a"}
        np.testing.assert_array_equal(s.vectors(model.id, ["k-a"])["k-a"], [1, 0])
        a, b = (s.chunks(i)[0].id for i in ids)
        assert [cid for cid, _ in s.dense_candidates(model.id, np.array([0, 1], np.float32), 5)] == [b, a]
        # the loaded vectors follow the knowledge base
        s.write_document(*_document("c", "c"), replace=[ids[1]], model="m")
        assert [cid for cid, _ in s.dense_candidates(model.id, np.array([0, 1], np.float32), 5)] == [a]
        usage = s.embedding_usage()
        assert [(u.model, u.vectors, u.chunks) for u in usage] == [("m", 2, 1)]


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
