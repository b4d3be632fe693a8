"""Ingestion: identity by sha256, incremental re-ingest, replacement, re-chunking when the chunking settings
change, failures isolated, atomic documents."""

from __future__ import annotations

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
    return p.store.kb_counts()


def document(p, name):
    """The stored document whose file is called ``name``."""
    (doc,) = [d for d in p.documents() if d.source_path.endswith("/" + name)]
    return doc


def test_ingest_folder_recursive_with_globs(make_project, corpus):
    p = make_project()
    r = p.ingest([corpus])
    assert (r.added, r.updated, r.unchanged, r.failed) == (2, 0, 0, [])
    paths = sorted(d.source_path.rsplit("/", 1)[-1] for d in p.documents())
    assert paths == ["call.txt", "q3.md"]
    assert r.chunks == counts(p).chunks > 0
    assert document(p, "q3.md").title == "Acme Q3 results"
    assert document(p, "q3.md").media_type == "text/markdown"


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
    assert counts(p).documents == 1


def test_changed_file_replaces_old_version_and_reuses_unchanged_embeddings(make_project, corpus):
    p = make_project({"ingest": {"chunk_size": 24, "chunk_overlap": 0}})
    p.ingest([corpus])
    old_id = document(p, "q3.md").id
    old_chunks = len(p.store.chunks(old_id))
    write(corpus / "q3.md", REPORT_Q3 + "\nHeadcount rose to 412 employees at quarter end.\n")
    r = p.ingest([corpus])
    assert (r.added, r.updated, r.unchanged) == (0, 1, 1)
    assert p.store.chunks(old_id) == []
    assert counts(p).documents == 2
    # only passages whose text changed were embedded again
    assert old_chunks >= 2 and r.chunks == old_chunks + 1
    assert r.embedded == 1
    hits = p.search("How many employees at quarter end?", k=1, mode="lexical")
    assert "412" in hits[0].text
    # the old version is gone
    assert old_id not in {d.id for d in p.documents()}


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
    # fixing the file clears its failure, and the fixed file is stored
    (corpus / "broken.pdf").write_bytes(_pdf_bytes("Fixed now: the broken report says revenue was fine."))
    (corpus / "empty.pdf").write_bytes(_pdf_bytes("The empty file has a page now."))
    r = p.ingest([corpus])
    assert (r.added, r.unchanged, r.failed) == (2, 2, [])
    assert p.store.failures() == []
    assert p.status()["failures"] == []
    assert document(p, "broken.pdf").media_type == "application/pdf"
    assert p.search("broken report revenue", k=1, mode="lexical")[0].source_path.endswith("broken.pdf")


def _pdf_bytes(*pages: str) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("helvetica", size=12)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 8, text)
    return bytes(pdf.output())


def test_a_failure_while_writing_leaves_nothing_half_written(make_project, corpus, monkeypatch):
    p = make_project()
    p.ingest([corpus / "sub" / "call.txt"])
    before = (counts(p), p.store.kb_version())
    # the database fails after the document and its pages are written, before its chunks are
    real = p.store._executemany

    def failing(sql, rows):
        if sql.startswith("INSERT INTO chunks"):
            raise OSError("disk gone")
        real(sql, rows)

    monkeypatch.setattr(p.store, "_executemany", failing)
    with pytest.raises(OSError, match="disk gone"):
        p.ingest([corpus / "q3.md"])
    after = (counts(p), p.store.kb_version())
    assert (after[0].documents, after[0].pages, after[0].chunks, after[1]) == (
        before[0].documents,
        before[0].pages,
        before[0].chunks,
        before[1],
    )
    assert not [d for d in p.documents() if d.source_path.endswith("q3.md")]


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
    page = p.store.pages(hits[0].document_id)[2].text
    assert page[hits[0].char_start : hits[0].char_end] == hits[0].text


def test_contextual_header_is_stored_and_can_be_switched_off(make_project, corpus):
    on = make_project(name="on")
    on.ingest([corpus / "q3.md"])
    assert {c.header for c in on.store.chunks()} == {"Acme Q3 results"}
    off = make_project({"embedding": {"contextual_header": False}}, name="off")
    off.ingest([corpus / "q3.md"])
    assert {c.header for c in off.store.chunks()} == {""}


LONG = "\n\n".join(
    f"Paragraph {i}: the Reno plant shipped {i * 40} robots to Northwind Grocers in week {i}."
    for i in range(1, 9)
)


def test_changed_chunking_settings_rechunk_unchanged_files(make_project, tmp_path):
    path = write(tmp_path / "long.md", "# Shipments\n\n" + LONG)
    p = make_project({"ingest": {"chunk_size": 200, "chunk_overlap": 0}})
    p.ingest([path])
    before = p.store.chunks(document(p, "long.md").id)

    p.settings.ingest.chunk_size = 32  # as if synthtune.yaml were edited
    r = p.ingest([path])
    assert (r.added, r.updated, r.rechunked, r.unchanged, r.failed) == (0, 0, 1, 0, [])
    assert r.to_json()["rechunked"] == 1
    after = p.store.chunks(document(p, "long.md").id)
    assert len(after) > len(before) and max(c.n_tokens for c in after) <= 32
    assert r.chunks == len(after) and r.embedded > 0
    assert counts(p).documents == 1 and counts(p).chunks == len(after)
    assert "week 7" in p.search("robots shipped in week 7", k=1, mode="lexical")[0].text

    again = p.ingest([path])  # recorded: nothing to do the next time
    assert (again.rechunked, again.unchanged, again.chunks) == (0, 1, 0)

    p.settings.embedding.contextual_header = False
    r = p.ingest([path])
    assert r.rechunked == 1 and {c.header for c in p.store.chunks()} == {""}


def test_chunking_settings_that_cut_the_same_chunks_keep_the_document(make_project, corpus):
    p = make_project()
    p.ingest([corpus / "q3.md"])
    doc = document(p, "q3.md")
    chunk_ids = [c.id for c in p.store.chunks(doc.id)]
    p.settings.ingest.chunk_overlap = 0  # q3.md is one chunk either way
    r = p.ingest([corpus / "q3.md"])
    assert (r.unchanged, r.rechunked, r.embedded) == (1, 0, 0)
    now = document(p, "q3.md")
    assert now.id == doc.id and now.chunking_sha != doc.chunking_sha
    assert [c.id for c in p.store.chunks(doc.id)] == chunk_ids


def test_ingest_stage_declares_its_settings_and_files(make_project, corpus):
    from synthtune.ingest.pipeline import STAGE

    p = make_project({"ingest": {"paths": [str(corpus)]}})
    assert STAGE.name == "ingest" and set(STAGE.settings) == {"ingest", "embedding"}
    before = STAGE.inputs(p)
    assert sorted(f[0].rsplit("/", 1)[-1] for f in before["files"]) == ["call.txt", "q3.md"]
    write(corpus / "new.md", "# New\n\nA new document.")
    assert STAGE.inputs(p) != before
    summary = STAGE.run(p, None)
    assert (summary["added"], summary["unchanged"]) == (3, 0)
