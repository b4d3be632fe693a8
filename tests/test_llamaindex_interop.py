"""LlamaIndex interop: export a real store as a LlamaIndex persist dir, import it (and LlamaIndex's own) back."""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import asdict
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from conftest import write
from fpdf import FPDF

from synthtune import cli
from synthtune.config import BUNDLED_EMBEDDER, parse_settings
from synthtune.errors import EmbeddingModelMismatch, SynthtuneError
from synthtune.interop.llamaindex import (
    DOCSTORE_FILE,
    INDEX_STORE_FILE,
    SYNTHTUNE_FILE,
    VECTOR_STORE_FILE,
    export_index,
    import_index,
)
from synthtune.project import Project

try:
    import llama_index.core  # noqa: F401

    HAVE_LLAMA_INDEX = True
except ImportError:
    HAVE_LLAMA_INDEX = False
needs_llama_index = pytest.mark.skipif(not HAVE_LLAMA_INDEX, reason="llama-index-core is not installed")

SETTINGS = {"ingest": {"chunk_size": 48, "chunk_overlap": 12}}  # several overlapping chunks per page
MARKDOWN = """# Acme Q3 results

## Revenue

Acme revenue was $152.2 million in the third quarter, up 12 percent from a year earlier. Growth came
from the industrial sensors line, which sold 40,000 units. Services revenue was $18.1 million.

## Outlook

Management expects fourth-quarter revenue between $150 million and $156 million. The company will
open a second warehouse in Tulsa and hire 120 people there before the end of the year.
"""
CALL = (
    "Operator: Welcome to the Globex call.\n\nCEO: A new factory opens in Reno, Nevada next spring. "
    "Hiring has started and the plant will employ 300 people.\n\nCFO: Cash at quarter end was $41 million."
)
PDF_PAGES = [
    "Initech annual report. Net income was $7.7 million. The board approved a dividend of 10 cents.",
    None,  # a page without text: numbering must survive the round trip
    "Initech headcount grew to 2,450 employees. The Austin office moved to a larger building downtown.",
]
QUERIES = [
    "Where will the new factory open?",
    "What was Acme revenue in the third quarter?",
    "How many employees does Initech have?",
    "What dividend did the board approve?",
]


def _pdf(path: Path, pages: list[str | None]) -> Path:
    pdf = FPDF()
    pdf.set_font("helvetica", size=12)
    for text in pages:
        pdf.add_page()
        if text is not None:
            pdf.multi_cell(0, 8, text)
    path.write_bytes(bytes(pdf.output()))
    return path


def _project(directory: Path, embedder, settings: dict | None = None) -> Project:
    directory.mkdir(parents=True, exist_ok=True)
    p = Project(directory, parse_settings(settings or SETTINGS))
    p._embedder = embedder  # share the session's loaded model
    return p


@pytest.fixture(scope="module")
def source(tmp_path_factory, embedder):
    root = tmp_path_factory.mktemp("li-source")
    write(root / "docs" / "acme_q3.md", MARKDOWN)
    write(root / "docs" / "globex_call.txt", CALL)
    _pdf(root / "docs" / "initech_report.pdf", PDF_PAGES)
    p = _project(root / "proj", embedder)
    report = p.ingest([root / "docs"])
    assert report.ok and report.added == 3
    yield p
    p.close()


@pytest.fixture(scope="module")
def exported(source, tmp_path_factory):
    out = tmp_path_factory.mktemp("li-export") / "index"
    result = export_index(source, out)
    return out, result


@pytest.fixture(scope="module")
def imported(exported, tmp_path_factory, embedder):
    out, _ = exported
    p = _project(tmp_path_factory.mktemp("li-import") / "proj", embedder)
    result = import_index(p, out)
    yield p, result
    p.close()


