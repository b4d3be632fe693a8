"""``synthtune ingest``: files -> documents, pages, chunks, embeddings and the full-text index.

Identity is the sha256 of a file's bytes. An unchanged file costs a read and a hash; a changed file at
a known path replaces its old version and everything derived from it (foreign keys cascade); each
document is written in one transaction, so a failure leaves nothing half-written.

A document also records the sha256 of the settings that cut it into chunks (``chunking_sha``). An
unchanged file read with other chunking settings is cut again; when that changes its chunks it is
written anew ("rechunked": new chunks, embedded through the cache), else only the record is updated.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import json
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthtune.config import Settings
from synthtune.embed import Embedder, check_model, embed_missing, model_record, text_key
from synthtune.errors import LoaderError
from synthtune.ingest.base import LoadedDocument
from synthtune.ingest.chunking import HEADER_VERSION, chunk_document
from synthtune.ingest.loaders import load_document
from synthtune.ingest.ocr import OCROptions, ocr_available
from synthtune.stages import Stage, StageProgress
from synthtune.store import Chunk, Document, Page, Store
from synthtune.text.identity import (
    IDENTITY_VERSION,
    DocIdentity,
    identify,
    identity_json,
    identity_line,
    override_for,
)

if TYPE_CHECKING:
    from synthtune.project import Project


@dataclass
class IngestReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    rechunked: int = 0  # unchanged files cut again because the chunking settings changed
    failed: list[dict[str, str]] = field(default_factory=list)
    chunks: int = 0  # chunks written by this run
    warnings: list[dict[str, str]] = field(default_factory=list)
    embedded: int = 0  # passages embedded (cache misses)
    pages: int = 0  # pages of the documents written by this run
    ocr_pages: int = 0  # of which read by OCR
    known_failures: int = 0  # failed files not read again: unchanged since they failed with these settings
    seconds: float = 0.0  # wall time of the run

    @property
    def pages_per_s(self) -> float:
        return self.pages / self.seconds if self.seconds else 0.0

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


# Bump when a loader reads the same file into other page text (2: ligature repair, OCR), so documents
# and remembered failures from before are read again once.
READER_VERSION = 2
_POOL_MIN_FILES = 6  # below this, starting worker processes costs more than it saves


def ocr_options(settings: Settings) -> OCROptions:
    s = settings.ingest
    return OCROptions(
        mode=s.ocr,
        dpi=s.ocr_dpi,
        timeout_s=s.ocr_timeout_s,
        workers=workers(settings),
        language=s.ocr_language,
    )


def workers(settings: Settings) -> int:
    """Processes that read files: ``ingest.workers``, or one per core up to 4."""
    return settings.ingest.workers or max(1, min(4, os.cpu_count() or 1))


def _reading(settings: Settings) -> dict[str, Any]:
    """The settings that decide a file's page text."""
    s = settings.ingest
    return {"reader": READER_VERSION, "ocr": s.ocr, "ocr_dpi": s.ocr_dpi, "ocr_language": s.ocr_language}


def reading_sha(settings: Settings, password: str | None) -> str:
    """sha256 of what decides whether a file can be read: the reading settings and the password."""
    pw = hashlib.sha256((password or "").encode()).hexdigest()
    return hashlib.sha256(
        json.dumps({**_reading(settings), "password": pw}, sort_keys=True).encode()
    ).hexdigest()


def _identity_settings(settings: Settings) -> dict[str, Any]:
    """What decides the identity line of the headers: off, or the extractor's version and the overrides."""
    if not (settings.embedding.contextual_header and settings.embedding.header_identity):
        return {}
    overrides = {k: v.model_dump(mode="json") for k, v in settings.documents.items()}
    return {"identity": IDENTITY_VERSION, "documents": overrides}


def document_identity_of(doc: LoadedDocument, source_path: str, settings: Settings) -> DocIdentity:
    """Whom, when and what the document is about (the settings' `documents:` override applied)."""
    texts = [p.text for p in doc.pages if p.text.strip()]
    return identify(doc.title, texts, source_path, override_for(source_path, settings.documents))


