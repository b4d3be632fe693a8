"""The system of record, and the only place that knows SQL: named operations on typed records over one
database per project (SQLite by default; see :mod:`synthtune.store.base` for adding a backend)."""

from synthtune.store.base import Store
from synthtune.store.dataset import (
    Candidate,
    CuratedExample,
    Example,
    GenerationUnit,
    Judgment,
    LLMCall,
    NewAnswer,
    NewQuestion,
)
from synthtune.store.primitives import utcnow
from synthtune.store.sqlite import SQLiteStore, open_store

__all__ = [
    "Candidate",
    "CuratedExample",
    "Example",
    "GenerationUnit",
    "Judgment",
    "LLMCall",
    "NewAnswer",
    "NewQuestion",
    "SQLiteStore",
    "Store",
    "open_store",
    "utcnow",
]