def _chunks(p: Project) -> dict[str, list[dict]]:
    """Chunks per document title, in order, with their page's text and their vector under the store's model."""
    model = p.store.embedding_model(p.store.active_embedding_model())
    out: dict[str, list[dict]] = {}
    for doc in sorted(p.documents(), key=lambda d: (d.title, d.id)):
        pages = {pg.page_no: pg.text for pg in p.store.pages(doc.id)}
        chunks = p.store.chunks(doc.id)
        vectors = p.store.vectors(model.id, [c.embed_key for c in chunks])
        out.setdefault(doc.title, []).extend(
            asdict(c)
            | {"title": doc.title, "source_path": doc.source_path, "media_type": doc.media_type}
            | {"n_pages": doc.n_pages, "page_text": pages[c.page_start], "vector": vectors.get(c.embed_key)}
            for c in chunks
        )
    return out


def _rows(p: Project) -> list[dict]:
    """Every chunk as _chunks has it, in chunk id order."""
    return sorted((c for cs in _chunks(p).values() for c in cs), key=lambda c: c["id"])


# ------------------------------------------------------------------------------------------ round trip


def test_round_trip_keeps_text_citations_vectors_and_model(source, exported, imported):
    _, exp = exported
    dst, result = imported
    n_chunks = source.store.kb_counts().chunks
    assert exp["nodes"] == n_chunks and exp["documents"] == 3 and exp["missing_vectors"] == 0
    assert exp["embedding_model"] == BUNDLED_EMBEDDER and exp["dim"] == 384
    assert (result["documents"], result["added"], result["chunks"], result["vectors"]) == (
        3,
        3,
        n_chunks,
        n_chunks,
    )
    assert result["embedded"] == 0  # every vector came from the files
    assert result["model"] == dst.store.active_embedding_model() == BUNDLED_EMBEDDER

    a, b = _chunks(source), _chunks(dst)
    assert set(a) == set(b) and len(a) == 3
    overlapping = [
        (x, y)
        for v in a.values()
        for x, y in pairwise(v)
        if x["page_start"] == y["page_start"] and y["char_start"] < x["char_end"]
    ]
    assert overlapping  # overlapping chunks were placed back on their page
    for title, want in a.items():
        got = b[title]
        assert [c["text"] for c in got] == [c["text"] for c in want]
        keys = ("page_start", "page_end", "char_start", "char_end", "header", "section", "n_tokens", "sha256")
        assert [tuple(c[k] for k in keys) for c in got] == [tuple(c[k] for k in keys) for c in want]
        assert [c["embed_key"] for c in got] == [c["embed_key"] for c in want]  # the same passage strings
        assert (got[0]["source_path"], got[0]["media_type"], got[0]["n_pages"]) == (
            want[0]["source_path"],
            want[0]["media_type"],
            want[0]["n_pages"],
        )
        for c in got:
            assert c["page_text"][c["char_start"] : c["char_end"]] == c["text"]
            assert c["vector"] is not None
        va = np.stack([c["vector"] for c in want])
        vb = np.stack([c["vector"] for c in got])
        np.testing.assert_allclose(vb, va, rtol=0, atol=1e-7)

    (pdf,) = [d for d in dst.documents() if d.media_type == "application/pdf"]
    assert [(pg.page_no, pg.has_text) for pg in dst.store.pages(pdf.id)] == [(1, True), (2, False), (3, True)]

    def models(p):
        return [
            (m.name, m.dim, m.normalized, m.query_prefix, m.passage_prefix)
            for m in p.store.embedding_models()
        ]

    assert models(dst) == models(source)


def test_imported_store_answers_like_the_original(source, imported):
    dst, _ = imported
    for q in QUERIES:
        want, got = source.search(q, k=3), dst.search(q, k=3)
        assert got[0].text == want[0].text, q
        assert (got[0].title, got[0].page_start, got[0].char_start) == (
            want[0].title,
            want[0].page_start,
            want[0].char_start,
        )
    assert "Reno" in dst.search(QUERIES[0], k=1, mode="dense")[0].text


def test_reimport_is_idempotent_also_into_the_exporting_store(source, exported, imported):
    out, _ = exported
    dst, _ = imported
    before = (dst.store.kb_version(), dst.store.kb_counts())
    again = import_index(dst, out)
    assert (again["unchanged"], again["documents"], again["chunks"]) == (3, 0, 0)
    assert (dst.store.kb_version(), dst.store.kb_counts()) == before
    home = import_index(source, out)  # the same documents, known by their original sha256
    assert (home["unchanged"], home["documents"]) == (3, 0)


