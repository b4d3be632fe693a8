"""The store interface: named operations on typed records, the only place that knows SQL.

:class:`Store` is what every stage holds. It is composed of one mixin per domain, each a set of named
operations written once in portable SQL (``?`` placeholders, ``INSERT ... RETURNING id``, ``ON CONFLICT``):

- :class:`~synthtune.store.kb.KnowledgeBaseOps`: documents, pages, chunks, embeddings, lexical and vector
  candidates, ingest failures;
- :class:`~synthtune.store.dataset.DatasetOps`: model calls, generation units, questions, answers,
  judgments, examples with their frozen passages;
- :class:`~synthtune.store.facts.FactOps`: document identities and facts;
- :class:`~synthtune.store.runs.RunOps`: stage runs, exports, trainings, merges, evaluations;
- :class:`~synthtune.store.models.ModelExportOps`: model files written for other runtimes (GGUF).

A backend subclasses :class:`Store` and provides the primitives below (a connection, a transaction, and
statement execution); where a database needs other SQL for an operation (full-text search, vectors), the
backend overrides that operation. :class:`~synthtune.store.sqlite.SQLiteStore` is the embedded default.
"""

from __future__ import annotations

from synthtune.store.dataset import DatasetOps
from synthtune.store.facts import FactOps
from synthtune.store.kb import KnowledgeBaseOps
from synthtune.store.models import ModelExportOps
from synthtune.store.primitives import Primitives
from synthtune.store.reviews import ReviewOps
from synthtune.store.runs import RunOps


class Store(KnowledgeBaseOps, ReviewOps, DatasetOps, FactOps, RunOps, ModelExportOps, Primitives):
    """A project's database. Use as a context manager or call :meth:`close`."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
