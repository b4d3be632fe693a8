"""Coverage: a document with no accepted example gets more of its chunks tried, one per round, up to
``curate.extra_chunks_per_document``; a covered document gets none. Driven by a tiny random model, whose
replies are never accepted, so the uncovered document uses every extra round."""

from __future__ import annotations

from conftest import write
from test_curate import add_qa
from test_train import bpe, tiny_dir  # noqa: F401  (module fixtures)

from synthtune.synth.curate import curate
from synthtune.synth.generate import generate

PARAGRAPH = "Company {name} sold {n} robots in quarter {q}, and revenue was ${rev} million in that quarter."


def doc(name: str, paragraphs: int) -> str:
    body = "\n\n".join(PARAGRAPH.format(name=name, n=10 + q, q=q, rev=100 + q) for q in range(paragraphs))
    return f"# Company {name}\n\n{body}\n"


def test_uncovered_documents_get_more_chunks_and_covered_ones_do_not(make_project, tmp_path, tiny_dir):  # noqa: F811
    backend = {"model": tiny_dir, "max_new_tokens": 6, "batch_size": 8}
    p = make_project(
        {
            "ingest": {"chunk_size": 24, "chunk_overlap": 0},
            "llm": {"question_writer": backend, "answerer": backend},
            "generate": {"max_chunks_per_document": 1, "questions_per_chunk": 1, "max_retries": 0},
            "curate": {"max_attempts_per_chunk": 1, "extra_chunks_per_document": 2},
        }
    )
    write(tmp_path / "docs" / "covered.md", doc("Alpha", 6))
    write(tmp_path / "docs" / "lacking.md", doc("Beta", 6))
    p.ingest([tmp_path / "docs"])
    by_doc = p.store.chunk_ids_by_document()
    paths = {d.id: d.source_path for d in p.store.documents_info(by_doc)}
    chunks = {
        name: next(ids for doc, ids in by_doc.items() if paths[doc].endswith(name))
        for name in ("covered.md", "lacking.md")
    }
    assert all(len(ids) >= 4 for ids in chunks.values()), chunks
    generate(p)
    tried = p.store.attempted_chunk_ids()
    assert len(tried & set(chunks["covered.md"])) == 1 and len(tried & set(chunks["lacking.md"])) == 1
    # the first document has an accepted example; the random model gives the second none
    first = chunks["covered.md"][0]
    add_qa(p, first, "What does Company Alpha sell?", "Robots.")

    report = curate(p)

    tried_after = p.store.attempted_chunk_ids()
    assert tried_after & set(chunks["covered.md"]) == {first} | (tried & set(chunks["covered.md"]))
    new = (tried_after - tried) & set(chunks["lacking.md"])
    assert len(new) == 2, "two extra rounds, one new chunk each, for the document without an example"
    assert report.coverage["chunks_attempted"] == len(tried | {first}) + 2
