"""The system of record: one SQLite database per project (WAL, foreign keys on, numbered migrations)."""

from synthtune.store.db import Store, open_store, utcnow

__all__ = ["Store", "open_store", "utcnow"]
