"""LlamaIndex interop: ``synthtune export-index DIR`` and ``synthtune import-index DIR``.

The layout is what ``StorageContext.persist(DIR)`` writes for a ``VectorStoreIndex`` over LlamaIndex's
``SimpleVectorStore`` (checked against llama-index-core 0.14), so ``load_index_from_storage`` reads an
export as it is, and an index persisted by LlamaIndex imports here:

``default__vector_store.json``
    ``{"embedding_dict": {node_id: [float, ...]}, "text_id_to_ref_doc_id": {node_id: ref_doc_id},
    "metadata_dict": {node_id: {<node metadata>, "_node_type", "document_id", "doc_id", "ref_doc_id"}}}``
``docstore.json``
    ``{"docstore/data": {node_id: {"__type__": "1", "__data__": <TextNode>}},
    "docstore/metadata": {node_id: {"doc_hash", "ref_doc_id"}},
    "docstore/ref_doc_info": {ref_doc_id: {"node_ids": [...], "metadata": {...}}}}``
``index_store.json``
    ``{"index_store/data": {index_id: {"__type__": "vector_store", "__data__": "<IndexDict as a JSON
    string: index_id, summary, nodes_dict, doc_id_dict, embeddings_dict>"}}}``
``graph_store.json``
    an empty graph: LlamaIndex loads without it, but logs a warning.
``synthtune_index.json``
    ours, ignored by LlamaIndex: the embedding model (name, dim, normalisation, prefixes) and counts.

One synthtune document is one ref doc (id: the document's sha256); one chunk is one ``TextNode`` whose
metadata carries the citation (title, source_path, page_label, page_start/end, char_start/end into the
page text, section) and synthtune's bookkeeping (chunk id, document sha256, contextual header, embedding
model), all but title/section kept out of what LlamaIndex embeds and title/section/page_label out of what
it shows an LLM. ``start_char_idx``/``end_char_idx`` are offsets into the page's text, as LlamaIndex's
per-page PDF readers have them.

Importing rebuilds pages so that every chunk's text is ``page.text[char_start:char_end]``: when the
nodes say where they sat on their page (synthtune's char offsets, or LlamaIndex's start/end_char_idx for
a single-page ref doc) and agree with each other, they are placed there (gaps become whitespace); else
the page is the node texts joined with blank lines.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from synthtune import __version__
from synthtune.embed import canonical_name, embed_missing, family_prefixes, model_record, text_key
from synthtune.errors import EmbeddingModelMismatch, SynthtuneError
from synthtune.ingest.chunking import make_header
from synthtune.paths import ensure_writable_dir
from synthtune.store import Chunk, Document, EmbeddingModel, Page, Store, utcnow

if TYPE_CHECKING:
    from synthtune.embed import Embedder
    from synthtune.project import Project

VECTOR_STORE_FILE = "default__vector_store.json"
LEGACY_VECTOR_STORE_FILE = "vector_store.json"  # LlamaIndex before namespaced vector stores
DOCSTORE_FILE = "docstore.json"
INDEX_STORE_FILE = "index_store.json"
GRAPH_STORE_FILE = "graph_store.json"
SYNTHTUNE_FILE = "synthtune_index.json"
FORMAT = "synthtune-llamaindex"
FORMAT_VERSION = 1

# LlamaIndex's enums as they appear in its JSON: ObjectType TEXT="1", DOCUMENT="4";
# NodeRelationship SOURCE="1", PREVIOUS="2", NEXT="3".
TEXT_NODE = "1"
DOCUMENT_NODE = "4"
SOURCE, PREVIOUS, NEXT = "1", "2", "3"
METADATA_TEMPLATE = "{key}: {value}"
METADATA_SEPARATOR = "\n"
TEXT_TEMPLATE = "{metadata_str}\n\n{content}"

EMBED_KEYS = ("title", "section")  # every other metadata key is excluded from LlamaIndex's embedding text
LLM_KEYS = ("title", "page_label", "section")  # ... and from what it shows an LLM
MODEL_KEY = "synthtune_embedding_model"
HEADER_KEY = "synthtune_header"
_NODE_NAMESPACE = uuid.UUID("0f1c1e9e-5b1e-4a57-9a57-73796e747475")


# ---------------------------------------------------------------------------------------------------
# export


def _node_id(document_sha256: str, ordinal: int) -> str:
    """Stable across exports of the same content, UUID-shaped for vector databases that want one."""
    return str(uuid.uuid5(_NODE_NAMESPACE, f"{document_sha256}:{ordinal}"))


def _related(node_id: str, node_type: str) -> dict[str, Any]:
    return {
        "node_id": node_id,
        "node_type": node_type,
        "metadata": {},
        "hash": None,
        "class_name": "RelatedNodeInfo",
    }


def _text_node_hash(text: str, metadata: dict[str, Any]) -> str:
    """``TextNode.hash`` as LlamaIndex computes it (it reads it back as ``docstore/metadata.doc_hash``)."""
    return hashlib.sha256((text + str(metadata)).encode("utf-8", "surrogatepass")).hexdigest()


def _write_atomic(path: Path, write) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        write(fh)
    os.replace(tmp, path)


def _dump(path: Path, data: Any) -> None:
    _write_atomic(path, lambda fh: json.dump(data, fh))


def export_index(project: Project, directory: str | Path) -> dict[str, Any]:
    """Write the knowledge base as a LlamaIndex persist dir; returns a summary (``nodes``, ``documents``, ...)."""
    store = project.store
    d = Path(directory)
    ensure_writable_dir(d, "index folder")

    name = store.active_embedding_model()
    model = store.embedding_model(name) if name else None
    rows = store.indexed_chunks(model.id if model else None)

    data: dict[str, Any] = {}
    doc_meta: dict[str, Any] = {}
    ref_info: dict[str, Any] = {}
    vectors: dict[str, np.ndarray] = {}
    vs_meta: dict[str, Any] = {}
    text_to_ref: dict[str, str] = {}
    ids = [_node_id(r.document.sha256, r.chunk.ordinal) for r in rows]
    for i, r in enumerate(rows):
        nid, ref, c, doc = ids[i], r.document.sha256, r.chunk, r.document
        meta: dict[str, Any] = {
            "title": doc.title,
            "source_path": doc.source_path,
            "page_label": str(c.page_start),
            "page_start": c.page_start,
            "page_end": c.page_end,
            "char_start": c.char_start,
            "char_end": c.char_end,
        }
        if c.section:
            meta["section"] = c.section
        meta |= {
            "media_type": doc.media_type,
            "document_sha256": ref,
            "synthtune_chunk_id": c.id,
            HEADER_KEY: c.header,
            MODEL_KEY: name,
        }
        rels = {SOURCE: _related(ref, DOCUMENT_NODE)}
        if i > 0 and rows[i - 1].document.sha256 == ref:
            rels[PREVIOUS] = _related(ids[i - 1], TEXT_NODE)
        if i + 1 < len(rows) and rows[i + 1].document.sha256 == ref:
            rels[NEXT] = _related(ids[i + 1], TEXT_NODE)
        data[nid] = {
            "__data__": {
                "id_": nid,
                "embedding": None,
                "metadata": meta,
                "excluded_embed_metadata_keys": [k for k in meta if k not in EMBED_KEYS],
                "excluded_llm_metadata_keys": [k for k in meta if k not in LLM_KEYS],
                "relationships": rels,
                "metadata_template": METADATA_TEMPLATE,
                "metadata_separator": METADATA_SEPARATOR,
                "text": c.text,
                "mimetype": "text/plain",
                "start_char_idx": c.char_start,
                "end_char_idx": c.char_end,
                "text_template": TEXT_TEMPLATE,
                "class_name": "TextNode",
            },
            "__type__": TEXT_NODE,
        }
        doc_meta[nid] = {"doc_hash": _text_node_hash(c.text, meta), "ref_doc_id": ref}
        if ref not in ref_info:
            ref_info[ref] = {
                "node_ids": [],
                "metadata": {
                    "title": doc.title,
                    "source_path": doc.source_path,
                    "media_type": doc.media_type,
                    "n_pages": doc.n_pages,
                    "document_sha256": ref,
                },
            }
        ref_info[ref]["node_ids"].append(nid)
        if r.vector is not None:
            vectors[nid] = r.vector
        text_to_ref[nid] = ref
        vs_meta[nid] = meta | {"_node_type": "TextNode", "document_id": ref, "doc_id": ref, "ref_doc_id": ref}

    def write_vector_store(fh) -> None:
        # floats written with 9 significant digits: parsed back to float32 they are bit-identical
        fh.write('{"embedding_dict": {')
        for j, (nid, array) in enumerate(vectors.items()):
            vec = array.tolist()
            fh.write((", " if j else "") + json.dumps(nid) + ": [" + ", ".join(f"{x:.9g}" for x in vec) + "]")
        fh.write('}, "text_id_to_ref_doc_id": ')
        json.dump(text_to_ref, fh)
        fh.write(', "metadata_dict": ')
        json.dump(vs_meta, fh)
        fh.write("}")

    index_id = str(uuid.uuid5(_NODE_NAMESPACE, "index:" + ",".join(ids)))
    index_struct = {
        "index_id": index_id,
        "summary": None,
        "nodes_dict": {nid: nid for nid in ids},
        "doc_id_dict": {},
        "embeddings_dict": {},
    }
    info = None
    if model:
        info = {
            "name": model.name,
            "dim": model.dim,
            "normalized": model.normalized,
            "query_prefix": model.query_prefix,
            "passage_prefix": model.passage_prefix,
            "max_seq_length": model.max_seq_length,
        }
    summary = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "synthtune_version": __version__,
        "exported_at": utcnow(),
        "kb_version": store.kb_version(),
        "embedding_model": info,
        "index_id": index_id,
        "documents": len(ref_info),
        "nodes": len(ids),
        "missing_vectors": len(ids) - len(vectors),
    }

    _write_atomic(d / VECTOR_STORE_FILE, write_vector_store)
    _dump(
        d / DOCSTORE_FILE,
        {"docstore/metadata": doc_meta, "docstore/data": data, "docstore/ref_doc_info": ref_info},
    )
    _dump(
        d / INDEX_STORE_FILE,
        {"index_store/data": {index_id: {"__type__": "vector_store", "__data__": json.dumps(index_struct)}}},
    )
    _dump(d / GRAPH_STORE_FILE, {"graph_dict": {}})
    _write_atomic(d / SYNTHTUNE_FILE, lambda fh: json.dump(summary, fh, indent=2))
    return {
        "directory": str(d),
        "documents": len(ref_info),
        "nodes": len(ids),
        "embedding_model": name,
        "dim": info["dim"] if info else None,
        "missing_vectors": len(ids) - len(vectors),
        "files": [VECTOR_STORE_FILE, DOCSTORE_FILE, INDEX_STORE_FILE, GRAPH_STORE_FILE, SYNTHTUNE_FILE],
    }


# ---------------------------------------------------------------------------------------------------
# reading a persist dir


@dataclass
class IndexNode:
    """One text node of a persisted index, as much as synthtune needs of it."""

    node_id: str
    ref_doc_id: str
    text: str
    metadata: dict[str, Any]
    start_char_idx: int | None
    end_char_idx: int | None
    vector: np.ndarray | None
    embed_string: str  # what LlamaIndex embedded: its metadata string, then the text
    order: int  # position in the index


@dataclass
class PersistedIndex:
    directory: Path
    nodes: list[IndexNode]
    ref_doc_info: dict[str, dict[str, Any]]
    model_name: str | None  # as the files name it
    model_info: dict[str, Any] = field(default_factory=dict)  # from synthtune_index.json
    vector_file: Path | None = None
    skipped: int = 0  # nodes without text (images, ...) or listed by the index but not in the docstore


def _load_json(path: Path) -> Any:
    try:
        with path.open("rb") as fh:
            return json.load(fh)
    except FileNotFoundError:
        raise SynthtuneError(f"{path} is missing: is {path.parent} a LlamaIndex persist dir?") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SynthtuneError(f"{path} is not valid JSON ({exc})") from None
    except OSError as exc:
        raise SynthtuneError(f"cannot read {path} ({exc.strerror or exc})") from None


def _require(ok: bool, path: Path, what: str) -> None:
    if not ok:
        raise SynthtuneError(f"{path} is not in LlamaIndex's format: {what}")


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def _embed_string(data: dict[str, Any], text: str, metadata: dict[str, Any]) -> str:
    """``node.get_content(MetadataMode.EMBED)``, rebuilt from the node's JSON."""
    excluded = set(data.get("excluded_embed_metadata_keys") or [])
    try:
        meta_str = (
            (data.get("metadata_separator") or METADATA_SEPARATOR)
            .join(
                (data.get("metadata_template") or METADATA_TEMPLATE).format(key=k, value=str(v))
                for k, v in metadata.items()
                if k not in excluded
            )
            .strip()
        )
        if not meta_str:
            return text
        return (
            (data.get("text_template") or TEXT_TEMPLATE).format(content=text, metadata_str=meta_str).strip()
        )
    except (KeyError, IndexError, ValueError, AttributeError):
        return text


