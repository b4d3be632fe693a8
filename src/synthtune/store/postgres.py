"""The PostgreSQL backend: many writers on many machines, pgvector HNSW for dense search, ``tsvector`` + GIN
for lexical search. Chosen by ``store.url: postgresql://user@host:port/db``; the password comes from the
environment variable named by ``store.password_env`` and is never stored or printed.

The domain operations are the portable ones of the mixins; this module provides the primitives (``?``
placeholders become ``%s``, rows are dicts, nested transactions join the outer one) and overrides the
operations whose SQL is backend-specific: lexical and dense candidates, vector storage, and the
record of an embedding model (which several writers may race to make, and which gets an HNSW index).

Writers are serialised like SQLite's ``BEGIN IMMEDIATE``: each outermost transaction takes one
transaction-level advisory lock, so the stages' "look, then write" steps behave the same on both
backends, while readers (search) never wait. Vectors read back as little-endian float32 bytes, as
SQLite stores them, so the mixins' numpy code reads either backend alike.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Collection, Iterator, Sequence
from typing import Any

import numpy as np

from synthtune.errors import StoreError, first_line
from synthtune.store.base import Store
from synthtune.store.kb import EmbeddingModel
from synthtune.store.pg_migrations import PG_MIGRATIONS
from synthtune.store.primitives import utcnow

try:
    import psycopg
    from psycopg.adapt import Loader
    from psycopg.conninfo import conninfo_to_dict, make_conninfo
    from psycopg.rows import dict_row
    from psycopg.types import TypeInfo
except ImportError:  # pragma: no cover - exercised only where the extra is not installed
    psycopg = None  # type: ignore[assignment]
    Loader = object  # type: ignore[assignment,misc]

WRITE_LOCK = 0x53594E54  # "SYNT": the advisory lock every writing transaction holds
MIGRATE_LOCK = WRITE_LOCK + 1
DEFAULT_EF_SEARCH = 200
DEFAULT_INDEX_MEMORY = "1GB"
DENSE_OVERSAMPLE = 2  # vectors fetched per wanted chunk (cached vectors no chunk uses any more take slots)
LEXICAL_MATCH_BUDGET = 20_000
"""Rows lexical search ranks at most, as far as ANALYZE's statistics tell: past it, the query's most common
words stop selecting rows (they still score the rows its rarer words select), as a search engine's
"common terms" query does. ``ts_rank`` reads every row a query matches, and on a million-chunk store a
word such as "revenue" matches a good share of them."""
STATS_TTL_S = 300.0


@functools.lru_cache(maxsize=1024)
def to_pyformat(sql: str) -> str:
    """``?`` placeholders as psycopg's ``%s`` (and a literal ``%`` doubled), outside quoted strings."""
    out: list[str] = []
    quote = ""
    for ch in sql:
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "?":
            out.append("%s")
            continue
        if ch == "%":
            out.append("%%")
            continue
        out.append(ch)
    return "".join(out)


def safe_url(url: str) -> str:
    """The URL without any password, for messages and ``Store.url``."""
    if psycopg is None:
        return url.split("@")[-1]
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "postgresql://<unparsable url>"
    params.pop("password", None)
    host = params.get("host", "")
    user = params.get("user", "")
    where = f"{user + '@' if user else ''}{host}{':' + str(params['port']) if 'port' in params else ''}"
    return f"postgresql://{where}/{params.get('dbname', '')}"


class _VectorBytes(Loader):  # type: ignore[misc,valid-type]
    """pgvector's text form ``[1,2,3]`` as little-endian float32 bytes (what SQLite's BLOB holds)."""

    def load(self, data: Any) -> bytes:
        text = bytes(data)[1:-1].decode()
        return np.array(text.split(","), dtype="<f4").tobytes() if text else b""


def vector_literal(v: np.ndarray) -> str:
    """A vector in pgvector's text form; float32 values round-trip exactly."""
    return "[" + ",".join(map(repr, np.asarray(v, dtype=np.float32).tolist())) + "]"