def test_export_layout_is_llamaindex_persist_format(source, exported):
    out, _ = exported
    vs = json.loads((out / VECTOR_STORE_FILE).read_text())
    ds = json.loads((out / DOCSTORE_FILE).read_text())
    ix = json.loads((out / INDEX_STORE_FILE).read_text())
    meta = json.loads((out / SYNTHTUNE_FILE).read_text())
    assert set(vs) == {"embedding_dict", "text_id_to_ref_doc_id", "metadata_dict"}
    assert set(ds) == {"docstore/data", "docstore/metadata", "docstore/ref_doc_info"}
    (struct,) = ix["index_store/data"].values()
    assert struct["__type__"] == "vector_store"
    nodes_dict = json.loads(struct["__data__"])["nodes_dict"]
    assert set(nodes_dict) == set(ds["docstore/data"]) == set(vs["embedding_dict"])
    for nid, entry in ds["docstore/data"].items():
        assert entry["__type__"] == "1"
        node = entry["__data__"]
        assert node["class_name"] == "TextNode" and node["id_"] == nid
        md = node["metadata"]
        assert {
            "title",
            "source_path",
            "page_label",
            "page_start",
            "page_end",
            "char_start",
            "char_end",
            "document_sha256",
            "synthtune_chunk_id",
            "synthtune_embedding_model",
        } <= set(md)
        ref = node["relationships"]["1"]["node_id"]
        assert (
            ref
            == md["document_sha256"]
            == vs["text_id_to_ref_doc_id"][nid]
            == vs["metadata_dict"][nid]["ref_doc_id"]
        )
        assert nid in ds["docstore/ref_doc_info"][ref]["node_ids"]
        assert (node["start_char_idx"], node["end_char_idx"]) == (md["char_start"], md["char_end"])
        assert (
            "source_path" in node["excluded_embed_metadata_keys"]
            and "title" not in node["excluded_embed_metadata_keys"]
        )
        assert "page_label" not in node["excluded_llm_metadata_keys"]
        assert len(vs["embedding_dict"][nid]) == 384
    chunk_ids = {e["__data__"]["metadata"]["synthtune_chunk_id"] for e in ds["docstore/data"].values()}
    assert chunk_ids == {c.id for c in source.store.chunks()}
    assert meta["embedding_model"] == {
        "name": BUNDLED_EMBEDDER,
        "dim": 384,
        "normalized": True,
        "query_prefix": "",
        "passage_prefix": "",
        "max_seq_length": meta["embedding_model"]["max_seq_length"],
    }


# ------------------------------------------------------------------------------------------ foreign dirs


def _foreign_dir(d: Path, nodes: list[dict], with_index_store: bool = False) -> Path:
    """A persist dir as LlamaIndex writes it, written by hand: nodes are dicts of id, ref, text, metadata, vector."""
    d.mkdir(parents=True, exist_ok=True)
    data, ref_info = {}, {}
    for n in nodes:
        data[n["id"]] = {
            "__type__": "1",
            "__data__": {
                "id_": n["id"],
                "embedding": None,
                "metadata": n.get("metadata", {}),
                "excluded_embed_metadata_keys": [],
                "excluded_llm_metadata_keys": [],
                "relationships": {
                    "1": {
                        "node_id": n["ref"],
                        "node_type": "4",
                        "metadata": {},
                        "hash": None,
                        "class_name": "RelatedNodeInfo",
                    }
                },
                "metadata_template": "{key}: {value}",
                "metadata_separator": "\n",
                "text": n["text"],
                "mimetype": "text/plain",
                "start_char_idx": n.get("start"),
                "end_char_idx": n.get("end"),
                "text_template": "{metadata_str}\n\n{content}",
                "class_name": "TextNode",
            },
        }
        ref_info.setdefault(n["ref"], {"node_ids": [], "metadata": {}})["node_ids"].append(n["id"])
    (d / DOCSTORE_FILE).write_text(json.dumps({"docstore/data": data, "docstore/ref_doc_info": ref_info}))
    (d / VECTOR_STORE_FILE).write_text(
        json.dumps(
            {
                "embedding_dict": {
                    n["id"]: list(map(float, n["vector"])) for n in nodes if n.get("vector") is not None
                },
                "text_id_to_ref_doc_id": {n["id"]: n["ref"] for n in nodes},
                "metadata_dict": {},
            }
        )
    )
    if with_index_store:
        body = {"index_id": "x", "summary": None, "nodes_dict": {n["id"]: n["id"] for n in nodes}}
        (d / INDEX_STORE_FILE).write_text(
            json.dumps(
                {"index_store/data": {"x": {"__type__": "vector_store", "__data__": json.dumps(body)}}}
            )
        )
    return d