def _source_of(data: dict[str, Any]) -> str | None:
    rel = (data.get("relationships") or {}).get(SOURCE)
    if isinstance(rel, str):  # legacy layout: relationship -> node id
        return rel
    if isinstance(rel, dict) and rel.get("node_id"):
        return str(rel["node_id"])
    return None


def read_persist_dir(directory: str | Path) -> PersistedIndex:
    """Parse a LlamaIndex persist dir (made by synthtune or by LlamaIndex) without LlamaIndex installed."""
    d = Path(directory)
    if not d.is_dir():
        raise SynthtuneError(f"{d} is not a folder: give import-index a LlamaIndex persist dir")

    ds_path = d / DOCSTORE_FILE
    docstore = _load_json(ds_path)
    _require(isinstance(docstore, dict), ds_path, "expected a JSON object")
    data = docstore.get("docstore/data", {})
    _require(isinstance(data, dict), ds_path, "'docstore/data' is not an object")
    ref_doc_info = docstore.get("docstore/ref_doc_info") or {}
    _require(isinstance(ref_doc_info, dict), ds_path, "'docstore/ref_doc_info' is not an object")

    vs_path = d / VECTOR_STORE_FILE
    if not vs_path.exists() and (d / LEGACY_VECTOR_STORE_FILE).exists():
        vs_path = d / LEGACY_VECTOR_STORE_FILE
    vstore = _load_json(vs_path)
    _require(isinstance(vstore, dict), vs_path, "expected a JSON object")
    embedding_dict = vstore.get("embedding_dict") or {}
    text_to_ref = vstore.get("text_id_to_ref_doc_id") or {}
    _require(isinstance(embedding_dict, dict), vs_path, "'embedding_dict' is not an object")
    _require(isinstance(text_to_ref, dict), vs_path, "'text_id_to_ref_doc_id' is not an object")

    # which docstore nodes the vector index holds: (vector-store id, docstore id) pairs
    pairs: list[tuple[str, str]] = []
    is_path = d / INDEX_STORE_FILE
    if is_path.exists():
        istore = _load_json(is_path)
        structs = istore.get("index_store/data") if isinstance(istore, dict) else None
        _require(isinstance(structs, dict), is_path, "no 'index_store/data' object")
        for struct in structs.values():
            _require(isinstance(struct, dict), is_path, "an index entry is not an object")
            if struct.get("__type__") != "vector_store":
                continue
            body = struct.get("__data__")
            if isinstance(body, str):
                try:
                    body = json.loads(body)
                except json.JSONDecodeError as exc:
                    raise SynthtuneError(
                        f"{is_path} is not in LlamaIndex's format: bad index __data__ ({exc})"
                    ) from None
            _require(
                isinstance(body, dict) and isinstance(body.get("nodes_dict", {}), dict),
                is_path,
                "a vector_store index has no 'nodes_dict' object",
            )
            pairs.extend((str(k), str(v)) for k, v in body.get("nodes_dict", {}).items())
    if not pairs:  # no vector index listed: every node of the docstore
        pairs = [(nid, nid) for nid in data]

    model_info: dict[str, Any] = {}
    st_path = d / SYNTHTUNE_FILE
    if st_path.exists():
        summary = _load_json(st_path)
        _require(isinstance(summary, dict), st_path, "expected a JSON object")
        model_info = summary.get("embedding_model") or {}
        _require(isinstance(model_info, dict), st_path, "'embedding_model' is not an object")

    nodes: list[IndexNode] = []
    skipped = 0
    seen: set[str] = set()
    names: set[str] = set()
    for order, (vec_id, nid) in enumerate(pairs):
        entry = data.get(nid)
        if nid in seen or not isinstance(entry, dict):
            skipped += 1
            continue
        seen.add(nid)
        body = entry.get("__data__")
        _require(isinstance(body, dict), ds_path, f"node {nid} has no '__data__' object")
        text = body.get("text")
        if text is None and isinstance(body.get("text_resource"), dict):
            text = body["text_resource"].get("text")
        if not isinstance(text, str) or not text.strip():
            skipped += 1
            continue
        meta = body.get("metadata", body.get("extra_info")) or {}
        _require(isinstance(meta, dict), ds_path, f"node {nid} has metadata that is not an object")
        raw = embedding_dict.get(vec_id, embedding_dict.get(nid, body.get("embedding")))
        vec = None
        if raw is not None:
            try:
                vec = np.asarray(raw, dtype=np.float32)
            except (TypeError, ValueError):
                vec = None
            if vec is None or vec.ndim != 1 or not vec.size or not np.isfinite(vec).all():
                raise SynthtuneError(f"{vs_path}: the vector of node {nid} is not a list of numbers")
        ref = _source_of(body) or text_to_ref.get(vec_id)
        if not ref or ref == "None":
            ref = str(body.get("id_") or body.get("doc_id") or nid)  # a document indexed as itself
        if isinstance(meta.get(MODEL_KEY), str):
            names.add(meta[MODEL_KEY])
        nodes.append(
            IndexNode(
                node_id=nid,
                ref_doc_id=str(ref),
                text=text,
                metadata=meta,
                start_char_idx=_as_int(body.get("start_char_idx")),
                end_char_idx=_as_int(body.get("end_char_idx")),
                vector=vec,
                embed_string=_embed_string(body, text, meta),
                order=order,
            )
        )

    name = model_info.get("name") if isinstance(model_info.get("name"), str) else None
    if name is None and len(names) == 1:
        name = names.pop()
    elif name is None and len(names) > 1:
        raise SynthtuneError(f"{ds_path}: nodes name different embedding models ({', '.join(sorted(names))})")
    dims = {int(n.vector.size) for n in nodes if n.vector is not None}
    if len(dims) > 1:
        raise SynthtuneError(f"{vs_path}: vectors of different lengths ({', '.join(map(str, sorted(dims)))})")
    return PersistedIndex(d, nodes, ref_doc_info, name, model_info, vs_path, skipped)


