"""The system of record, and the only place that knows SQL: named operations on typed records over one
database per project (SQLite by default; see :mod:`synthtune.store.base` for adding a backend)."""

from synthtune.store.base import Store
from synthtune.store.kb import Chunk, Document, EmbeddingModel, IngestFailure, Page, Passage
from synthtune.store.primitives import utcnow
from synthtune.store.sqlite import SQLiteStore, open_store

__all__ = [
    "Chunk",
    "Document",
    "EmbeddingModel",
    "IngestFailure",
    "Page",
    "Passage",
    "SQLiteStore",
    "Store",
    "open_store",
    "utcnow",
]