class PostgresStore(Store):
    def __init__(
        self,
        url: str,
        password: str | None = None,
        ef_search: int = DEFAULT_EF_SEARCH,
        connect_timeout_s: int = 10,
        index_memory: str = DEFAULT_INDEX_MEMORY,
    ):
        if psycopg is None:
            raise StoreError(
                "store.url names PostgreSQL but psycopg is not installed: pip install 'synthtune[postgres]'"
            )
        self.url = safe_url(url)
        self.ef_search = ef_search
        self.index_memory = index_memory
        self.lexical_match_budget = LEXICAL_MATCH_BUDGET
        self._lexeme_stats: tuple[float, float, dict[str, float], float] | None = None
        self._depth = 0
        self._reader: psycopg.Connection | None = None
        self._reader_lock = threading.Lock()
        kwargs: dict[str, Any] = {"connect_timeout": connect_timeout_s}
        if password:
            kwargs["password"] = password
        try:
            self._conninfo = make_conninfo(url, **kwargs)  # holds the password: never shown
        except psycopg.Error as exc:
            raise StoreError(f"cannot reach PostgreSQL at {self.url}: {first_line(exc)}") from None
        self.conn = self._connect()
        try:
            self._check_and_migrate()
            info = TypeInfo.fetch(self.conn, "vector")
            assert info is not None  # the first migration created it
            self.conn.adapters.register_loader(info.oid, _VectorBytes)
        except StoreError:
            self.conn.close()
            raise
        except psycopg.Error as exc:
            self.conn.close()
            raise StoreError(f"PostgreSQL at {self.url}: {first_line(exc)}") from None

    # -- opening ------------------------------------------------------------------------------------

    def _check_and_migrate(self) -> None:
        """Refuse a database that lacks pgvector or has a newer schema before writing anything; then
        apply the missing migrations, one transaction each, one process at a time."""
        if self._scalar("SELECT to_regclass('migrations') IS NOT NULL"):
            version = self.schema_version()
            if version > len(PG_MIGRATIONS):
                raise StoreError(
                    f"{self.url} has schema version {version}, newer than this synthtune knows "
                    f"({len(PG_MIGRATIONS)}): upgrade synthtune"
                )
            if version == len(PG_MIGRATIONS):
                return
        if not self._scalar("SELECT COUNT(*) FROM pg_available_extensions WHERE name = 'vector'"):
            raise StoreError(
                f"PostgreSQL at {self.url} lacks the pgvector extension ('vector'): install pgvector "
                "on the server (managed services: enable the 'vector' extension)"
            )
        for number, (name, script) in enumerate(PG_MIGRATIONS, start=1):
            with self.conn.transaction():
                self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATE_LOCK,))
                self.conn.execute(
                    "CREATE TABLE IF NOT EXISTS migrations(id INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                    " applied_at TEXT NOT NULL)"
                )
                if self.conn.execute("SELECT 1 FROM migrations WHERE id = %s", (number,)).fetchone():
                    continue  # applied already, maybe by another process while this one waited
                self.conn.execute(script)
                self.conn.execute(
                    "INSERT INTO migrations(id, name, applied_at) VALUES (%s, %s, %s)",
                    (number, name, utcnow()),
                )

    def _connect(self) -> psycopg.Connection:
        try:
            return psycopg.connect(self._conninfo, autocommit=True, row_factory=dict_row)
        except psycopg.Error as exc:
            raise StoreError(f"cannot reach PostgreSQL at {self.url}: {first_line(exc)}") from None

    def close(self) -> None:
        with self._reader_lock:
            if self._reader is not None:
                self._reader.close()
        self.conn.close()

    # -- primitives -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._depth = 1
        try:
            with self.conn.transaction():
                self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
                yield
        finally:
            self._depth = 0

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.conn.execute(to_pyformat(sql), params)

    def _executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            with self.conn.cursor() as cur:
                cur.executemany(to_pyformat(sql), rows)

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return self.conn.execute(to_pyformat(sql), params).fetchall()

    def _read_rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows read on a second connection, opened on first use. One psycopg connection runs one query at
        a time, so the Searcher's lexical query (on its own thread) would otherwise wait for the dense
        one. Inside a write transaction the rows come from that transaction's connection, which sees its
        own writes."""
        if self._depth:
            return self._rows(sql, params)
        with self._reader_lock:
            if self._reader is None or self._reader.closed:
                self._reader = self._connect()
            reader = self._reader
        return reader.execute(to_pyformat(sql), params).fetchall()

    def _iter(self, sql: str, params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        with self.conn.cursor(row_factory=psycopg.rows.tuple_row) as cur:
            cur.execute(to_pyformat(sql), params)
            yield from cur

    # -- writes several writers may race on --------------------------------------------------------

    def add_embedding_model(self, m: EmbeddingModel) -> EmbeddingModel:
        """Record a model (or return the record another writer made) and give its vectors an HNSW index
        of their own: a partial index over ``vector::vector(dim)`` for this model's rows."""
        with self.transaction():
            found = self.embedding_model(m.name)
            if found is None:
                found = super().add_embedding_model(m)
            # only this transaction: an HNSW build is several times faster while its graph fits in memory
            self._execute("SELECT set_config('maintenance_work_mem', ?, true)", (self.index_memory,))
            self._execute(
                f"CREATE INDEX IF NOT EXISTS embeddings_hnsw_{int(found.id)} ON embeddings USING hnsw"
                f" ((vector::vector({int(found.dim)})) vector_cosine_ops) WHERE model_id = {int(found.id)}"
            )
        return found

    # -- vectors and search candidates -----------------------------------------------------------------

    def put_vectors(self, model_id: int, keys: list[str], vectors: np.ndarray) -> None:
        with self.transaction():
            self._executemany(
                "INSERT INTO embeddings(model_id, key, vector) VALUES (?, ?, ?::vector) ON CONFLICT DO NOTHING",
                [(model_id, k, vector_literal(v)) for k, v in zip(keys, vectors, strict=True)],
            )

    def lexical_candidates(
        self,
        terms: list[str],
        n: int,
        header_weight: float = 0.5,
        document_ids: Collection[int] | None = None,
    ) -> list[tuple[int, float]]:
        """Full-text candidates through the GIN index on the stored ``chunks_fts.tsv``: ``ts_rank`` with the header's lexemes (weight B)
        counting ``header_weight`` times the text's (weight A), normalised by document length as BM25
        is. With ``document_ids``, only chunks of those documents. Read on the second connection, so it
        runs at the same time as a dense query."""
        if not terms or (document_ids is not None and not document_ids):
            return []
        query = " || ".join(["plainto_tsquery('english', ?)"] * len(terms))
        within, params = "", []
        if document_ids is not None:
            within = " AND id IN (SELECT id FROM chunks WHERE document_id = ANY(?))"
            params = [sorted(set(document_ids))]
        match, match_params = "q", []
        if document_ids is None and (rarer := self.match_lexemes(terms)) is not None:
            match, match_params = "?::tsquery", [" | ".join(_quote_lexeme(x) for x in rarer)]
        rows = self._read_rows(
            f"SELECT id, ts_rank(?::float4[], tsv, q, 1) AS s FROM chunks_fts, (SELECT {query}) AS t(q)"
            f" WHERE tsv @@ {match}{within} ORDER BY s DESC, id LIMIT ?",
            ([0.0, 0.0, header_weight, 1.0], *terms, *match_params, *params, n),
        )
        return [(int(r["id"]), float(r["s"])) for r in rows]

    def match_lexemes(self, terms: list[str]) -> list[str] | None:
        """The lexemes that select the rows lexical search ranks, when ANALYZE's statistics estimate
        that all of the query's would select more than ``lexical_match_budget`` rows: the most common
        lexemes are left out, most common first, while the estimate is over budget and one is left.
        None: every term selects (a small store, one never analyzed, or a query of rare words)."""
        rows, freq, least = self._lexeme_frequencies()
        if rows <= self.lexical_match_budget or not freq:
            return None
        lexemes = list(
            dict.fromkeys(
                r["lexeme"]
                for r in self._read_rows(
                    "SELECT unnest(tsvector_to_array(to_tsvector('english', t))) AS lexeme"
                    " FROM unnest(?::text[]) WITH ORDINALITY AS u(t, i) ORDER BY i",
                    (terms,),
                )
            )
        )
        estimate = {x: freq.get(x, least) * rows for x in lexemes}
        total = sum(estimate.values())
        if total <= self.lexical_match_budget:
            return None
        keep = list(lexemes)
        for x in sorted((x for x in lexemes if x in freq), key=lambda x: -freq[x]):
            if total <= self.lexical_match_budget or len(keep) == 1:
                break
            keep.remove(x)
            total -= estimate[x]
        return keep if len(keep) < len(lexemes) else None

    def _lexeme_frequencies(self) -> tuple[float, dict[str, float], float]:
        """(rows of chunks_fts, {lexeme: share of rows holding it} for the most common lexemes, the least
        share listed), from pg_stats (what ANALYZE or autovacuum last saw); kept for
        ``STATS_TTL_S`` seconds."""
        now = time.monotonic()
        if self._lexeme_stats is None or now - self._lexeme_stats[0] > STATS_TTL_S:
            [count] = self._read_rows(
                "SELECT reltuples AS n FROM pg_class WHERE oid = 'chunks_fts'::regclass"
            )
            rows = float(count["n"] or 0)
            found = self._read_rows(
                "SELECT most_common_elems::text::text[] AS elems, most_common_elem_freqs AS freqs FROM pg_stats"
                " WHERE schemaname = current_schema() AND tablename = 'chunks_fts' AND attname = 'tsv'"
            )
            stats = found[0] if found else None
            freq: dict[str, float] = {}
            least = 0.0
            if stats and stats["elems"] and stats["freqs"]:
                # the frequencies list one share per element, then the least and the greatest share
                freq = dict(zip(stats["elems"], stats["freqs"], strict=False))
                least = float(stats["freqs"][len(stats["elems"])])
            self._lexeme_stats = (now, rows, freq, least)
        return self._lexeme_stats[1:]

    def dense_candidates(
        self, model_id: int, query: np.ndarray, n: int, document_ids: Collection[int] | None = None
    ) -> list[tuple[int, float]]:
        """Nearest chunks by cosine similarity (the dot product of normalised vectors) through the
        model's HNSW index, searched with ``hnsw.ef_search`` = max(store.ef_search, candidates wanted).
        With ``document_ids``, an exact scan over those documents' chunks (a filtered HNSW scan would
        return fewer than ``n``)."""
        model = self._one("SELECT dim FROM embedding_models WHERE id = ?", (model_id,))
        if model is None:
            return []
        dim, mid = int(model["dim"]), int(model_id)
        if document_ids is not None:
            if not document_ids:
                return []
            rows = self._rows(
                f"SELECT c.id, 1 - (e.vector::vector({dim}) <=> ?::vector({dim})) AS s FROM chunks c"
                f" JOIN embeddings e ON e.key = c.embed_key AND e.model_id = {mid}"
                " WHERE c.document_id = ANY(?) ORDER BY s DESC, c.id LIMIT ?",
                (vector_literal(query), sorted(set(document_ids)), n),
            )
            return [(int(r["id"]), float(r["s"])) for r in rows]
        fetch = n * DENSE_OVERSAMPLE
        q = vector_literal(query)
        with self.conn.transaction():
            self.conn.execute(
                "SELECT set_config('hnsw.ef_search', %s, true)", (str(max(self.ef_search, fetch)),)
            )
            rows = self._rows(
                f"SELECT c.id, 1 - e.d AS s FROM (SELECT key, vector::vector({dim}) <=> ?::vector({dim}) AS d"
                f" FROM embeddings WHERE model_id = {mid} ORDER BY d LIMIT ?) e"
                " JOIN chunks c ON c.embed_key = e.key ORDER BY e.d, c.id LIMIT ?",
                (q, fetch, n),
            )
        return [(int(r["id"]), float(r["s"])) for r in rows]

    def exact_dense_candidates(self, model_id: int, query: np.ndarray, n: int) -> list[tuple[int, float]]:
        """The same ranking by a sequential scan (no index): the reference HNSW recall is measured on."""
        model = self._one("SELECT dim FROM embedding_models WHERE id = ?", (model_id,))
        if model is None:
            return []
        dim, mid = int(model["dim"]), int(model_id)
        with self.conn.transaction():
            self.conn.execute("SET LOCAL enable_indexscan = off")
            rows = self._rows(
                f"SELECT c.id, 1 - (e.vector::vector({dim}) <=> ?::vector({dim})) AS s FROM embeddings e"
                f" JOIN chunks c ON c.embed_key = e.key WHERE e.model_id = {mid} ORDER BY s DESC, c.id LIMIT ?",
                (vector_literal(query), n),
            )
        return [(int(r["id"]), float(r["s"])) for r in rows]

    # -- copies ------------------------------------------------------------------------------------

    def table_columns(self, table: str) -> list[str]:
        return [
            r["column_name"]
            for r in self._rows(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema()"
                " AND table_name = ? ORDER BY ordinal_position",
                (table,),
            )
        ]

    def after_copy(self) -> None:
        """Move every identity sequence past the copied ids, and index each model's vectors."""
        for r in self._rows(
            "SELECT table_name FROM information_schema.columns WHERE table_schema = current_schema()"
            " AND column_name = 'id' AND is_identity = 'YES'"
        ):
            t = r["table_name"]
            self._execute(
                f"SELECT setval(pg_get_serial_sequence('{t}', 'id'), COALESCE((SELECT MAX(id) FROM {t}), 0) + 1,"
                " false)"
            )
        for m in self.embedding_models():
            self.add_embedding_model(m)


def _quote_lexeme(lexeme: str) -> str:
    """A lexeme as a ``tsquery`` operand taken as it is (no parsing, no stemming)."""
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"