# ---------------------------------------------------------------------------------------------------
# import


def _gap(n: int) -> str:
    return "\n\n" + " " * (n - 2) if n >= 2 else " " * n


def _place(spans: list[tuple[int, int, str]]) -> str | None:
    """A page text holding each (start, end, text) at its offsets; None when they disagree."""
    if any(s < 0 or e - s != len(t) for s, e, t in spans):
        return None
    page = ""
    for s, e, t in sorted(spans, key=lambda x: (x[0], x[1])):
        if s >= len(page):
            page += _gap(s - len(page)) + t
        elif page[s : min(e, len(page))] != t[: min(e, len(page)) - s]:
            return None
        elif e > len(page):
            page += t[len(page) - s :]
    return page


def _page_of(meta: dict[str, Any]) -> int:
    for key in ("page_start", "page_label"):
        n = _as_int(meta.get(key))
        if n is not None and n >= 1:
            return n
    return 1


def _build_pages(
    nodes: list[IndexNode], synthtune_made: bool
) -> tuple[dict[int, str], list[tuple[int, int]]]:
    """Page texts, and each node's (char_start, char_end) on its page (nodes sorted by page)."""
    by_page: dict[int, list[int]] = {}
    for i, n in enumerate(nodes):
        by_page.setdefault(_page_of(n.metadata), []).append(i)
    offsets: list[tuple[int, int]] = [(0, 0)] * len(nodes)
    pages: dict[int, str] = {}
    for page_no, idx in by_page.items():
        spans = None
        if synthtune_made:
            spans = [
                (_as_int(nodes[i].metadata.get("char_start")), _as_int(nodes[i].metadata.get("char_end")), i)
                for i in idx
            ]
        elif (
            len(by_page) == 1
        ):  # LlamaIndex's offsets are into the ref doc's text: a page only when it is one
            spans = [(nodes[i].start_char_idx, nodes[i].end_char_idx, i) for i in idx]
        text = None
        if spans and all(s is not None and e is not None for s, e, _ in spans):
            text = _place([(s, e, nodes[i].text) for s, e, i in spans])  # type: ignore[misc]
            if text is not None:
                for s, e, i in spans:
                    offsets[i] = (s, e)  # type: ignore[assignment]
        if text is None:
            parts, pos = [], 0
            for i in idx:
                if parts:
                    parts.append("\n\n")
                    pos += 2
                offsets[i] = (pos, pos + len(nodes[i].text))
                parts.append(nodes[i].text)
                pos += len(nodes[i].text)
            text = "".join(parts)
        pages[page_no] = text
    return pages, offsets


