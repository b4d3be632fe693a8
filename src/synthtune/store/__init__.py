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
from synthtune.store.kb import Chunk, Document, EmbeddingModel, IngestFailure, Page, Passage
from synthtune.store.models import ModelExport
from synthtune.store.primitives import utcnow
from synthtune.store.runs import Evaluation, Merge, Run, Training
from synthtune.store.sqlite import SQLiteStore, open_store

__all__ = [
    "Candidate",
    "Chunk",
    "CuratedExample",
    "Document",
    "EmbeddingModel",
    "Evaluation",
    "Example",
    "GenerationUnit",
    "IngestFailure",
    "Judgment",
    "LLMCall",
    "Merge",
    "ModelExport",
    "NewAnswer",
    "NewQuestion",
    "Page",
    "Passage",
    "Run",
    "SQLiteStore",
    "Store",
    "Training",
    "open_store",
    "utcnow",
]
