"""Copy a whole store to another backend (SQLite <-> PostgreSQL), then prove the copy: row counts and an
order-independent checksum per table must match on both sides.

Rows keep their ids (every reference between tables stays valid); vectors go through the destination's
own ``put_vectors`` (BLOB or pgvector), and the destination finishes with :meth:`Primitives.after_copy`
(PostgreSQL: identity sequences past the copied ids, an HNSW index per model).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from synthtune.config import StoreSettings
from synthtune.errors import StoreError
from synthtune.store.base import Store
from synthtune.store.open import open_url

# parents before children, so foreign keys hold at every insert
TABLES = (
    "documents",
    "pages",
    "chunks",
    "embedding_models",
    "embeddings",
    "store_meta",
    "ingest_failures",
    "runs",
    "llm_calls",
    "generation_units",
    "questions",
    "answers",
    "judgments",
    "examples",
    "exports",
    "trainings",
    "merges",
    "evaluations",
    "model_exports",
)
_BATCH = 2000


@dataclass(frozen=True)
class TableCopy:
    table: str
    rows: int
    checksum: str  # sha256 over the sorted sha256s of the rows (identical on both sides)


def table_checksum(store: Store, table: str, columns: list[str]) -> tuple[int, str]:
    """Row count and a checksum that ignores row order (the backends sort text differently)."""
    digests = sorted(
        hashlib.sha256(json.dumps(list(row), default=_plain).encode()).digest()
        for row in store._iter(f"SELECT {', '.join(columns)} FROM {table}")
    )
    return len(digests), hashlib.sha256(b"".join(digests)).hexdigest()


def _plain(value: object) -> str:
    return value.hex() if isinstance(value, bytes | memoryview) else str(value)


def copy_store(src: Store, dst: Store, progress: Callable[[str, int], None] | None = None) -> list[TableCopy]:
    """Copy every table of ``src`` into the empty store ``dst`` in one transaction and verify it;
    raises :class:`StoreError` (and writes nothing) when ``dst`` is not empty or a table differs."""
    if src.schema_version() != dst.schema_version():
        raise StoreError(
            f"schema versions differ ({src.url}: {src.schema_version()}, {dst.url}: {dst.schema_version()}):"
            " open both with this synthtune first"
        )
    busy = [t for t in TABLES if dst._scalar(f"SELECT COUNT(*) FROM {t}")]
    if busy:
        raise StoreError(f"{dst.url} is not empty ({', '.join(busy)} have rows): copy into a new store")
    result = []
    with dst.transaction():
        for table in TABLES:
            columns = src.table_columns(table)
            n = _copy_vectors(src, dst) if table == "embeddings" else _copy_rows(src, dst, table, columns)
            if progress:
                progress(table, n)
        dst.after_copy()
        for table in TABLES:
            columns = src.table_columns(table)
            want = table_checksum(src, table, columns)
            got = table_checksum(dst, table, columns)
            if want != got:
                raise StoreError(
                    f"copy of {table} does not match: {want[0]} rows in {src.url}, {got[0]} in {dst.url}"
                    " (or the checksums differ); nothing was written"
                )
            result.append(TableCopy(table, *want))
    return result


def _copy_rows(src: Store, dst: Store, table: str, columns: list[str]) -> int:
    sql = f"INSERT INTO {table}({', '.join(columns)}) VALUES ({dst._placeholders(len(columns))})"
    n = 0
    batch: list[tuple] = []
    for row in src._iter(f"SELECT {', '.join(columns)} FROM {table}"):
        batch.append(row)
        if len(batch) >= _BATCH:
            dst._executemany(sql, batch)
            n += len(batch)
            batch = []
    dst._executemany(sql, batch)
    return n + len(batch)


def _copy_vectors(src: Store, dst: Store) -> int:
    n = 0
    for model in src.embedding_models():
        keys: list[str] = []
        blobs: list[bytes] = []
        for key, blob in src._iter(
            "SELECT key, vector FROM embeddings WHERE model_id = ? ORDER BY key", (model.id,)
        ):
            keys.append(key)
            blobs.append(blob)
            if len(keys) >= _BATCH:
                dst.put_vectors(model.id, keys, _matrix(blobs))
                n += len(keys)
                keys, blobs = [], []
        if keys:
            dst.put_vectors(model.id, keys, _matrix(blobs))
            n += len(keys)
    return n


def _matrix(blobs: list[bytes]) -> np.ndarray:
    return np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(blobs), -1)


def copy_urls(
    src_url: str, dst_url: str, settings: StoreSettings, progress: Callable[[str, int], None] | None = None
) -> list[TableCopy]:
    """``synthtune store copy SRC DST``: open both stores (folders, ``.db`` files or ``postgresql://``
    URLs), copy and verify."""
    with open_url(src_url, settings) as src, open_url(dst_url, settings) as dst:
        return copy_store(src, dst, progress)