def _first(meta_list: list[dict[str, Any]], keys: tuple[str, ...]) -> str | None:
    for meta in meta_list:
        for key in keys:
            value = meta.get(key)
            if isinstance(value, str) and value.strip():
                return value
    return None


def _resolve_model(
    index: PersistedIndex, model: str | None, emb: Embedder, store: Store
) -> tuple[str, list[str]]:
    """The embedding model of the imported vectors, checked against the store and the project."""
    warnings: list[str] = []
    named = canonical_name(index.model_name) if index.model_name else None
    given = canonical_name(model) if model else None
    if named and given and named != given:
        raise SynthtuneError(
            f"--model says '{given}' but {index.directory} says its vectors were made with '{named}'"
        )
    has_vectors = any(n.vector is not None for n in index.nodes)
    name = named or given
    if name is None:
        if has_vectors:
            raise SynthtuneError(
                f"{index.directory} does not say which embedding model made its vectors: "
                "give it with --model NAME (the sentence-transformers id or path LlamaIndex used)"
            )
        name = emb.name  # no vectors at all: the project's embedder makes them
    missing = sum(n.vector is None for n in index.nodes)
    if missing and name != emb.name:
        raise SynthtuneError(
            f"{missing} of {len(index.nodes)} nodes in {index.directory} have no vector, and embedding.model is "
            f"'{emb.name}', not '{name}' that made the others: set embedding.model: {name} in synthtune.yaml "
            "so synthtune can embed them the same way"
        )
    active = store.active_embedding_model()
    if active is not None and active != name:
        raise EmbeddingModelMismatch(
            f"this store was embedded with '{active}' but the index in {index.directory} was embedded with "
            f"'{name}': import it into a new project whose embedding.model is '{name}' "
            f"(where `synthtune reembed` can later move it to another model), or set embedding.model back "
            f"to '{active}'"
        )
    if name != emb.name:
        warnings.append(
            f"this store's vectors come from '{name}': set embedding.model: {name} in synthtune.yaml to search it"
        )
    return name, warnings