def test_foreign_model_needs_a_name_and_a_matching_store(tmp_path, embedder, exported):
    rng = np.random.default_rng(0)
    nodes = [
        {"id": f"n{i}", "ref": "doc", "text": f"Widget fact number {i}.", "vector": rng.normal(size=8)}
        for i in range(3)
    ]
    d = _foreign_dir(tmp_path / "foreign", nodes)

    fresh = _project(tmp_path / "fresh", embedder)
    with pytest.raises(SynthtuneError, match="--model"):
        import_index(fresh, d)
    with pytest.raises(SynthtuneError, match="--model says"):
        import_index(fresh, exported[0], model="acme/tiny-embedder")  # the files name their model

    used = _project(tmp_path / "used", embedder)
    import_index(used, exported[0])
    with pytest.raises(EmbeddingModelMismatch, match="acme/tiny-embedder"):
        import_index(used, d, model="acme/tiny-embedder")
    assert used.store.kb_counts().documents == 3  # nothing written by the refusal

    result = import_index(fresh, d, model="acme/tiny-embedder")
    assert (result["documents"], result["chunks"], result["vectors"]) == (1, 3, 3)
    assert fresh.store.active_embedding_model() == "acme/tiny-embedder"
    assert any("embedding.model" in w for w in result["warnings"])
    assert fresh.store.embedding_model("acme/tiny-embedder").dim == 8
    with pytest.raises(EmbeddingModelMismatch):  # searching needs the model the vectors came from
        fresh.search("widget", mode="dense")
    assert fresh.search("widget fact", mode="lexical")

    gaps = _foreign_dir(
        tmp_path / "gaps", [*nodes[:2], {"id": "n9", "ref": "doc2", "text": "No vector here."}]
    )
    other = _project(tmp_path / "other", embedder)
    with pytest.raises(SynthtuneError, match="no vector"):
        import_index(other, gaps, model="acme/tiny-embedder")


def test_nodes_without_vectors_are_embedded_and_pages_rebuilt(tmp_path, embedder):
    texts = [
        "Zorblax Corp sells quantum toasters.",
        "Toaster sales rose 40 percent.",
        "The Oslo office closed.",
    ]
    vecs = embedder.encode(texts)
    nodes = [
        {
            "id": "a",
            "ref": "r1",
            "text": texts[0],
            "vector": vecs[0],
            "metadata": {"file_name": "zorblax.pdf", "file_path": "/data/zorblax.pdf", "page_label": "2"},
        },
        {
            "id": "b",
            "ref": "r1",
            "text": texts[1],
            "metadata": {"file_name": "zorblax.pdf", "page_label": "2"},
        },
        {
            "id": "c",
            "ref": "r1",
            "text": texts[2],
            "vector": vecs[2],
            "metadata": {"file_name": "zorblax.pdf", "page_label": "4"},
        },
        {"id": "d", "ref": "r2", "text": "Untitled notes about llamas.", "start": 10, "end": 38},
    ]
    d = _foreign_dir(tmp_path / "li", nodes, with_index_store=True)
    p = _project(tmp_path / "proj", embedder)
    result = import_index(p, d, model="all-MiniLM-L6-v2")  # an alias of the bundled model
    assert result["model"] == BUNDLED_EMBEDDER
    assert (result["documents"], result["chunks"], result["vectors"], result["embedded"]) == (2, 4, 2, 2)

    docs = {doc.title: doc for doc in p.documents()}
    assert set(docs) == {"zorblax.pdf", "r2"}
    assert docs["zorblax.pdf"].source_path == "/data/zorblax.pdf" and docs["zorblax.pdf"].n_pages == 4
    assert docs["r2"].source_path == f"llamaindex://{d.resolve()}/r2"
    rows = [r | {"page": r["page_text"]} for r in _rows(p)]
    assert [(r["text"], r["page_start"]) for r in rows] == [
        (texts[0], 2),
        (texts[1], 2),
        (texts[2], 4),
        ("Untitled notes about llamas.", 1),
    ]
    for r in rows:
        assert r["page"][r["char_start"] : r["char_end"]] == r["text"]
    assert rows[3]["char_start"] == 10  # LlamaIndex's own offsets kept for a one-page document
    assert all(r["vector"] is not None for r in rows)
    hit = p.search("Which office closed?", k=1, mode="dense")[0]
    assert hit.text == texts[2] and hit.page_start == 4
    assert import_index(p, d, model=BUNDLED_EMBEDDER)["unchanged"] == 2


