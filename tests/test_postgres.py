"""The PostgreSQL backend against a real PostgreSQL 16 + pgvector (started by pgserver in a temporary
folder), side by side with SQLite: the same schema, operations, ingest, search, generation with resume,
two writers at once, and `synthtune store copy` both ways."""

from __future__ import annotations

import dataclasses
import multiprocessing
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import yaml
from conftest import synthtune_cmd, write
from test_search import DOCS
from test_train import bpe, tiny_dir  # noqa: F401  (module fixtures)

from synthtune.errors import StoreError
from synthtune.store import Chunk, Document, EmbeddingModel, Page, SQLiteStore
from synthtune.store.migrations import MIGRATIONS
from synthtune.store.open import open_url
from synthtune.store.transfer import TABLES, table_checksum

pytest.importorskip("psycopg", reason="psycopg not installed (pip install 'synthtune[postgres]')")


def chunk(i: int, text: str, header: str = "") -> Chunk:
    return Chunk(i, text, header, None, 1, 1, 0, len(text), 5, f"sha{i}", f"key{i}")


def doc(sha: str, path: str = "/docs/a.md") -> Document:
    return Document(sha, path, "A", "text/markdown", 1, 10, 1.5)


def test_pg_schema_mirrors_sqlite(pg_url, tmp_path):
    from synthtune.store.pg_migrations import PG_MIGRATIONS

    assert [name for name, _ in PG_MIGRATIONS] == [fn.__name__ for fn in MIGRATIONS]
    with SQLiteStore(tmp_path / "s.db") as lite, open_url(pg_url) as pg:
        assert pg.schema_version() == lite.schema_version() == len(MIGRATIONS)
        for table in (*TABLES, "migrations"):
            assert pg.table_columns(table) == lite.table_columns(table), table
    with open_url(pg_url) as again:  # opening again applies nothing twice
        assert again.schema_version() == len(MIGRATIONS)


def test_store_operations_on_both_backends(store_url):
    with open_url(store_url) as s:
        m = s.add_embedding_model(EmbeddingModel("m", 4, True, "", "", 0))
        first = s.write_document(
            doc("d1"),
            [Page(1, "page one")],
            [chunk(0, "Revenue grew in the quarter", "Acme"), chunk(1, "The plant in Dayton closed")],
            replace=[],
            model="m",
        )
        # a second writer's copy of the same document is not written twice
        assert s.write_document(doc("d1"), [Page(1, "x")], [], replace=[], model="m") == first
        vecs = np.array([[0.6, 0.8, 0, 0], [0, 0, 1, 0]], dtype=np.float32)
        s.put_vectors(m.id, ["key0", "key1"], vecs)
        s.put_vectors(m.id, ["key0"], np.zeros((1, 4), np.float32))  # a cached key is kept
        got = s.vectors(m.id, ["key0", "key1"])
        assert np.array_equal(got["key0"], vecs[0]) and got["key0"].dtype == np.dtype("<f4")
        ids = [c.id for c in s.chunks(first)]
        dense = s.dense_candidates(m.id, np.array([0, 0, 1, 0], np.float32), 2)
        assert [cid for cid, _ in dense] == [ids[1], ids[0]] and dense[0][1] == pytest.approx(1.0)
        assert [cid for cid, _ in s.lexical_candidates(["dayton"], 5)] == [ids[1]]
        assert [cid for cid, _ in s.lexical_candidates(["acme", "revenue"], 5)] == [ids[0]]
        assert s.lexical_candidates(["nothing"], 5) == []
        assert [p.chunk_id for p in s.passages([ids[1], ids[0], 999])] == [ids[1], ids[0]]
        # nested transactions join the outer one; an error rolls all of it back
        with pytest.raises(RuntimeError), s.transaction():
            s.record_failure("/x", "bad")
            with s.transaction():
                s.record_failure("/y", "bad")
            raise RuntimeError
        assert s.failures() == []
        second = s.write_document(
            doc("d2"), [Page(1, "new")], [chunk(0, "new text")], replace=[first], model="m"
        )
        assert [d.id for d in s.documents()] == [second] and len(s.chunks()) == 1
        assert s.kb_counts().vectors == 2