def _model_row(
    store: Store, name: str, index: PersistedIndex, emb: Embedder, need_embedder: bool
) -> EmbeddingModel:
    dims = {int(n.vector.size) for n in index.nodes if n.vector is not None}
    dim = dims.pop() if dims else None
    found = store.embedding_model(name)
    if found is None and (dim is None or (need_embedder and name == emb.name)):
        found = model_record(store, emb)  # recorded from the loaded model itself
    if found is not None:
        if dim is not None and found.dim != dim:
            raise SynthtuneError(
                f"{index.vector_file} has {dim}-dimensional vectors but '{name}' makes {found.dim}-dimensional ones"
            )
        return found
    assert dim is not None
    info = index.model_info if index.model_info.get("name") in (None, index.model_name) else {}
    same = name == emb.name
    q, p = (emb.query_prefix, emb.passage_prefix) if same else family_prefixes(name)
    query_prefix = info.get("query_prefix") if isinstance(info.get("query_prefix"), str) else q
    passage_prefix = info.get("passage_prefix") if isinstance(info.get("passage_prefix"), str) else p
    if isinstance(info.get("normalized"), bool):
        normalized = info["normalized"]
    else:
        norms = [float(np.linalg.norm(n.vector)) for n in index.nodes if n.vector is not None]
        normalized = all(abs(x - 1.0) < 1e-3 for x in norms)
    max_len = _as_int(info.get("max_seq_length"))
    if max_len is None:
        max_len = emb.max_seq_length if same else 0  # 0: not known from the files
    return store.add_embedding_model(
        EmbeddingModel(name, dim, normalized, query_prefix, passage_prefix, max_len)
    )


