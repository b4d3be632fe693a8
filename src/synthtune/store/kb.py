"""Knowledge-base operations: documents with their pages and chunks, embedding models and vectors, search
candidates, ingest failures.

Everything here is portable SQL except the two search candidate methods, :meth:`KnowledgeBaseOps.
lexical_candidates` (FTS5 BM25) and :meth:`KnowledgeBaseOps.dense_candidates` (float32 blobs ranked
with numpy), which a backend with its own full-text and vector search (PostgreSQL: ``tsvector`` and
pgvector) overrides.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Collection
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from synthtune.store.primitives import Primitives, utcnow

KB_VERSION = "kb_version"
ACTIVE_MODEL = "embedding_model"


@dataclass(frozen=True)
class Passage:
    """A chunk as it is cited: where it comes from (document, pages, character span) and its text.

    Examples freeze the passages they were answered from (:meth:`to_json`), so export, training and
    evaluation show exactly those, whatever happens to the store later."""

    chunk_id: int
    title: str
    page_start: int
    page_end: int
    text: str
    document_id: int = 0
    char_start: int = 0
    char_end: int = 0
    source_path: str = ""

    @property
    def pages(self) -> str:
        if self.page_start == self.page_end:
            return f"page {self.page_start}"
        return f"pages {self.page_start}-{self.page_end}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Passage:
        return cls(**data)


@dataclass(frozen=True)
class Document:
    """A file (or an imported ref doc) as stored. ``id`` and ``ingested_at`` are 0/"" until written."""

    sha256: str  # of the file's bytes: the document's identity
    source_path: str
    title: str
    media_type: str
    n_pages: int
    size_bytes: int
    mtime: float
    metadata: dict[str, Any] = field(default_factory=dict)
    chunking_sha: str = ""  # of the settings that cut it into chunks ("" when not cut by synthtune)
    id: int = 0
    ingested_at: str = ""

    @classmethod
    def from_row(cls, r: dict[str, Any]) -> Document:
        return cls(**{**r, "metadata": json.loads(r["metadata"])})

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Page:
    page_no: int  # 1-based, as cited
    text: str
    has_text: bool = True  # False: no text layer (scanned?)
    ocr: bool = False  # True: text read from the page image; its boxes are in metadata["ocr"]
    # {"ocr": {"engine", "dpi", "units": "pt", "lines"/"words": [[start, end, x0, y0, x1, y1], ...]},
    #  "repairs": {"mapped"/"ligatures"/"unrepaired": n}}; offsets index ``text``, boxes from top-left
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Chunk:
    """A span of one page, with the contextual header embedded with it. ``id``/``document_id`` are 0
    until written."""

    ordinal: int
    text: str
    header: str
    section: str | None
    page_start: int
    page_end: int
    char_start: int
    char_end: int
    n_tokens: int
    sha256: str  # of text
    embed_key: str  # sha256 of the exact passage string embedded
    id: int = 0
    document_id: int = 0

    def same_cut(self, other: Chunk) -> bool:
        """Whether two chunks are the same piece of the document, embedded the same way."""
        return _cut_row(self) == _cut_row(other)

    def text_cut(self) -> tuple[Any, ...]:
        """Where the chunk lies and what it says, without its header (nor so the passage it embeds)."""
        return _cut_row(self)[:2] + _cut_row(self)[3:-1]


@dataclass(frozen=True)
class IndexedChunk:
    """A chunk with its document and its vector under one model (None when it has none): what an
    index export writes."""

    chunk: Chunk
    document: Document
    vector: np.ndarray | None


@dataclass(frozen=True)
class EmbeddingModel:
    """The model that embedded a store's vectors. ``id``/``created_at`` are 0/"" until recorded."""

    name: str
    dim: int
    normalized: bool
    query_prefix: str
    passage_prefix: str
    max_seq_length: int  # 0: not known (imported vectors)
    id: int = 0
    created_at: str = ""

    @classmethod
    def from_row(cls, r: dict[str, Any]) -> EmbeddingModel:
        return cls(**{**r, "normalized": bool(r["normalized"])})


@dataclass(frozen=True)
class EmbeddingUsage:
    """How much of the store one model covers: cached vectors, and chunks that have one."""

    model: str
    dim: int
    vectors: int
    chunks: int


@dataclass(frozen=True)
class IngestFailure:
    source_path: str
    error: str
    failed_at: str
    sha256: str = ""  # of the file's bytes when it failed ("" when unknown: it could not be read)
    settings_sha: str = ""  # of the settings it was read with


@dataclass(frozen=True)
class PageRef:
    source_path: str
    page_no: int