def test_bad_dirs_name_the_file(tmp_path, embedder, exported):
    p = _project(tmp_path / "proj", embedder)
    with pytest.raises(SynthtuneError, match="not a folder"):
        import_index(p, tmp_path / "nowhere")
    broken = tmp_path / "broken"
    shutil.copytree(exported[0], broken)
    (broken / VECTOR_STORE_FILE).write_text('{"embedding_dict": {"a": [1, 2')
    with pytest.raises(SynthtuneError, match=r"default__vector_store\.json is not valid JSON"):
        import_index(p, broken)
    (broken / VECTOR_STORE_FILE).unlink()
    with pytest.raises(SynthtuneError, match=r"default__vector_store\.json is missing"):
        import_index(p, broken)
    (broken / DOCSTORE_FILE).write_text('{"docstore/data": []}')
    with pytest.raises(SynthtuneError, match=r"docstore\.json is not in LlamaIndex's format"):
        import_index(p, broken)
    assert p.store.kb_counts().documents == 0


# ------------------------------------------------------------------------------------------ LlamaIndex itself


@needs_llama_index
def test_llamaindex_loads_the_export(source, exported):
    from llama_index.core import StorageContext, load_index_from_storage
    from llama_index.core.embeddings import MockEmbedding
    from llama_index.core.schema import MetadataMode, QueryBundle

    out, _ = exported
    index = load_index_from_storage(
        StorageContext.from_defaults(persist_dir=str(out)), embed_model=MockEmbedding(embed_dim=384)
    )
    nodes = index.docstore.docs
    sha = {doc.title: doc.sha256 for doc in source.documents()}
    rows = {r["id"]: r | {"sha256": sha[r["title"]]} for r in _rows(source)}
    assert len(nodes) == len(rows) and len(index.ref_doc_info) == 3
    for node in nodes.values():
        r = rows[node.metadata["synthtune_chunk_id"]]
        assert node.text == r["text"] and node.ref_doc_id == r["sha256"]
        assert (
            node.metadata["title"],
            node.metadata["page_start"],
            node.metadata["char_start"],
            node.metadata["char_end"],
        ) == (r["title"], r["page_start"], r["char_start"], r["char_end"])
        embed_text = node.get_content(MetadataMode.EMBED)
        assert r["title"] in embed_text and "source_path" not in embed_text
    # the vectors are the store's: querying with a chunk's own vector returns that chunk
    vectors = json.loads((out / VECTOR_STORE_FILE).read_text())["embedding_dict"]
    for nid, vec in list(vectors.items())[:3]:
        top = index.as_retriever(similarity_top_k=1).retrieve(QueryBundle(query_str="-", embedding=vec))[0]
        assert top.node.node_id == nid and top.score == pytest.approx(1.0, abs=1e-5)


