"""Retrieval with citations: lexical (BM25) and dense candidates from the store, weighted RRF fusion.

The store ranks the candidates (SQLite: FTS5 and an exact numpy search over vectors it keeps in memory
until the knowledge base changes); this module decides what to ask for and how to fuse the answers.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Literal

from synthtune.config import SearchSettings, Settings
from synthtune.embed import Embedder, check_model
from synthtune.errors import SynthtuneError
from synthtune.store import EmbeddingModel, Store

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


def query_terms(query: str) -> list[str]:
    """The words lexical search looks for: lower-cased, unique, stopwords dropped (unless that leaves
    nothing, when matching a stopword beats matching nothing)."""
    words = [w.lower() for w in _WORD.findall(query)]
    keep = [w for w in words if w not in _STOPWORDS] or words
    return list(dict.fromkeys(keep))


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
    """Search one store. Reuse it for many queries: the store keeps its vectors loaded between them."""

    def __init__(self, store: Store, settings: Settings, embedder: Embedder | None = None):
        self.store = store
        self.settings = settings
        self.embedder = embedder or Embedder(settings.embedding)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="synthtune-bm25")

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    # -- rankings ----------------------------------------------------------------------------------

    def lexical(self, query: str, n: int) -> list[tuple[int, float]]:
        return self.store.lexical_candidates(query_terms(query), n)

    def dense(self, query: str, n: int) -> list[tuple[int, float]]:
        return self._dense(self.store.embedding_model(self.embedder.name), query, n)

    def _dense(self, model: EmbeddingModel | None, query: str, n: int) -> list[tuple[int, float]]:
        if model is None:  # nothing embedded with this model
            return []
        return self.store.dense_candidates(model.id, self.embedder.encode_query(query), n)

    # -- public ------------------------------------------------------------------------------------

    def search(
        self,
        query: str,
        k: int | None = None,
        mode: Mode | None = None,
        document_ids: Collection[int] | None = None,
    ) -> list[Hit]:
        """The ``k`` best chunks for ``query``; with ``document_ids``, only chunks of those documents (the
        candidate lists are widened so that filtering still leaves ``k``)."""
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
        allowed: set[int] | None = None
        if document_ids is not None:
            by_doc = self.store.chunk_ids_by_document()
            allowed = {c for d in document_ids for c in by_doc.get(d, [])}
            n = max(n * 4, min(len(allowed), 1000))

        def keep(ranked: list[tuple[int, float]]) -> list[tuple[int, float]]:
            return ranked if allowed is None else [(c, s) for c, s in ranked if c in allowed]

        if mode == "lexical":
            ranked = keep(self.lexical(query, n if allowed is not None else k))
        elif mode == "dense":
            ranked = keep(self.dense(query, n if allowed is not None else k))
        else:
            # BM25 (SQLite) and the query embedding (torch) both release the GIL: run them side by side
            # (the model is looked up first: the store answers one statement at a time)
            model = self.store.embedding_model(self.embedder.name)
            lexical = self._pool.submit(self.lexical, query, n)
            den = [cid for cid, _ in keep(self._dense(model, query, n))]
            lex = [cid for cid, _ in keep(lexical.result())]
            ranked = rrf([(den, cfg.dense_weight), (lex, cfg.lexical_weight)], cfg.rrf_k)[:k]
        return self._hits(ranked[:k])

    def _hits(self, ranked: list[tuple[int, float]]) -> list[Hit]:
        passages = {p.chunk_id: p for p in self.store.passages([cid for cid, _ in ranked])}
        return [
            Hit(
                chunk_id=cid,
                document_id=p.document_id,
                title=p.title,
                source_path=p.source_path,
                page_start=p.page_start,
                page_end=p.page_end,
                char_start=p.char_start,
                char_end=p.char_end,
                score=round(score, 6),
                text=p.text,
            )
            for cid, score in ranked
            if (p := passages.get(cid)) is not None
        ]