def import_index(project: Project, directory: str | Path, model: str | None = None) -> dict[str, Any]:
    """Read a LlamaIndex persist dir into the project's store: one document per ref doc, one chunk per node.

    Vectors come in under the embedding model the files name (or ``model``); nodes without one are
    embedded with the project's embedder when it is that model. Idempotent: a document whose text is
    already stored (or, for a synthtune export, whose original document is) is left unchanged.
    """
    index = read_persist_dir(directory)
    store = project.store
    emb = project.embedder
    name, warnings = _resolve_model(index, model, emb, store)
    need_embedder = any(n.vector is None for n in index.nodes)
    m = _model_row(store, name, index, emb, need_embedder) if index.nodes else None
    if any(
        n.vector is not None and not math.isclose(float(np.linalg.norm(n.vector)), 1.0, abs_tol=1e-3)
        for n in index.nodes
    ):
        warnings.append("some vectors are not unit length: dense search ranks by dot product")

    groups: dict[str, list[IndexNode]] = {}
    for n in index.nodes:
        groups.setdefault(n.ref_doc_id, []).append(n)
    report = {
        "directory": str(index.directory),
        "model": name,
        "documents": 0,
        "added": 0,
        "updated": 0,
        "unchanged": 0,
        "chunks": 0,
        "vectors": 0,
        "embedded": 0,
        "skipped_nodes": index.skipped,
        "warnings": warnings,
    }
    mtime = (index.directory / DOCSTORE_FILE).stat().st_mtime
    for ref, nodes in groups.items():
        status, n_chunks, n_vectors, n_embedded = _import_document(project, index, ref, nodes, m, mtime)
        report[status] += 1
        report["chunks"] += n_chunks
        report["vectors"] += n_vectors
        report["embedded"] += n_embedded
    report["documents"] = report["added"] + report["updated"]
    return report