def test_bad_postgres_is_one_line_and_writes_nothing(pg_url, monkeypatch):
    with pytest.raises(StoreError, match="cannot reach PostgreSQL") as err:
        open_url("postgresql://someone:hunter2@127.0.0.1:1/nowhere")
    assert "hunter2" not in str(err.value) and "\n" not in str(err.value)
    # a password from the environment never shows either
    monkeypatch.setenv("SYNTHTUNE_PG_PASSWORD", "s3cret")
    with pytest.raises(StoreError) as err:
        open_url("postgresql://someone@127.0.0.1:1/nowhere")
    assert "s3cret" not in str(err.value)
    with open_url(pg_url) as s:
        s._execute("INSERT INTO migrations(id, name, applied_at) VALUES (99, 'm099_future', 'now')")
    with pytest.raises(StoreError, match="newer than this synthtune knows"):
        open_url(pg_url)


def test_hnsw_build_uses_index_memory(pg_url):
    """store.index_memory is the HNSW build's memory: with 1MB the graph of 3,000 vectors outgrows it
    (pgvector says so in a notice and builds the slow way); with the default it fits."""
    from synthtune.store.postgres import PostgresStore

    vecs = np.random.default_rng(0).standard_normal((3000, 64)).astype(np.float32)
    notices: dict[str, list[str]] = {}
    for memory in ("1MB", "1GB"):
        with PostgresStore(pg_url, index_memory=memory) as s:
            s.conn.add_notice_handler(
                lambda d, memory=memory: notices.setdefault(memory, []).append(d.message_primary)
            )
            m = EmbeddingModel(f"m{memory}", 64, True, "", "", 0)
            m = s.add_embedding_model(m)
            s._execute(f"DROP INDEX embeddings_hnsw_{m.id}")  # bulk load first, as store copy does
            s.put_vectors(m.id, [f"{memory}{i}" for i in range(len(vecs))], vecs)
            s.add_embedding_model(m)
            assert s._scalar("SELECT to_regclass(?) IS NOT NULL", (f"embeddings_hnsw_{m.id}",))
            assert s._scalar("SHOW maintenance_work_mem") == "64MB"  # the server's own, outside the build
    assert any("no longer fits into maintenance_work_mem" in n for n in notices.get("1MB", []))
    assert not any("maintenance_work_mem" in n for n in notices.get("1GB", []))


def test_common_words_stop_selecting_rows_past_the_budget(pg_url):
    """On a store past lexical_match_budget (as ANALYZE counts it), a word in every chunk no longer
    selects rows while a rarer word of the query does; it still scores them. A query of common words
    alone still finds chunks; a small budget never drops the query's rarest word."""
    from synthtune.store.postgres import PostgresStore

    with PostgresStore(pg_url) as s:
        s.add_embedding_model(EmbeddingModel("m", 4, True, "", "", 0))
        texts = [f"widget report number{i}" + (" flange" if i % 50 == 0 else "") for i in range(1000)]
        texts[100] = "report number100 flange"  # the common word still counts in the ranking
        s.write_document(
            doc("d1"), [Page(1, "x")], [chunk(i, t) for i, t in enumerate(texts)], replace=[], model="m"
        )
        ids = [c.id for c in s.chunks()]
        everything = s.lexical_candidates(["widget", "flange"], 2000)
        assert len(everything) == 1000  # no statistics yet: every word selects
        s._execute("ANALYZE chunks_fts")
        s.lexical_match_budget = 100
        s._lexeme_stats = None
        assert s.match_lexemes(["widget", "flange"]) == ["flang"]
        got = s.lexical_candidates(["widget", "flange"], 2000)
        assert {cid for cid, _ in got} == {ids[i] for i in range(0, 1000, 50)}
        assert got[-1][0] == ids[100]  # ranked by both words
        assert s.match_lexemes(["flange"]) is None  # a rare word alone is within the budget
        # common words alone: the rarer of them ("report" is in every chunk, "widget" in 999) selects
        assert len(s.lexical_candidates(["widget", "report"], 2000)) == 999
        s.lexical_match_budget = 100_000
        s._lexeme_stats = None
        assert s.match_lexemes(["widget", "flange"]) is None
        assert s.lexical_candidates(["widget", "flange"], 2000) == everything


