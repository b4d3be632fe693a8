"""``synthtune ingest``: files -> documents, pages, chunks, embeddings and the full-text index.

Identity is the sha256 of a file's bytes. An unchanged file costs a read and a hash; a changed file at
a known path replaces its old version and everything derived from it (foreign keys cascade); each
document is written in one transaction, so a failure leaves nothing half-written.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from synthtune.config import Settings
from synthtune.embed import Embedder, cached_keys, check_model, model_id, put_vectors, text_key
from synthtune.errors import LoaderError, SynthtuneError
from synthtune.ingest.base import LoadedDocument
from synthtune.ingest.chunking import ChunkSpec, chunk_document
from synthtune.ingest.loaders import load_document
from synthtune.store import Store, utcnow


@dataclass
class IngestReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)
    chunks: int = 0  # chunks written by this run
    warnings: list[dict[str, str]] = field(default_factory=list)
    embedded: int = 0  # passages embedded (cache misses)

    def to_json(self) -> dict:
        return asdict(self)

    @property
    def ok(self) -> bool:
        return not self.failed


def _matches(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatch(name, p) for p in patterns)


def discover(
    paths: Iterable[str | Path], include: list[str], exclude: list[str]
) -> tuple[list[Path], list[dict]]:
    """Files to ingest (sorted, unique) and the paths that do not exist."""
    found: dict[Path, None] = {}
    missing: list[dict] = []
    for raw in paths:
        p = Path(raw).expanduser()
        if p.is_file():
            found[p.resolve()] = None  # named explicitly: include patterns do not apply
        elif p.is_dir():
            for f in sorted(p.rglob("*")):
                rel = f.relative_to(p).parts
                if any(_matches(part, exclude) for part in rel):
                    continue
                if f.is_file() and _matches(f.name, include):
                    found[f.resolve()] = None
        else:
            missing.append({"path": str(raw), "error": "no such file or directory"})
    return sorted(found), missing


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class Ingester:
    """Reusable ingest machinery over one store (the embedder loads only when something is new)."""

    def __init__(self, store: Store, settings: Settings, embedder: Embedder | None = None):
        self.store = store
        self.settings = settings
        self.embedder = embedder or Embedder(settings.embedding)

    def chunk(self, doc: LoadedDocument) -> list[ChunkSpec]:
        s = self.settings.ingest
        return chunk_document(
            doc,
            self.embedder.tokenizer,
            size=s.chunk_size,
            overlap=s.chunk_overlap,
            max_tokens=self.embedder.max_seq_length,
            with_header=self.settings.embedding.contextual_header,
        )

    def embed_missing(self, passages: list[str]) -> tuple[list[str], int]:
        """Embed the passages not yet cached for the configured model; returns (keys, number embedded)."""
        keys = [text_key(p) for p in passages]
        mid = model_id(self.store, self.embedder)
        have = cached_keys(self.store, mid, keys)
        todo = {k: p for k, p in zip(keys, passages, strict=True) if k not in have}
        if todo:
            vecs = self.embedder.encode(list(todo.values()))
            with self.store.transaction():
                put_vectors(self.store, mid, list(todo), vecs)
        return keys, len(todo)

    def ingest_file(self, path: Path, password: str | None) -> tuple[str, int, int, list[str]]:
        """Ingest one file; returns (status, chunks written, passages embedded, warnings)."""
        s = self.settings.ingest
        try:
            stat = path.stat()
        except OSError as exc:
            raise LoaderError(f"cannot read file ({exc.strerror})") from None
        if stat.st_size > s.max_file_mb * 1024 * 1024:
            raise LoaderError(
                f"file is {stat.st_size / 2**20:.0f} MiB, over ingest.max_file_mb ({s.max_file_mb:g})"
            )
        try:
            sha = _sha256_file(path)
        except OSError as exc:
            raise LoaderError(f"cannot read file ({exc.strerror})") from None
        src = str(path)
        same = self.store.query("SELECT id, source_path FROM documents WHERE sha256 = ?", (sha,))
        if same:
            if same[0]["source_path"] != src and not Path(same[0]["source_path"]).exists():
                with self.store.transaction():  # the file moved: follow it
                    self.store.execute(
                        "UPDATE documents SET source_path = ? WHERE id = ?", (src, same[0]["id"])
                    )
            with self.store.transaction():
                self.store.execute("DELETE FROM ingest_failures WHERE source_path = ?", (src,))
            return "unchanged", 0, 0, []
        doc = load_document(path, password=password)
        if not any(p.text.strip() for p in doc.pages):
            raise LoaderError("no text layer on any page; scanned? (OCR it first)")
        chunks = self.chunk(doc)
        passages = [self.embedder.passage_text(c.text, c.header) for c in chunks]
        check_model(self.store, self.embedder)
        keys, n_embedded = self.embed_missing(passages)
        old = self.store.query("SELECT id FROM documents WHERE source_path = ?", (src,))
        with self.store.transaction():
            for row in old:
                self.store.execute("DELETE FROM documents WHERE id = ?", (row["id"],))
            cur = self.store.execute(
                "INSERT INTO documents(sha256, source_path, title, media_type, n_pages, size_bytes, mtime,"
                " metadata, ingested_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    sha,
                    src,
                    doc.title,
                    doc.media_type,
                    len(doc.pages),
                    stat.st_size,
                    stat.st_mtime,
                    json.dumps(doc.metadata, sort_keys=True, default=str),
                    utcnow(),
                ),
            )
            doc_id = cur.lastrowid
            self.store.conn.executemany(
                "INSERT INTO pages(document_id, page_no, text, has_text) VALUES (?, ?, ?, ?)",
                [(doc_id, p.page_no, p.text, int(p.has_text)) for p in doc.pages],
            )
            self.store.conn.executemany(
                "INSERT INTO chunks(document_id, ordinal, text, header, section, page_start, page_end,"
                " char_start, char_end, n_tokens, sha256, embed_key) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                [
                    (
                        doc_id,
                        c.ordinal,
                        c.text,
                        c.header,
                        c.section,
                        c.page_start,
                        c.page_end,
                        c.char_start,
                        c.char_end,
                        c.n_tokens,
                        c.sha256,
                        k,
                    )
                    for c, k in zip(chunks, keys, strict=True)
                ],
            )
            self.store.execute("DELETE FROM ingest_failures WHERE source_path = ?", (src,))
            if self.store.get_meta("embedding_model") is None:
                self.store.set_meta("embedding_model", self.embedder.name)
            self.store.set_meta("kb_version", str(int(self.store.get_meta("kb_version") or 0) + 1))
        return ("updated" if old else "added"), len(chunks), n_embedded, doc.warnings

    def record_failure(self, path: str, error: str) -> None:
        with self.store.transaction():
            self.store.execute(
                "INSERT INTO ingest_failures(source_path, error, failed_at) VALUES (?, ?, ?)"
                " ON CONFLICT(source_path) DO UPDATE SET error = excluded.error, failed_at = excluded.failed_at",
                (path, error, utcnow()),
            )


ProgressFn = Callable[[Path, str], None]


def ingest(
    store: Store,
    settings: Settings,
    paths: Iterable[str | Path],
    *,
    password: str | None = None,
    embedder: Embedder | None = None,
    progress: Callable[[int], None] | None = None,
    on_file: ProgressFn | None = None,
) -> IngestReport:
    """Ingest files and folders into ``store``. Never raises for a bad file: it is reported in ``failed``.

    ``progress(total)`` is called once with the number of files; ``on_file(path, status)`` after each.
    """
    s = settings.ingest
    files, missing = discover(paths, s.include, s.exclude)
    report = IngestReport(failed=list(missing))
    ing = Ingester(store, settings, embedder)
    if progress:
        progress(len(files))
    pw = password if password is not None else s.password
    for path in files:
        try:
            status, n, n_embedded, warnings = ing.ingest_file(path, pw)
        except SynthtuneError as exc:
            if not isinstance(exc, LoaderError):
                raise  # a store or model problem: every other file would fail the same way
            report.failed.append({"path": str(path), "error": str(exc)})
            ing.record_failure(str(path), str(exc))
            status = "failed"
        else:
            setattr(report, status, getattr(report, status) + 1)
            report.chunks += n
            report.embedded += n_embedded
            report.warnings.extend({"path": str(path), "warning": w} for w in warnings)
        if on_file:
            on_file(path, status)
    return report
