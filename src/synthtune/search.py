"""Retrieval with citations: BM25 through FTS5, exact dense search with numpy, weighted RRF fusion.

A :class:`Searcher` keeps the store's vectors in one float32 matrix and reloads it only when the
knowledge base changed (``store_meta.kb_version``).
"""

from __future__ import annotations

import re
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

from synthtune.config import SearchSettings, Settings
from synthtune.embed import Embedder, check_model
from synthtune.errors import SynthtuneError
from synthtune.store import Store

Mode = Literal["hybrid", "dense", "lexical"]

# words too common to help BM25; dropping them keeps OR-queries fast on large stores
_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "did",
        "do",
        "does",
        "for",
        "from",
        "had",
        "has",
        "have",
        "how",
        "i",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "than",
        "that",
        "the",
        "their",
        "there",
        "these",
        "this",
        "to",
        "was",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "whom",
        "why",
        "will",
        "with",
    ]
)
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass
class Hit:
    chunk_id: int
    document_id: int
    title: str
    source_path: str
    page_start: int
    page_end: int
    char_start: int
    char_end: int
    score: float
    text: str

    def to_json(self) -> dict:
        return asdict(self)

    @property
    def citation(self) -> str:
        pages = (
            f"p. {self.page_start}"
            if self.page_start == self.page_end
            else f"pp. {self.page_start}-{self.page_end}"
        )
        return f"{self.title}, {pages}"


def fts_query(query: str) -> str | None:
    """An FTS5 MATCH expression: the query's words, quoted, OR-ed (stopwords dropped)."""
    words = [w.lower() for w in _WORD.findall(query)]
    keep = [w for w in words if w not in _STOPWORDS] or words
    unique = list(dict.fromkeys(keep))
    if not unique:
        return None
    return " OR ".join('"' + w.replace('"', '""') + '"' for w in unique)


def rrf(rankings: list[tuple[list[int], float]], k: int) -> list[tuple[int, float]]:
    """Weighted reciprocal rank fusion of ranked id lists: score = sum w / (k + rank), rank from 1."""
    scores: dict[int, float] = {}
    for ids, weight in rankings:
        if weight <= 0:
            continue
        for rank, cid in enumerate(ids, start=1):
            scores[cid] = scores.get(cid, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


class Searcher:
    """Search one store. Reuse it for many queries: vectors load once per knowledge-base version."""

    def __init__(self, store: Store, settings: Settings, embedder: Embedder | None = None):
        self.store = store
        self.settings = settings
        self.embedder = embedder or Embedder(settings.embedding)
        self._version: str | None = None
        self._read_conn: sqlite3.Connection | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="synthtune-bm25")
        self._ids = np.zeros(0, dtype=np.int64)
        self._matrix = np.zeros((0, 0), dtype=np.float32)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        if self._read_conn is not None:
            self._read_conn.close()
            self._read_conn = None

    # -- rankings ----------------------------------------------------------------------------------

    def _reader(self) -> sqlite3.Connection:
        """A second, read-only connection, so BM25 can run in a thread while the query is embedded."""
        if self._read_conn is None:
            self._read_conn = sqlite3.connect(
                f"file:{self.store.path}?mode=ro", uri=True, check_same_thread=False
            )
        return self._read_conn

    def lexical(self, query: str, n: int, conn: sqlite3.Connection | None = None) -> list[tuple[int, float]]:
        expr = fts_query(query)
        if expr is None:
            return []
        rows = (
            (conn or self.store.conn)
            .execute(
                "SELECT rowid, bm25(chunks_fts, 0.5, 1.0) AS s FROM chunks_fts WHERE chunks_fts MATCH ?"
                " ORDER BY s LIMIT ?",
                (expr, n),
            )
            .fetchall()
        )
        return [(int(r[0]), -float(r[1])) for r in rows]

    def _load_vectors(self) -> None:
        version = self.store.get_meta("kb_version")
        if version == self._version and self._matrix.size:
            return
        name = self.embedder.name
        mid = self.store.scalar("SELECT id FROM embedding_models WHERE name = ?", (name,))
        rows = self.store.execute(
            "SELECT c.id, e.vector FROM chunks c JOIN embeddings e ON e.key = c.embed_key AND e.model_id = ?"
            " ORDER BY c.id",
            (mid,),
        ).fetchall()
        if rows:
            self._ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            self._matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype="<f4").reshape(len(rows), -1)
        else:
            self._ids = np.zeros(0, dtype=np.int64)
            self._matrix = np.zeros((0, 0), dtype=np.float32)
        self._version = version

    def dense(self, query: str, n: int) -> list[tuple[int, float]]:
        self._load_vectors()
        if not len(self._ids):
            return []
        q = self.embedder.encode_query(query)
        scores = self._matrix @ q
        n = min(n, len(scores))
        top = np.argpartition(-scores, n - 1)[:n]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(self._ids[i]), float(scores[i])) for i in top]

    # -- public ------------------------------------------------------------------------------------

    def search(self, query: str, k: int | None = None, mode: Mode | None = None) -> list[Hit]:
        cfg: SearchSettings = self.settings.search
        k = k or cfg.k
        mode = mode or cfg.mode
        if mode not in ("hybrid", "dense", "lexical"):
            raise SynthtuneError(f"unknown search mode '{mode}': use hybrid, dense or lexical")
        if not query.strip():
            raise SynthtuneError("empty query")
        if mode != "lexical":
            check_model(self.store, self.embedder)
        n = max(k, cfg.candidates)
        if mode == "lexical":
            ranked = self.lexical(query, k)
        elif mode == "dense":
            ranked = self.dense(query, k)
        else:
            # BM25 (SQLite) and the query embedding (torch) both release the GIL: run them side by side
            lexical = self._pool.submit(self.lexical, query, n, self._reader())
            den = [cid for cid, _ in self.dense(query, n)]
            lex = [cid for cid, _ in lexical.result()]
            ranked = rrf([(den, cfg.dense_weight), (lex, cfg.lexical_weight)], cfg.rrf_k)[:k]
        return self._hits(ranked[:k])

    def _hits(self, ranked: list[tuple[int, float]]) -> list[Hit]:
        if not ranked:
            return []
        ids = [cid for cid, _ in ranked]
        marks = ",".join("?" * len(ids))
        rows = {
            r["id"]: r
            for r in self.store.execute(
                "SELECT c.id, c.document_id, d.title, d.source_path, c.page_start, c.page_end, c.char_start,"
                f" c.char_end, c.text FROM chunks c JOIN documents d ON d.id = c.document_id WHERE c.id IN ({marks})",
                ids,
            )
        }
        return [
            Hit(
                chunk_id=cid,
                document_id=r["document_id"],
                title=r["title"],
                source_path=r["source_path"],
                page_start=r["page_start"],
                page_end=r["page_end"],
                char_start=r["char_start"],
                char_end=r["char_end"],
                score=round(score, 6),
                text=r["text"],
            )
            for cid, score in ranked
            if (r := rows.get(cid)) is not None
        ]