def test_lexical_search_does_not_wait_for_a_query_on_the_main_connection(pg_url):
    """The Searcher runs its lexical query on a thread while the dense one runs; one psycopg connection
    runs one query at a time, so lexical search reads on a connection of its own. Inside a write
    transaction it reads on that transaction's connection and sees the rows written so far."""
    from synthtune.store.postgres import PostgresStore

    with PostgresStore(pg_url) as s:
        s.add_embedding_model(EmbeddingModel("m", 4, True, "", "", 0))
        s.write_document(doc("d1"), [Page(1, "x")], [chunk(0, "flange report")], replace=[], model="m")
        busy = threading.Thread(target=lambda: s._rows("SELECT pg_sleep(2)"))
        busy.start()
        time.sleep(0.3)
        started = time.monotonic()
        got = s.lexical_candidates(["flange"], 10)
        took = time.monotonic() - started
        busy.join()
        assert len(got) == 1 and took < 1.0, took
        with s.transaction():
            s.write_document(
                doc("d2", "/docs/b.md"), [Page(1, "y")], [chunk(0, "flange bolt")], replace=[], model="m"
            )
            assert len(s.lexical_candidates(["flange"], 10)) == 2


def make_docs(tmp_path):
    for name, text in DOCS.items():
        write(tmp_path / "docs" / name, text)
    return tmp_path / "docs"


def test_ingest_search_generate_resume_on_both(store_url, make_project, tmp_path, tiny_dir):  # noqa: F811
    backend = {"model": tiny_dir, "max_new_tokens": 6, "batch_size": 8}
    p = make_project(
        {
            "store": {"url": store_url},
            "llm": {"question_writer": backend, "answerer": backend},
            "generate": {"questions_per_chunk": 1, "max_retries": 0},
        }
    )
    report = p.ingest([make_docs(tmp_path)])
    assert report.added == 3 and p.ingest([tmp_path / "docs"]).unchanged == 3
    for mode in ("lexical", "dense", "hybrid"):
        top = p.search("Where will the new factory open?", k=3, mode=mode)[0]
        assert "Reno" in top.text and top.source_path.endswith("call.txt")
        assert p.store.pages(top.document_id)[0].text[top.char_start : top.char_end] == top.text
    from synthtune.synth.generate import generate

    first = generate(p, limit_chunks=1)
    assert first.units_done >= 1
    rest = generate(p)  # resumes: the first run's units are skipped, the others done
    assert rest.units_skipped == first.units_done
    again = generate(p)
    assert again.units_done == 0 and again.questions_added == again.answers_added == 0
    assert len(p.store.done_work_keys()) == first.units_done + rest.units_done


def test_hits_are_the_same_on_both_backends(pg_url, make_project, tmp_path):
    docs = make_docs(tmp_path)
    lite = make_project(name="lite")
    pg = make_project({"store": {"url": pg_url}}, name="pg")
    for p in (lite, pg):
        p.ingest([docs])
    for query in ("Acme revenue third quarter", "Dayton plant", "factory Reno hiring"):
        for mode in ("dense", "hybrid"):
            a, b = lite.search(query, k=3, mode=mode), pg.search(query, k=3, mode=mode)
            assert [(h.citation, h.text) for h in a] == [(h.citation, h.text) for h in b], (query, mode)
            if mode == "dense":  # hybrid scales each backend's own lexical scores (FTS5 BM25, ts_rank)
                assert [h.score for h in a] == pytest.approx([h.score for h in b], abs=1e-5)
        assert (
            lite.search(query, k=1, mode="lexical")[0].text == pg.search(query, k=1, mode="lexical")[0].text
        )


