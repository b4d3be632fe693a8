"""A synthtune project: a folder with ``synthtune.yaml`` and ``synthtune.db``. The Python entry point.

>>> from synthtune import Project
>>> kb = Project("my-project")
>>> kb.ingest(["reports/"])
>>> for hit in kb.search("What was revenue in Q3?"):
...     print(hit.citation, hit.text[:80])
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from synthtune.config import CONFIG_NAME, BackendSettings, Settings, load_settings, render_settings
from synthtune.embed import Embedder, embed_missing, model_record, text_key
from synthtune.errors import ConfigError
from synthtune.llm.base import Backend, make_backend
from synthtune.store import Document, Store
from synthtune.store.open import open_project_store


def init_project(directory: str | Path, corpus: list[str] | None = None, force: bool = False) -> Path:
    """Write ``DIRECTORY/synthtune.yaml`` with every setting and its documentation."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    path = d / CONFIG_NAME
    if path.exists() and not force:
        raise ConfigError(f"{path} exists already (use --force to overwrite it)")
    settings = Settings()
    if corpus:
        # stored relative to the project folder when possible, so the project can move
        settings.ingest.paths = [_relative_to(Path(c).resolve(), d.resolve()) for c in corpus]
    path.write_text(render_settings(settings), encoding="utf-8")
    return path


def _relative_to(path: Path, base: Path) -> str:
    import os

    try:
        return os.path.relpath(path, base)
    except ValueError:
        return str(path)


class Project:
    """Settings, store and models of one project folder, loaded lazily and shared between stages."""

    def __init__(self, directory: str | Path = ".", settings: Settings | None = None):
        self.dir = Path(directory)
        self.settings = settings or load_settings(self.dir)
        self._store: Store | None = None
        self._embedder: Embedder | None = None
        self._searcher = None

    # -- lazily built parts --------------------------------------------------------------------

    @property
    def store(self) -> Store:
        if self._store is None:
            # store.url: a PostgreSQL server; unset: the folder's own SQLite file
            self._store = open_project_store(self.dir, self.settings.store)
        return self._store

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            if self.settings.executor == "ray":
                from synthtune.executor.ray_actors import RayEmbedder

                self._embedder = RayEmbedder(self.settings.embedding, self.settings.ray)
            else:
                self._embedder = Embedder(self.settings.embedding)
        return self._embedder

    def backend(self, settings: BackendSettings) -> Backend:
        """A generation backend for one role: in this process, or on Ray actors (``executor: ray``)."""
        if self.settings.executor == "ray":
            from synthtune.executor.ray_actors import RayBackend

            return RayBackend(settings, self.settings.ray)
        return make_backend(settings)

    def close(self) -> None:
        close_embedder = getattr(self._embedder, "close", None)
        if close_embedder is not None:
            close_embedder()
        if self._searcher is not None:
            self._searcher.close()
            self._searcher = None
        if self._store is not None:
            self._store.close()
            self._store = None

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def resolve_path(self, p: str | Path) -> Path:
        p = Path(p).expanduser()
        return p if p.is_absolute() else self.dir / p

    # -- knowledge base ---------------------------------------------------------------------------

    def ingest(self, paths: list[str | Path] | None = None, password: str | None = None, **kw: Any):
        from synthtune.ingest.pipeline import ingest

        if not paths:
            paths = [self.resolve_path(p) for p in self.settings.ingest.paths]
            if not paths:
                raise ConfigError(
                    "nothing to ingest: give PATH arguments or set ingest.paths in synthtune.yaml"
                )
        return ingest(self.store, self.settings, paths, password=password, embedder=self.embedder, **kw)

    def searcher(self):
        from synthtune.search import Searcher

        if self._searcher is None:
            self._searcher = Searcher(self.store, self.settings, self.embedder)
        return self._searcher

    def search(self, query: str, k: int | None = None, mode: str | None = None):
        return self.searcher().search(query, k=k, mode=mode)

    def search_scoped(self, query: str, k: int | None = None, mode: str | None = None):
        """Hits and the scope the query's company and period gave the search (see ``search.Scope``)."""
        return self.searcher().search_scoped(query, k=k, mode=mode)

    def reembed(self, progress=None) -> dict[str, Any]:
        """Embed every chunk with the configured model and make it the store's search model.

        ``progress(n)`` is called with the number of passages to embed, then with ``-n`` as ``n`` more are
        done."""
        emb, store = self.embedder, self.store
        chunks = store.chunks()
        header = self.settings.embedding.contextual_header
        passages = [emb.passage_text(c.text, c.header if header else "") for c in chunks]

        def step(total: int | None, advance: int) -> None:
            if progress:
                progress(total if total is not None else -advance)

        embedded = embed_missing(store, emb, model_record(store, emb), passages, progress=step)
        previous = store.active_embedding_model()
        store.switch_embedding_model(
            emb.name, [(c.id, text_key(p)) for c, p in zip(chunks, passages, strict=True)]
        )
        return {"model": emb.name, "previous_model": previous, "chunks": len(chunks), "embedded": embedded}

    def status(self) -> dict[str, Any]:
        """The knowledge base in numbers, as ``synthtune status --json`` prints it."""
        s = self.store
        counts = s.kb_counts()
        return {
            "project": str(self.dir.resolve()),
            "documents": counts.documents,
            "pages": counts.pages,
            "chunks": counts.chunks,
            "embedding_model": s.active_embedding_model(),
            "embeddings": [
                {"model": u.model, "dim": u.dim, "vectors": u.vectors, "chunks": u.chunks}
                for u in s.embedding_usage()
            ],
            "pages_without_text": [
                {"document": p.source_path, "page": p.page_no} for p in s.pages_without_text()
            ],
            "failures": [{"path": f.source_path, "error": f.error, "at": f.failed_at} for f in s.failures()],
            "ocr_pages": len(s.ocr_pages()),
            "facts": asdict(s.facts_status()),
            "schema_version": s.schema_version(),
        }

    def documents(self) -> list[Document]:
        return self.store.documents()
