"""``synthtune ingest``: files -> documents, pages, chunks, embeddings and the full-text index.

Identity is the sha256 of a file's bytes. An unchanged file costs a read and a hash; a changed file at
a known path replaces its old version and everything derived from it (foreign keys cascade); each
document is written in one transaction, so a failure leaves nothing half-written.

A document also records the sha256 of the settings that cut it into chunks (``chunking_sha``). An
unchanged file read with other chunking settings is cut again; when that changes its chunks it is
written anew ("rechunked": new chunks, embedded through the cache), else only the record is updated.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthtune.config import Settings
from synthtune.embed import Embedder, check_model, embed_missing, model_record, text_key
from synthtune.errors import LoaderError, SynthtuneError
from synthtune.ingest.base import LoadedDocument
from synthtune.ingest.chunking import chunk_document
from synthtune.ingest.loaders import load_document
from synthtune.stages import Stage, StageProgress
from synthtune.store import Chunk, Document, Page, Store

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


def chunking_sha(settings: Settings) -> str:
    """sha256 of the settings that decide a document's chunks (and so their passage strings)."""
    decided_by = {
        "chunk_size": settings.ingest.chunk_size,
        "chunk_overlap": settings.ingest.chunk_overlap,
        "contextual_header": settings.embedding.contextual_header,
    }
    return hashlib.sha256(json.dumps(decided_by, sort_keys=True).encode()).hexdigest()


class Ingester:
    """Reusable ingest machinery over one store (the embedder loads only when something is new)."""

    def __init__(self, store: Store, settings: Settings, embedder: Embedder | None = None):
        self.store = store
        self.settings = settings
        self.embedder = embedder or Embedder(settings.embedding)
        self.chunking_sha = chunking_sha(settings)

    def chunk(self, doc: LoadedDocument) -> list[Chunk]:
        """The document's chunks under the current settings, each keyed by the passage string it embeds."""
        s = self.settings.ingest
        specs = chunk_document(
            doc,
            self.embedder.tokenizer,
            size=s.chunk_size,
            overlap=s.chunk_overlap,
            max_tokens=self.embedder.max_seq_length,
            with_header=self.settings.embedding.contextual_header,
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
        known = self.store.document_by_sha(sha)
        if known is not None:
            if known.source_path != src and not Path(known.source_path).exists():
                self.store.move_document(known.id, src)  # the file moved: follow it
                known = self.store.document_by_sha(sha)
                assert known is not None
            self.store.clear_failure(src)
            if known.chunking_sha == self.chunking_sha:
                return "unchanged", 0, 0, []
            return self._rechunk(path, known, password)
        doc = self._load(path, password)
        chunks = self.chunk(doc)
        n_embedded = self._embed(chunks)
        old = [d.id for d in self.store.documents_at(src)]
        self._write(doc, chunks, sha, src, stat.st_size, stat.st_mtime, replace=old)
        return ("updated" if old else "added"), len(chunks), n_embedded, doc.warnings

    def _rechunk(self, path: Path, known: Document, password: str | None) -> tuple[str, int, int, list[str]]:
        """Cut an unchanged file again with the current settings; write it anew only if its chunks
        changed (a store from before chunking was recorded keeps its documents when they still agree)."""
        doc = self._load(path, password)
        chunks = self.chunk(doc)
        stored = self.store.chunks(known.id)
        if len(stored) == len(chunks) and all(a.same_cut(b) for a, b in zip(stored, chunks, strict=True)):
            self.store.set_chunking_sha(known.id, self.chunking_sha)
            return "unchanged", 0, 0, []
        n_embedded = self._embed(chunks)
        self._write(
            doc, chunks, known.sha256, known.source_path, known.size_bytes, known.mtime, replace=[known.id]
        )
        return "rechunked", len(chunks), n_embedded, doc.warnings

    def _load(self, path: Path, password: str | None) -> LoadedDocument:
        doc = load_document(path, password=password)
        if not any(p.text.strip() for p in doc.pages):
            raise LoaderError("no text layer on any page; scanned? (OCR it first)")
        return doc

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
        pages = [Page(p.page_no, p.text, p.has_text) for p in doc.pages]
        self.store.write_document(record, pages, chunks, replace=replace, model=self.embedder.name)


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
            store.record_failure(str(path), str(exc))
            status = "failed"
        else:
            setattr(report, status, getattr(report, status) + 1)
            report.chunks += n
            report.embedded += n_embedded
            report.warnings.extend({"path": str(path), "warning": w} for w in warnings)
        if on_file:
            on_file(path, status)
    return report


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