def _writer(url: str, order: int) -> None:
    """One writer process: the same 20 documents as the other, in its own order, with their vectors."""
    with open_url(url) as s:
        m = s.add_embedding_model(EmbeddingModel("m", 4, True, "", "", 0))
        for i in range(20)[::order]:
            chunks = [chunk(j, f"document {i} part {j}") for j in range(3)]
            chunks = [dataclasses.replace(c, embed_key=f"d{i}c{c.ordinal}") for c in chunks]
            s.put_vectors(m.id, [c.embed_key for c in chunks], np.full((3, 4), i, np.float32))
            s.write_document(doc(f"sha{i}", f"/docs/{i}.md"), [Page(1, "p")], chunks, replace=[], model="m")


def test_two_writer_processes_store_everything_once(pg_url):
    ctx = multiprocessing.get_context("fork")  # the children import nothing anew
    procs = [ctx.Process(target=_writer, args=(pg_url, order)) for order in (1, -1)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    with open_url(pg_url) as s:
        assert sorted(d.sha256 for d in s.documents()) == sorted(f"sha{i}" for i in range(20))
        assert len(s.chunks()) == 60 and s.kb_counts().vectors == 60 and len(s.embedding_models()) == 1


@pytest.mark.slow
def test_two_writers_ingest_at_once(pg_url, tmp_path):
    """Two `synthtune ingest` processes on the same folder at the same time: every file once, every
    chunk once."""
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "synthtune.yaml").write_text(yaml.safe_dump({"store": {"url": pg_url}}))
    docs = tmp_path / "docs"
    for i in range(12):
        write(docs / f"report_{i:02}.md", f"# Report {i}\n\n" + f"Unit {i} shipped {i * 7} robots. " * 40)
    env_cmd = [sys.executable, "-m", "synthtune", "-C", str(proj), "ingest", str(docs), "--json"]
    import os

    from conftest import SRC

    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (str(SRC), os.environ.get("PYTHONPATH")) if p),
    }
    procs = [
        subprocess.Popen(env_cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
    with open_url(pg_url) as s:
        documents = s.documents()
        assert sorted(d.title for d in documents) == sorted(f"Report {i}" for i in range(12))
        chunks = s.chunks()
        assert len({(c.document_id, c.ordinal) for c in chunks}) == len(chunks)
        assert {c.document_id for c in chunks} == {d.id for d in documents}
        assert s.kb_counts().vectors == len({c.embed_key for c in chunks})
        assert len(s.embedding_models()) == 1


def test_store_copy_both_ways_is_verified(pg_url, make_project, tmp_path):
    lite = make_project(name="lite")
    lite.ingest([make_docs(tmp_path)])
    lite.search("revenue")
    lite.close()
    out = synthtune_cmd("store", "copy", lite.dir, pg_url, "--json")
    assert out.returncode == 0, out.stderr
    import json

    copied = {r["table"]: r for r in json.loads(out.stdout)}
    assert copied["chunks"]["rows"] > 0 and copied["embeddings"]["rows"] == copied["chunks"]["rows"]
    back = tmp_path / "back"
    out = synthtune_cmd("store", "copy", pg_url, back)
    assert out.returncode == 0, out.stderr
    with open_url(lite.dir) as a, open_url(pg_url) as b, open_url(back) as c:
        for table in TABLES:
            cols = a.table_columns(table)
            assert (
                table_checksum(a, table, cols)
                == table_checksum(b, table, cols)
                == table_checksum(c, table, cols)
            )
        # the copy is a working store: new rows get new ids, dense search runs on its HNSW index
        m = b.embedding_models()[0]
        new = b.write_document(doc("new"), [Page(1, "p")], [chunk(0, "fresh")], replace=[], model=m.name)
        assert new > max(d.id for d in a.documents())
    again = synthtune_cmd("store", "copy", lite.dir, pg_url)
    assert again.returncode == 1 and "is not empty" in again.stderr and "Traceback" not in again.stderr
