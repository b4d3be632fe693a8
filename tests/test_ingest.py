"""Ingestion: identity by sha256, incremental re-ingest, replacement, failures isolated, atomic documents."""

from __future__ import annotations

import sqlite3

import pytest
from conftest import write

REPORT_Q3 = """# Acme Q3 results

Revenue was $152.2 million in the third quarter, up 24.9% year over year.

Gross margin reached 43.4%, and operating income was $9.4 million.
"""

CALL = """Operator: Welcome to the Acme Robotics earnings call.

CEO: We opened a new factory in Reno, Nevada, and signed Northwind Grocers as a customer.
"""


@pytest.fixture
def corpus(tmp_path):
    d = tmp_path / "docs"
    write(d / "q3.md", REPORT_Q3)
    write(d / "sub" / "call.txt", CALL)
    write(d / "notes.tmp", "excluded by pattern")
    write(d / ".hidden" / "secret.md", "excluded folder")
    return d


def counts(p):
    s = p.store
    return {t: s.scalar(f"SELECT COUNT(*) FROM {t}") for t in ("documents", "pages", "chunks", "embeddings")}


def test_ingest_folder_recursive_with_globs(make_project, corpus):
    p = make_project()
    r = p.ingest([corpus])
    assert (r.added, r.updated, r.unchanged, r.failed) == (2, 0, 0, [])
    paths = sorted(d["source_path"].rsplit("/", 1)[-1] for d in p.documents())
    assert paths == ["call.txt", "q3.md"]
    assert r.chunks == counts(p)["chunks"] > 0
    docs = {d["source_path"].rsplit("/", 1)[-1]: d for d in p.documents()}
    assert docs["q3.md"]["title"] == "Acme Q3 results"
    assert docs["q3.md"]["media_type"] == "text/markdown"


def test_unchanged_corpus_is_skipped_without_embedding(make_project, corpus):
    p = make_project()
    p.ingest([corpus])
    before = counts(p)
    r = p.ingest([corpus])
    assert (r.added, r.updated, r.unchanged, r.chunks, r.embedded) == (0, 0, 2, 0, 0)
    assert counts(p) == before


def test_same_file_twice_is_one_document(make_project, corpus, tmp_path):
    p = make_project()
    copy = write(tmp_path / "elsewhere" / "q3-copy.md", REPORT_Q3)
    r = p.ingest([corpus / "q3.md", copy])
    assert (r.added, r.unchanged) == (1, 1)
    assert counts(p)["documents"] == 1


def test_changed_file_replaces_old_version_and_reuses_unchanged_embeddings(make_project, corpus):
    p = make_project({"ingest": {"chunk_size": 24, "chunk_overlap": 0}})
    p.ingest([corpus])
    old_id = p.store.scalar("SELECT id FROM documents WHERE source_path LIKE '%q3.md'")
    old_chunks = p.store.scalar("SELECT COUNT(*) FROM chunks WHERE document_id = ?", (old_id,))
    write(corpus / "q3.md", REPORT_Q3 + "\nHeadcount rose to 412 employees at quarter end.\n")
    r = p.ingest([corpus])
    assert (r.added, r.updated, r.unchanged) == (0, 1, 1)
    assert p.store.scalar("SELECT COUNT(*) FROM chunks WHERE document_id = ?", (old_id,)) == 0
    assert p.store.scalar("SELECT COUNT(*) FROM documents") == 2
    # only passages whose text changed were embedded again
    assert old_chunks >= 2 and r.chunks == old_chunks + 1
    assert r.embedded == 1
    hits = p.search("How many employees at quarter end?", k=1, mode="lexical")
    assert "412" in hits[0].text
    # the old text is no longer findable
    assert p.store.scalar("SELECT COUNT(*) FROM documents WHERE id = ?", (old_id,)) == 0


def test_bad_files_are_reported_and_the_rest_stored(make_project, corpus):
    write(corpus / "broken.pdf", "%PDF-1.7 this is not really a pdf")
    (corpus / "empty.pdf").write_bytes(b"")
    p = make_project()
    r = p.ingest([corpus, corpus / "missing.md"])
    assert r.added == 2
    failed = {f["path"].rsplit("/", 1)[-1]: f["error"] for f in r.failed}
    assert set(failed) == {"broken.pdf", "empty.pdf", "missing.md"}
    assert "not a valid PDF" in failed["broken.pdf"]
    assert "empty" in failed["empty.pdf"]
    assert "no such file" in failed["missing.md"]
    status = p.status()
    assert {f["path"].rsplit("/", 1)[-1] for f in status["failures"]} == {"broken.pdf", "empty.pdf"}
    # fixing the file clears its failure
    (corpus / "broken.pdf").unlink()
    write(corpus / "broken.md", "Fixed now: revenue was fine.")
    p.ingest([corpus])


def test_a_failure_while_writing_leaves_nothing_half_written(make_project, corpus):
    p = make_project()
    p.ingest([corpus / "sub" / "call.txt"])
    before = counts(p)
    # a real SQLite failure in the middle of the document's transaction
    p.store.execute(
        "CREATE TEMP TRIGGER poison BEFORE INSERT ON chunks WHEN new.text LIKE '%gross margin%'"
        " BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
    )
    with pytest.raises(sqlite3.IntegrityError, match="injected"):
        p.ingest([corpus / "q3.md"])
    after = counts(p)
    assert after["documents"] == before["documents"]
    assert after["pages"] == before["pages"]
    assert after["chunks"] == before["chunks"]
    assert p.store.scalar("SELECT COUNT(*) FROM documents WHERE source_path LIKE '%q3.md'") == 0


def test_pdf_pages_are_cited_one_based(make_project, tmp_path):
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("helvetica", size=12)
    for i in range(1, 4):
        pdf.add_page()
        pdf.multi_cell(0, 8, f"Page {i} text. The fleet count on this page is {i * 111} robots.")
    path = tmp_path / "three.pdf"
    pdf.output(str(path))
    p = make_project()
    assert p.ingest([path]).added == 1
    hits = p.search("fleet count 333 robots", k=1, mode="lexical")
    assert hits[0].page_start == 3
    page = p.store.scalar("SELECT text FROM pages WHERE page_no = 3")
    assert page[hits[0].char_start : hits[0].char_end] == hits[0].text


def test_contextual_header_is_stored_and_can_be_switched_off(make_project, corpus):
    on = make_project(name="on")
    on.ingest([corpus / "q3.md"])
    assert on.store.scalar("SELECT header FROM chunks LIMIT 1") == "Acme Q3 results"
    off = make_project({"embedding": {"contextual_header": False}}, name="off")
    off.ingest([corpus / "q3.md"])
    assert off.store.scalar("SELECT header FROM chunks LIMIT 1") == ""