def chunking_sha(settings: Settings) -> str:
    """sha256 of the settings that decide a document's chunks (and so their passage strings)."""
    decided_by = {
        "chunk_size": settings.ingest.chunk_size,
        "chunk_overlap": settings.ingest.chunk_overlap,
        "contextual_header": settings.embedding.contextual_header,
        "header": HEADER_VERSION if settings.embedding.contextual_header else "",
        "table_header": settings.embedding.contextual_header and settings.embedding.table_header,
        **({"keep_tables": True} if settings.ingest.keep_tables else {}),  # off: the sha of earlier releases
        **_identity_settings(settings),
        **_reading(settings),
    }
    return hashlib.sha256(json.dumps(decided_by, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class FileResult:
    """What ingesting one file did."""

    status: str  # added | updated | unchanged | rechunked
    chunks: int = 0
    embedded: int = 0
    warnings: list[str] = field(default_factory=list)
    pages: int = 0
    ocr_pages: int = 0


@dataclass(frozen=True)
class _Plan:
    """A file that must be read: its identity, and the document it replaces or re-cuts."""

    path: Path
    sha: str
    size: int
    mtime: float
    known: Document | None  # the same content already stored, to re-cut with the current settings


class KnownFailure(LoaderError):
    """The file is unchanged since it failed with the same reading settings: not read again."""


def read_file(path: Path, password: str | None, ocr: OCROptions) -> LoadedDocument:
    """Load one file into pages (OCR included), refusing a document without text on any page. Runs in
    a worker process when several files are read at once, so it takes and returns plain data."""
    doc = load_document(path, password=password, ocr=ocr)
    if not any(p.text.strip() for p in doc.pages):
        raise LoaderError(_no_text_reason(doc, ocr))
    return doc


def _no_text_reason(doc: LoadedDocument, ocr: OCROptions) -> str:
    failed = next((w for w in doc.warnings if "OCR failed" in w), None)
    if failed:
        return f"no text on any page: {failed}"
    if ocr.mode == "never":
        return "no text layer on any page; scanned? (ingest.ocr is 'never')"
    if not ocr_available():
        return "no text layer on any page, and OCR is unavailable: install tesseract-ocr"
    return "no text on any page, not even by OCR"


class Ingester:
    """Reusable ingest machinery over one store (the embedder loads only when something is new)."""

    def __init__(self, store: Store, settings: Settings, embedder: Embedder | None = None):
        self.store = store
        self.settings = settings
        self.embedder = embedder or Embedder(settings.embedding)
        self.chunking_sha = chunking_sha(settings)
        self.ocr = ocr_options(settings)

    def chunk(self, doc: LoadedDocument, identity: DocIdentity | None = None) -> list[Chunk]:
        """The document's chunks under the current settings, each keyed by the passage string it embeds;
        with ``identity`` (and `embedding.header_identity` on), every header starts with it."""
        s = self.settings.ingest
        lead = identity_line(identity) if identity and self.settings.embedding.header_identity else ""
        specs = chunk_document(
            doc,
            self.embedder.tokenizer,
            size=s.chunk_size,
            overlap=s.chunk_overlap,
            max_tokens=self.embedder.max_seq_length,
            with_header=self.settings.embedding.contextual_header,
            lead=lead,
            table_headers=self.settings.embedding.table_header,
            keep_tables=s.keep_tables,
        )
        return [
            Chunk(
                ordinal=c.ordinal,
                text=c.text,
                header=c.header,
                section=c.section,
                page_start=c.page_start,
                page_end=c.page_end,
                char_start=c.char_start,
                char_end=c.char_end,
                n_tokens=c.n_tokens,
                sha256=c.sha256,
                embed_key=text_key(self.embedder.passage_text(c.text, c.header)),
            )
            for c in specs
        ]

    def ingest_file(self, path: Path, password: str | None) -> FileResult:
        """Ingest one file. A :class:`LoaderError` is remembered as the path's failure and raised."""
        plan = self.plan(path, password)
        if isinstance(plan, FileResult):
            return plan
        return self.finish(plan, password, self.read(plan, password))

    def plan(self, path: Path, password: str | None) -> _Plan | FileResult:
        """Hash the file and decide from the store alone: unchanged (a result), or to be read (a plan).
        Raises :class:`KnownFailure` for a file unchanged since it failed with these settings."""
        s = self.settings.ingest
        try:
            stat = path.stat()
        except OSError as exc:
            raise self._failed(path, f"cannot read file ({exc.strerror})", "", password) from None
        if stat.st_size > s.max_file_mb * 1024 * 1024:
            raise self._failed(
                path,
                f"file is {stat.st_size / 2**20:.0f} MiB, over ingest.max_file_mb ({s.max_file_mb:g})",
                "",
                password,
            )
        try:
            sha = _sha256_file(path)
        except OSError as exc:
            raise self._failed(path, f"cannot read file ({exc.strerror})", "", password) from None
        src = str(path)
        known = self.store.document_by_sha(sha)
        if known is not None:
            if known.source_path != src and not Path(known.source_path).exists():
                self.store.move_document(known.id, src)  # the file moved: follow it
                known = self.store.document_by_sha(sha)
                assert known is not None
            self.store.clear_failure(src)
            if known.chunking_sha == self.chunking_sha:
                return FileResult("unchanged")
        else:
            failure = self.store.failure_by_sha(sha, reading_sha(self.settings, password))
            if failure is not None:
                if failure.source_path != src:
                    self.store.record_failure(src, failure.error, sha, failure.settings_sha)
                raise KnownFailure(failure.error)
        return _Plan(path, sha, stat.st_size, stat.st_mtime, known)

    def read(self, plan: _Plan, password: str | None) -> LoadedDocument:
        try:
            return read_file(plan.path, password, self.ocr)
        except LoaderError as exc:
            raise self._failed(plan.path, str(exc), plan.sha, password) from None

    def finish(self, plan: _Plan, password: str | None, doc: LoadedDocument) -> FileResult:
        """Chunk, embed and write a document read for ``plan``."""
        identity = document_identity_of(doc, str(plan.path), self.settings)
        doc = dataclasses.replace(doc, metadata={**doc.metadata, "identity": identity_json(identity)})
        chunks = self.chunk(doc, identity)
        counts = {"pages": len(doc.pages), "ocr_pages": sum(p.ocr for p in doc.pages)}
        if plan.known is not None:
            known = plan.known
            stored = self.store.chunks(known.id)
            same = len(stored) == len(chunks) and all(
                a.same_cut(b) for a, b in zip(stored, chunks, strict=True)
            )
            same_pages = self.store.pages(known.id) == _store_pages(doc)
            if same and same_pages:
                self.store.set_chunking_sha(known.id, self.chunking_sha, doc.metadata)
                return FileResult("unchanged")
            if same_pages and [a.text_cut() for a in stored] == [b.text_cut() for b in chunks]:
                # only the headers changed (the identity line, a title): new passage strings, same
                # chunks, so examples and reviews that cite them stay
                n_embedded = self._embed(chunks)
                self.store.reheader_chunks(
                    known.id,
                    [(a.id, b.header, b.embed_key) for a, b in zip(stored, chunks, strict=True)],
                    self.chunking_sha,
                    doc.metadata,
                )
                return FileResult("rechunked", len(chunks), n_embedded, doc.warnings, **counts)
            n_embedded = self._embed(chunks)
            self._write(
                doc, chunks, known.sha256, known.source_path, known.size_bytes, known.mtime, [known.id]
            )
            return FileResult("rechunked", len(chunks), n_embedded, doc.warnings, **counts)
        src = str(plan.path)
        n_embedded = self._embed(chunks)
        old = [d.id for d in self.store.documents_at(src)]
        self._write(doc, chunks, plan.sha, src, plan.size, plan.mtime, replace=old)
        return FileResult("updated" if old else "added", len(chunks), n_embedded, doc.warnings, **counts)

    def _failed(self, path: Path, error: str, sha: str, password: str | None) -> LoaderError:
        """Remember the failure (by content when the file could be hashed) and return it to raise."""
        self.store.record_failure(str(path), error, sha, reading_sha(self.settings, password) if sha else "")
        return LoaderError(error)

    def _embed(self, chunks: list[Chunk]) -> int:
        check_model(self.store, self.embedder)
        passages = [self.embedder.passage_text(c.text, c.header) for c in chunks]
        return embed_missing(self.store, self.embedder, model_record(self.store, self.embedder), passages)

    def _write(
        self,
        doc: LoadedDocument,
        chunks: list[Chunk],
        sha: str,
        src: str,
        size: int,
        mtime: float,
        replace: list[int],
    ) -> None:
        record = Document(
            sha256=sha,
            source_path=src,
            title=doc.title,
            media_type=doc.media_type,
            n_pages=len(doc.pages),
            size_bytes=size,
            mtime=mtime,
            metadata=doc.metadata,
            chunking_sha=self.chunking_sha,
        )
        self.store.write_document(
            record, _store_pages(doc), chunks, replace=replace, model=self.embedder.name
        )


def _store_pages(doc: LoadedDocument) -> list[Page]:
    return [Page(p.page_no, p.text, p.has_text, p.ocr, p.metadata) for p in doc.pages]


ProgressFn = Callable[[Path, str], None]


@dataclass(frozen=True)
class IngestRate:
    """How far an ingest is, for a progress line: pages written per second and the time left, estimated
    from the bytes of the files still to read (known once every file has been hashed)."""

    files_done: int
    files: int
    pages: int
    seconds: float
    bytes_done: int
    bytes_total: int

    @property
    def pages_per_s(self) -> float:
        return self.pages / self.seconds if self.seconds > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the rate so far (None before the first file is in)."""
        if not self.bytes_done or self.seconds <= 0:
            return None
        return (self.bytes_total - self.bytes_done) * self.seconds / self.bytes_done


def ingest(
    store: Store,
    settings: Settings,
    paths: Iterable[str | Path],
    *,
    password: str | None = None,
    embedder: Embedder | None = None,
    progress: Callable[[int], None] | None = None,
    on_file: ProgressFn | None = None,
    on_rate: Callable[[IngestRate], None] | None = None,
) -> IngestReport:
    """Ingest files and folders into ``store``. Never raises for a bad file: it is reported in ``failed``.

    Files are read (parsed, OCR'd) by ``ingest.workers`` processes ahead of the one that chunks, embeds
    and writes them, a few files ahead at most, so memory stays bounded whatever the corpus; each
    document is still written in its own transaction, in the order of the files.
    ``progress(total)`` is called once with the number of files; ``on_file(path, status)`` after each;
    ``on_rate(rate)`` after each file that was read (pages/s and time left).
    """
    started = time.perf_counter()
    s = settings.ingest
    files, missing = discover(paths, s.include, s.exclude)
    report = IngestReport(failed=list(missing))
    ing = Ingester(store, settings, embedder)
    if progress:
        progress(len(files))
    pw = password if password is not None else s.password

    def done(path: Path, outcome: FileResult | LoaderError) -> None:
        if isinstance(outcome, LoaderError):
            report.failed.append({"path": str(path), "error": str(outcome)})
            report.known_failures += isinstance(outcome, KnownFailure)
            status = "failed"
        else:
            status = outcome.status
            setattr(report, status, getattr(report, status) + 1)
            report.chunks += outcome.chunks
            report.embedded += outcome.embedded
            report.pages += outcome.pages
            report.ocr_pages += outcome.ocr_pages
            report.warnings.extend({"path": str(path), "warning": w} for w in outcome.warnings)
        if on_file:
            on_file(path, status)

    plans: dict[str, _Plan] = {}
    copies: list[Path] = []  # the same content as a file planned before: decided once that one is in
    for path in files:
        try:
            planned = ing.plan(path, pw)
        except LoaderError as exc:
            done(path, exc)
            continue
        if isinstance(planned, FileResult):
            done(path, planned)
        elif planned.sha in plans:
            copies.append(path)
        else:
            plans[planned.sha] = planned
    bytes_total, bytes_done = sum(p.size for p in plans.values()), 0
    for n, (plan, loaded) in enumerate(_read_ahead(ing, list(plans.values()), pw), start=1):
        if isinstance(loaded, LoaderError):
            done(plan.path, ing._failed(plan.path, str(loaded), plan.sha, pw))
        else:
            try:
                done(plan.path, ing.finish(plan, pw, loaded))
            except LoaderError as exc:
                done(plan.path, ing._failed(plan.path, str(exc), plan.sha, pw))
        bytes_done += plan.size
        if on_rate:
            elapsed = time.perf_counter() - started
            on_rate(IngestRate(n, len(plans), report.pages, elapsed, bytes_done, bytes_total))
    for path in copies:
        try:
            done(path, ing.ingest_file(path, pw))
        except LoaderError as exc:
            done(path, exc)
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _read_ahead(
    ing: Ingester, plans: list[_Plan], password: str | None
) -> Iterator[tuple[_Plan, LoadedDocument | LoaderError]]:
    """Each plan with its document read (or why it could not be), in order. With a few files and more
    than one worker, files are read in worker processes, at most ``workers + 1`` ahead of the
    consumer (each then OCRs with one thread: the processes are the parallelism)."""
    n_workers = min(workers(ing.settings), len(plans))
    if n_workers <= 1 or len(plans) < _POOL_MIN_FILES:
        for plan in plans:
            yield plan, _read_or_error(plan.path, password, ing.ocr)
        return
    import multiprocessing
    from concurrent.futures import Future, ProcessPoolExecutor

    ocr = dataclasses.replace(ing.ocr, workers=1)
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(max_workers=n_workers, mp_context=context) as pool:
        pending: deque[tuple[_Plan, Future[LoadedDocument | LoaderError]]] = deque()
        queue = iter(plans)
        for plan in queue:
            pending.append((plan, pool.submit(_read_or_error, plan.path, password, ocr)))
            if len(pending) > n_workers:
                break
        while pending:
            plan, future = pending.popleft()
            nxt = next(queue, None)
            if nxt is not None:
                pending.append((nxt, pool.submit(_read_or_error, nxt.path, password, ocr)))
            yield plan, future.result()


def _read_or_error(path: Path, password: str | None, ocr: OCROptions) -> LoadedDocument | LoaderError:
    """:func:`read_file` for a worker: a loader's error comes back as a value, not a broken pool."""
    try:
        return read_file(path, password, ocr)
    except LoaderError as exc:
        return LoaderError(str(exc))


# ---------------------------------------------------------------------------------------------------
# The ingest stage of ``synthtune run``


def _stage_inputs(project: Project) -> dict[str, Any]:
    """The files ``ingest.paths`` names, with their sizes and modification times."""
    s = project.settings.ingest
    files, missing = discover([project.resolve_path(p) for p in s.paths], s.include, s.exclude)
    stats = [(str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files]
    return {"files": stats, "missing": missing}


def _stage_run(project: Project, progress: StageProgress | None) -> dict[str, Any]:
    report = project.ingest()
    data = report.to_json()
    if not report.ok:
        # failed files are reported by name; the rest of the corpus goes on to the next stages
        data["warning"] = f"{len(report.failed)} file(s) failed to ingest"
    return data


STAGE = Stage(name="ingest", settings=("ingest", "embedding"), inputs=_stage_inputs, run=_stage_run)