def _import_document(
    project: Project,
    index: PersistedIndex,
    ref: str,
    nodes: list[IndexNode],
    m: EmbeddingModel | None,
    mtime: float,
) -> tuple[str, int, int, int]:
    store, emb = project.store, project.embedder
    info = index.ref_doc_info.get(ref) if isinstance(index.ref_doc_info.get(ref), dict) else {}
    doc_meta = info.get("metadata") if isinstance(info.get("metadata"), dict) else {}
    listed = {nid: i for i, nid in enumerate(info.get("node_ids") or [])}
    nodes = sorted(nodes, key=lambda n: (_page_of(n.metadata), listed.get(n.node_id, len(listed)), n.order))
    synthtune_made = all(HEADER_KEY in n.metadata for n in nodes)
    pages, offsets = _build_pages(nodes, synthtune_made)

    metas = [n.metadata for n in nodes] + [doc_meta]
    title = _first(metas, ("title", "file_name", "document_title")) or ref
    source = _first(metas, ("source_path", "file_path")) or f"llamaindex://{index.directory.resolve()}/{ref}"
    media_type = _first(metas, ("media_type", "file_type")) or "text/plain"
    original_sha = _first(metas, ("document_sha256",))
    sha = hashlib.sha256("\n\n".join(n.text for n in nodes).encode("utf-8")).hexdigest()
    if store.has_document([s for s in (sha, original_sha) if s]):
        return "unchanged", 0, 0, 0
    assert m is not None

    # the chunk header, the passage string and the vector of every node
    contextual = project.settings.embedding.contextual_header
    exported = index.model_info.get("passage_prefix")
    prefix = exported if isinstance(exported, str) else m.passage_prefix
    headers, keys = [], []
    for n in nodes:
        section = n.metadata.get("section")
        if not isinstance(section, str) and isinstance(n.metadata.get("header_path"), str):
            section = n.metadata["header_path"].strip("/").rsplit("/", 1)[-1] or None  # MarkdownNodeParser
        section = section if isinstance(section, str) and section.strip() else None
        if synthtune_made:
            header = str(n.metadata[HEADER_KEY])
        else:
            header = make_header(title, section) if contextual else ""
        headers.append((header, section))
        if n.vector is None:
            keys.append(text_key(emb.passage_text(n.text, header)))
        elif synthtune_made:  # exactly the string synthtune embedded
            keys.append(text_key(f"{prefix}{header}\n{n.text}" if header else f"{prefix}{n.text}"))
        else:
            keys.append(text_key(n.embed_string))
    n_embedded = embed_missing(
        store,
        emb,
        m,
        [emb.passage_text(n.text, h) for n, (h, _) in zip(nodes, headers, strict=True) if n.vector is None],
    )
    n_tokens = [
        len(ids) for ids in emb.tokenizer([n.text for n in nodes], add_special_tokens=False)["input_ids"]
    ]

    n_pages = max([*pages, _as_int(doc_meta.get("n_pages")) or 0])
    with_vec = [(k, n.vector) for k, n in zip(keys, nodes, strict=True) if n.vector is not None]
    old = [d.id for d in store.documents_at(source)]
    metadata: dict[str, Any] = {
        "imported_from": {
            "format": "llamaindex",
            "directory": str(index.directory.resolve()),
            "ref_doc_id": ref,
        }
    }
    if original_sha:
        metadata["original_sha256"] = original_sha
    size = sum(len(t.encode("utf-8")) for t in pages.values())
    record = Document(
        sha256=sha,
        source_path=source,
        title=title,
        media_type=media_type,
        n_pages=n_pages,
        size_bytes=size,
        mtime=mtime,
        metadata=metadata,
    )
    page_rows = [Page(p, pages.get(p, ""), bool(pages.get(p, "").strip())) for p in range(1, n_pages + 1)]
    chunks = [
        Chunk(
            ordinal=i,
            text=n.text,
            header=h,
            section=sec,
            page_start=_page_of(n.metadata),
            page_end=_page_of(n.metadata),
            char_start=cs,
            char_end=ce,
            n_tokens=nt,
            sha256=text_key(n.text),
            embed_key=k,
        )
        for i, (n, (h, sec), (cs, ce), nt, k) in enumerate(
            zip(nodes, headers, offsets, n_tokens, keys, strict=True)
        )
    ]
    with store.transaction():  # the document and the vectors it came with, or neither
        store.write_document(record, page_rows, chunks, replace=old, model=m.name)
        if with_vec:
            store.put_vectors(m.id, [k for k, _ in with_vec], np.stack([v for _, v in with_vec]))
    return ("updated" if old else "added"), len(nodes), len(with_vec), n_embedded