@needs_llama_index
def test_import_an_index_persisted_by_llamaindex(tmp_path, embedder):
    from llama_index.core import VectorStoreIndex
    from llama_index.core.embeddings import MockEmbedding
    from llama_index.core.schema import Document, NodeRelationship, TextNode

    pages = {
        "1": ["Vandelay Industries imports latex.", "Latex imports doubled in March."],
        "2": ["The Queens warehouse flooded in April."],
    }
    nodes, texts = [], []
    for label, parts in pages.items():
        doc = Document(
            text="\n\n".join(parts),
            id_=f"vandelay-p{label}",
            metadata={"file_name": "vandelay.pdf", "page_label": label},
        )
        pos = 0
        for j, part in enumerate(parts):
            node = TextNode(
                id_=f"p{label}-{j}",
                text=part,
                metadata=dict(doc.metadata),
                start_char_idx=pos,
                end_char_idx=pos + len(part),
                embedding=embedder.encode([part])[0].tolist(),
            )
            node.relationships[NodeRelationship.SOURCE] = doc.as_related_node_info()
            nodes.append(node)
            texts.append(part)
            pos += len(part) + 2
    index = VectorStoreIndex(nodes, embed_model=MockEmbedding(embed_dim=384))
    index.storage_context.persist(persist_dir=str(tmp_path / "li"))

    p = _project(tmp_path / "proj", embedder)
    result = import_index(p, tmp_path / "li", model=BUNDLED_EMBEDDER)
    assert (result["documents"], result["chunks"], result["vectors"], result["embedded"]) == (2, 3, 3, 0)
    rows = sorted(_rows(p), key=lambda r: (r["page_start"], r["ordinal"]))
    assert [(r["title"], r["text"], r["page_start"]) for r in rows] == [
        ("vandelay.pdf", texts[0], 1),
        ("vandelay.pdf", texts[1], 1),
        ("vandelay.pdf", texts[2], 2),
    ]
    for r, node in zip(rows, nodes, strict=True):  # the vectors LlamaIndex kept, not embedded again
        assert r["page_text"][r["char_start"] : r["char_end"]] == r["text"]
        np.testing.assert_allclose(r["vector"], node.embedding, atol=1e-6)
    assert p.search("Which warehouse flooded?", k=1)[0].text == texts[2]


# ------------------------------------------------------------------------------------------ CLI


def test_cli_export_and_import_json(source, tmp_path, monkeypatch, capsys):
    def run(*args):
        monkeypatch.setattr(sys, "argv", ["synthtune", *map(str, args)])
        try:
            cli.main()
        except SystemExit as exc:
            code = exc.code or 0
        else:
            code = 0
        out = capsys.readouterr()
        return code, out.out, out.err

    (source.dir / "synthtune.yaml").write_text("ingest:\n  chunk_size: 48\n  chunk_overlap: 12\n")
    code, out, _ = run("-C", source.dir, "export-index", tmp_path / "idx", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["nodes"] == source.store.kb_counts().chunks
    assert data["embedding_model"] == BUNDLED_EMBEDDER

    (tmp_path / "new").mkdir()
    code, out, _ = run("import-index", tmp_path / "idx", "-C", tmp_path / "new", "--json")
    assert code == 0
    data = json.loads(out)
    assert (data["documents"], data["chunks"], data["model"]) == (
        3,
        json.loads((tmp_path / "idx" / SYNTHTUNE_FILE).read_text())["nodes"],
        BUNDLED_EMBEDDER,
    )

    code, out, err = run("import-index", tmp_path / "missing", "-C", tmp_path / "new", "--json")
    assert code == 1 and out == "" and err.startswith("error:")
    assert "missing is not a folder" in " ".join(err.split())


def test_export_to_an_unwritable_path_fails_before_writing(source, tmp_path):
    blocker = write(tmp_path / "a-file", "not a folder")
    with pytest.raises(SynthtuneError, match=r"cannot write the index folder .*a-file/index"):
        export_index(source, blocker / "index")
    with pytest.raises(SynthtuneError, match="cannot write the index folder"):
        export_index(source, blocker)
    assert blocker.read_text() == "not a folder"