@dataclass(frozen=True)
class KnowledgeBaseCounts:
    documents: int
    pages: int
    chunks: int
    vectors: int


_PASSAGE_SQL = (
    "SELECT c.id AS chunk_id, d.title, c.page_start, c.page_end, c.text, c.document_id, c.char_start,"
    " c.char_end, d.source_path FROM chunks c JOIN documents d ON d.id = c.document_id"
)
_CHUNK_COLUMNS = (
    "ordinal, text, header, section, page_start, page_end, char_start, char_end, n_tokens, sha256, embed_key"
)
_DOCUMENT_COLUMNS = (
    "sha256, source_path, title, media_type, n_pages, size_bytes, mtime, metadata, chunking_sha"
)
_BATCH = 500  # ids per IN (...) list


@dataclass
class _VectorCache:
    """All chunk vectors of one model as one matrix, valid for one knowledge-base version."""

    model_id: int
    version: str | None
    ids: np.ndarray
    documents: np.ndarray  # each chunk's document id
    matrix: np.ndarray


class KnowledgeBaseOps(Primitives):
    _vectors: _VectorCache | None = None

    # -- documents --------------------------------------------------------------------------------

    def documents(self) -> list[Document]:
        return [Document.from_row(r) for r in self._rows("SELECT * FROM documents ORDER BY id")]

    def document_by_sha(self, sha256: str) -> Document | None:
        row = self._one("SELECT * FROM documents WHERE sha256 = ?", (sha256,))
        return Document.from_row(row) if row else None

    def documents_at(self, source_path: str) -> list[Document]:
        return [
            Document.from_row(r)
            for r in self._rows("SELECT * FROM documents WHERE source_path = ? ORDER BY id", (source_path,))
        ]

    def has_document(self, sha256s: list[str]) -> bool:
        """Whether any document has one of these sha256s."""
        if not sha256s:
            return False
        sql = f"SELECT 1 FROM documents WHERE sha256 IN ({self._placeholders(len(sha256s))}) LIMIT 1"
        return self._one(sql, sha256s) is not None

    def move_document(self, document_id: int, source_path: str) -> None:
        """The file was found at another path (its old one is gone): follow it."""
        with self.transaction():
            self._execute("UPDATE documents SET source_path = ? WHERE id = ?", (source_path, document_id))

    def set_chunking_sha(
        self, document_id: int, chunking_sha: str, metadata: dict[str, Any] | None = None
    ) -> None:
        """Record that the document's stored chunks are what these chunking settings cut (and, when
        given, the document's metadata as read now)."""
        with self.transaction():
            self._execute("UPDATE documents SET chunking_sha = ? WHERE id = ?", (chunking_sha, document_id))
            if metadata is not None:
                self._set_metadata(document_id, metadata)

    def reheader_chunks(
        self,
        document_id: int,
        headers: list[tuple[int, str, str]],
        chunking_sha: str,
        metadata: dict[str, Any],
    ) -> None:
        """New headers for a document's chunks, in place: (chunk id, header, embed key). The chunks keep
        their ids, so what cites them stays; the lexical index follows the header; the knowledge-base
        version is bumped (the passages embedded for search changed)."""
        with self.transaction():
            self._executemany(
                "UPDATE chunks SET header = ?, embed_key = ? WHERE id = ? AND document_id = ?",
                [(h, k, cid, document_id) for cid, h, k in headers],
            )
            self._execute("UPDATE documents SET chunking_sha = ? WHERE id = ?", (chunking_sha, document_id))
            self._set_metadata(document_id, metadata)
            self.bump_kb_version()

    def _set_metadata(self, document_id: int, metadata: dict[str, Any]) -> None:
        self._execute(
            "UPDATE documents SET metadata = ? WHERE id = ?",
            (json.dumps(metadata, sort_keys=True, default=str), document_id),
        )

    def write_document(
        self, doc: Document, pages: list[Page], chunks: list[Chunk], *, replace: list[int], model: str
    ) -> int:
        """Store a document with its pages and chunks in one transaction, in place of the documents
        ``replace`` (everything derived from them goes too: foreign keys cascade); clear the path's
        ingest failure, make ``model`` the store's search model if it has none, and bump the
        knowledge-base version. Returns the new document's id, or the id of the same document another
        writer stored while this one was reading the file (it is not written twice)."""
        with self.transaction():
            existing = self.document_by_sha(doc.sha256)
            if existing is not None and existing.id not in replace:
                return existing.id
            for old in replace:
                self._execute("DELETE FROM documents WHERE id = ?", (old,))
            doc_id = self._insert(
                f"INSERT INTO documents({_DOCUMENT_COLUMNS}, ingested_at) VALUES (?,?,?,?,?,?,?,?,?,?)"
                " RETURNING id",
                (
                    doc.sha256,
                    doc.source_path,
                    doc.title,
                    doc.media_type,
                    doc.n_pages,
                    doc.size_bytes,
                    doc.mtime,
                    json.dumps(doc.metadata, sort_keys=True, default=str),
                    doc.chunking_sha,
                    utcnow(),
                ),
            )
            self._executemany(
                "INSERT INTO pages(document_id, page_no, text, has_text, ocr, metadata) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (
                        doc_id,
                        p.page_no,
                        p.text,
                        int(p.has_text),
                        int(p.ocr),
                        json.dumps(p.metadata, sort_keys=True),
                    )
                    for p in pages
                ],
            )
            self._executemany(
                f"INSERT INTO chunks(document_id, {_CHUNK_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                [(doc_id, *_cut_row(c)) for c in chunks],
            )
            self.clear_failure(doc.source_path)
            if self.active_embedding_model() is None:
                self.set_meta(ACTIVE_MODEL, model)
            self.bump_kb_version()
        return doc_id

    def pages(self, document_id: int) -> list[Page]:
        rows = self._rows(
            "SELECT page_no, text, has_text, ocr, metadata FROM pages WHERE document_id = ? ORDER BY page_no",
            (document_id,),
        )
        return [
            Page(r["page_no"], r["text"], bool(r["has_text"]), bool(r["ocr"]), json.loads(r["metadata"]))
            for r in rows
        ]

    def ocr_pages(self) -> list[PageRef]:
        """Pages whose text was read by OCR, by document path and page."""
        rows = self._rows(
            "SELECT d.source_path, p.page_no FROM pages p JOIN documents d ON d.id = p.document_id"
            " WHERE p.ocr = 1 ORDER BY d.source_path, p.page_no"
        )
        return [PageRef(r["source_path"], r["page_no"]) for r in rows]

    def pages_without_text(self) -> list[PageRef]:
        rows = self._rows(
            "SELECT d.source_path, p.page_no FROM pages p JOIN documents d ON d.id = p.document_id"
            " WHERE p.has_text = 0 ORDER BY d.source_path, p.page_no"
        )
        return [PageRef(r["source_path"], r["page_no"]) for r in rows]

    # -- chunks -----------------------------------------------------------------------------------

    def chunks(self, document_id: int | None = None) -> list[Chunk]:
        """Chunks of one document in order, or every chunk by id."""
        sql = f"SELECT id, document_id, {_CHUNK_COLUMNS} FROM chunks"
        if document_id is None:
            return [Chunk(**r) for r in self._rows(sql + " ORDER BY id")]
        return [
            Chunk(**r) for r in self._rows(sql + " WHERE document_id = ? ORDER BY ordinal", (document_id,))
        ]

    def passages(self, chunk_ids: list[int]) -> list[Passage]:
        """The passages of these chunks, in the order given; ids no longer in the store are left out."""
        if not chunk_ids:
            return []
        unique = list(dict.fromkeys(chunk_ids))
        by_id: dict[int, Passage] = {}
        for i in range(0, len(unique), _BATCH):
            part = unique[i : i + _BATCH]
            rows = self._rows(f"{_PASSAGE_SQL} WHERE c.id IN ({self._placeholders(len(part))})", part)
            by_id.update((r["chunk_id"], Passage(**r)) for r in rows)
        return [by_id[i] for i in chunk_ids if i in by_id]

    def indexed_chunks(self, model_id: int | None) -> list[IndexedChunk]:
        """Every chunk with its document and its vector under ``model_id``, by document then ordinal."""
        docs = {d.id: d for d in self.documents()}
        columns = ", ".join(f"c.{c}" for c in _CHUNK_COLUMNS.split(", "))
        rows = self._rows(
            f"SELECT c.id, c.document_id, {columns}, e.vector FROM chunks c"
            " LEFT JOIN embeddings e ON e.model_id = ? AND e.key = c.embed_key ORDER BY c.document_id, c.ordinal",
            (-1 if model_id is None else model_id,),
        )
        out = []
        for r in rows:
            blob = r.pop("vector")
            vec = None if blob is None else np.frombuffer(blob, dtype="<f4")
            out.append(IndexedChunk(Chunk(**r), docs[r["document_id"]], vec))
        return out

    # -- knowledge-base version -------------------------------------------------------------------

    def kb_version(self) -> str | None:
        """Changes whenever the searchable content does: caches of vectors compare it."""
        return self.get_meta(KB_VERSION)

    def bump_kb_version(self) -> None:
        with self.transaction():
            self.set_meta(KB_VERSION, str(int(self.get_meta(KB_VERSION) or 0) + 1))

    # -- embedding models and vectors ---------------------------------------------------------------

    def active_embedding_model(self) -> str | None:
        """The model search uses (the one the store was embedded with), or None before the first vector."""
        return self.get_meta(ACTIVE_MODEL)

    def embedding_model(self, name: str) -> EmbeddingModel | None:
        row = self._one("SELECT * FROM embedding_models WHERE name = ?", (name,))
        return EmbeddingModel.from_row(row) if row else None

    def embedding_models(self) -> list[EmbeddingModel]:
        return [EmbeddingModel.from_row(r) for r in self._rows("SELECT * FROM embedding_models ORDER BY id")]

    def add_embedding_model(self, m: EmbeddingModel) -> EmbeddingModel:
        """Record a model (its ``id``/``created_at`` are ignored); returns the stored record."""
        created_at = utcnow()
        with self.transaction():
            new_id = self._insert(
                "INSERT INTO embedding_models(name, dim, normalized, query_prefix, passage_prefix,"
                " max_seq_length, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    m.name,
                    m.dim,
                    int(m.normalized),
                    m.query_prefix,
                    m.passage_prefix,
                    m.max_seq_length,
                    created_at,
                ),
            )
        return dataclasses.replace(m, id=new_id, created_at=created_at)

    def embedding_usage(self) -> list[EmbeddingUsage]:
        rows = self._rows(
            "SELECT m.name, m.dim, (SELECT COUNT(*) FROM embeddings e WHERE e.model_id = m.id) AS vectors,"
            " (SELECT COUNT(*) FROM chunks c JOIN embeddings e ON e.key = c.embed_key AND e.model_id = m.id)"
            " AS chunks FROM embedding_models m ORDER BY m.id"
        )
        return [EmbeddingUsage(r["name"], r["dim"], r["vectors"], r["chunks"]) for r in rows]

    def cached_keys(self, model_id: int, keys: list[str]) -> set[str]:
        """Which of these passage keys already have a vector under the model."""
        found: set[str] = set()
        for i in range(0, len(keys), _BATCH):
            part = keys[i : i + _BATCH]
            sql = (
                f"SELECT key FROM embeddings WHERE model_id = ? AND key IN ({self._placeholders(len(part))})"
            )
            found.update(r["key"] for r in self._rows(sql, (model_id, *part)))
        return found

    def put_vectors(self, model_id: int, keys: list[str], vectors: np.ndarray) -> None:
        """Cache vectors by passage key (stored as little-endian float32); a key already cached is kept."""
        with self.transaction():
            self._executemany(
                "INSERT INTO embeddings(model_id, key, vector) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                [
                    (model_id, k, np.asarray(v).astype("<f4").tobytes())
                    for k, v in zip(keys, vectors, strict=True)
                ],
            )

    def vectors(self, model_id: int, keys: list[str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for i in range(0, len(keys), _BATCH):
            part = keys[i : i + _BATCH]
            sql = f"SELECT key, vector FROM embeddings WHERE model_id = ? AND key IN ({self._placeholders(len(part))})"
            out.update(
                (r["key"], np.frombuffer(r["vector"], dtype="<f4"))
                for r in self._rows(sql, (model_id, *part))
            )
        return out

    def switch_embedding_model(self, name: str, embed_keys: list[tuple[int, str]]) -> None:
        """Point chunks at the passages embedded by model ``name`` (``(chunk id, key)`` pairs) and make it
        the model search uses, in one transaction."""
        with self.transaction():
            self._executemany(
                "UPDATE chunks SET embed_key = ? WHERE id = ?", [(k, cid) for cid, k in embed_keys]
            )
            self.set_meta(ACTIVE_MODEL, name)
            self.bump_kb_version()

    # -- search candidates (SQLite: FTS5 and numpy; other backends override) --------------------------

    def lexical_candidates(
        self,
        terms: list[str],
        n: int,
        header_weight: float = 0.5,
        document_ids: Collection[int] | None = None,
    ) -> list[tuple[int, float]]:
        """Up to ``n`` (chunk id, BM25 score, higher is better) for chunks holding any of ``terms``,
        best first; a term in the header counts ``header_weight`` times one in the text. With
        ``document_ids``, only chunks of those documents."""
        if not terms or (document_ids is not None and not document_ids):
            return []
        match = " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)
        within, params = "", []
        if document_ids is not None:
            docs = sorted(set(document_ids))
            # "+rowid": filter FTS5's matches; a plain "rowid IN" makes it look up each id (10x slower)
            within = (
                f" AND +rowid IN (SELECT id FROM chunks WHERE document_id IN ({','.join('?' * len(docs))}))"
            )
            params = docs
        rows = self._rows(
            "SELECT rowid AS id, bm25(chunks_fts, ?, 1.0) AS s FROM chunks_fts WHERE chunks_fts MATCH ?"
            f"{within} ORDER BY s LIMIT ?",
            (header_weight, match, *params, n),
        )
        return [(int(r["id"]), -float(r["s"])) for r in rows]

    def dense_candidates(
        self, model_id: int, query: np.ndarray, n: int, document_ids: Collection[int] | None = None
    ) -> list[tuple[int, float]]:
        """Up to ``n`` (chunk id, dot product) for the chunks nearest ``query``, best first: an exact
        search over every chunk's vector (of ``document_ids`` only, when given), kept in memory until
        the knowledge base changes."""
        cache = self._chunk_vectors(model_id)
        if not len(cache.ids):
            return []
        ids, matrix = cache.ids, cache.matrix
        if document_ids is not None:
            mask = np.isin(cache.documents, np.fromiter(document_ids, dtype=np.int64))
            ids, matrix = ids[mask], matrix[mask]
            if not len(ids):
                return []
        scores = matrix @ query
        n = min(n, len(scores))
        top = np.argpartition(-scores, n - 1)[:n]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(ids[i]), float(scores[i])) for i in top]

    def _chunk_vectors(self, model_id: int) -> _VectorCache:
        version = self.kb_version()
        cache = self._vectors
        if (
            cache is not None
            and cache.model_id == model_id
            and cache.version == version
            and cache.matrix.size
        ):
            return cache
        ids: list[int] = []
        docs: list[int] = []
        blobs: list[bytes] = []
        for cid, did, blob in self._iter(
            "SELECT c.id, c.document_id, e.vector FROM chunks c"
            " JOIN embeddings e ON e.key = c.embed_key AND e.model_id = ? ORDER BY c.id",
            (model_id,),
        ):
            ids.append(cid)
            docs.append(did)
            blobs.append(blob)
        if ids:
            matrix = np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(ids), -1)
            cache = _VectorCache(
                model_id, version, np.asarray(ids, dtype=np.int64), np.asarray(docs, dtype=np.int64), matrix
            )
        else:
            empty = np.zeros(0, dtype=np.int64)
            cache = _VectorCache(model_id, version, empty, empty, np.zeros((0, 0), np.float32))
        self._vectors = cache
        return cache

    # -- failures and counts --------------------------------------------------------------------------

    def record_failure(self, source_path: str, error: str, sha256: str = "", settings_sha: str = "") -> None:
        """Remember that the file at ``source_path`` (with content ``sha256``, read with settings
        ``settings_sha``) failed, replacing what was known of that path."""
        with self.transaction():
            self._execute(
                "INSERT INTO ingest_failures(source_path, error, failed_at, sha256, settings_sha)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT(source_path) DO UPDATE SET error = excluded.error,"
                " failed_at = excluded.failed_at, sha256 = excluded.sha256, settings_sha = excluded.settings_sha",
                (source_path, error, utcnow(), sha256, settings_sha),
            )

    def failure_by_sha(self, sha256: str, settings_sha: str) -> IngestFailure | None:
        """A failure of this content read with these settings, at any path (None when there is none)."""
        row = self._one(
            "SELECT * FROM ingest_failures WHERE sha256 = ? AND settings_sha = ? ORDER BY failed_at DESC LIMIT 1",
            (sha256, settings_sha),
        )
        return IngestFailure(**row) if row else None

    def clear_failure(self, source_path: str) -> None:
        with self.transaction():
            self._execute("DELETE FROM ingest_failures WHERE source_path = ?", (source_path,))

    def failures(self) -> list[IngestFailure]:
        return [IngestFailure(**r) for r in self._rows("SELECT * FROM ingest_failures ORDER BY source_path")]

    def kb_counts(self) -> KnowledgeBaseCounts:
        row = self._one(
            "SELECT (SELECT COUNT(*) FROM documents) AS documents, (SELECT COUNT(*) FROM pages) AS pages,"
            " (SELECT COUNT(*) FROM chunks) AS chunks, (SELECT COUNT(*) FROM embeddings) AS vectors"
        )
        assert row is not None
        return KnowledgeBaseCounts(**row)


def _cut_row(c: Chunk) -> tuple[Any, ...]:
    return (
        c.ordinal,
        c.text,
        c.header,
        c.section,
        c.page_start,
        c.page_end,
        c.char_start,
        c.char_end,
        c.n_tokens,
        c.sha256,
        c.embed_key,
    )
