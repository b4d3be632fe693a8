"""A synthtune project: a folder with ``synthtune.yaml`` and ``synthtune.db``. The Python entry point.

>>> from synthtune import Project
>>> kb = Project("my-project")
>>> kb.ingest(["reports/"])
>>> for hit in kb.search("What was revenue in Q3?"):
...     print(hit.citation, hit.text[:80])
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from synthtune.config import CONFIG_NAME, DB_NAME, Settings, load_settings, render_settings
from synthtune.embed import Embedder, active_model, model_id, put_vectors, text_key
from synthtune.errors import ConfigError
from synthtune.store import SQLiteStore, Store


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
            self._store = SQLiteStore(self.dir / DB_NAME)
        return self._store

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = Embedder(self.settings.embedding)
        return self._embedder

    def close(self) -> None:
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

    def search(self, query: str, k: int | None = None, mode: str | None = None):
        from synthtune.search import Searcher

        if self._searcher is None:
            self._searcher = Searcher(self.store, self.settings, self.embedder)
        return self._searcher.search(query, k=k, mode=mode)  # type: ignore[arg-type]

    def reembed(self, progress=None) -> dict[str, Any]:
        """Embed every chunk with the configured model and make it the store's search model."""
        emb = self.embedder
        store = self.store
        rows = store.query("SELECT id, header, text FROM chunks ORDER BY id")
        passages = [
            emb.passage_text(r["text"], r["header"] if self.settings.embedding.contextual_header else "")
            for r in rows
        ]
        keys = [text_key(p) for p in passages]
        mid = model_id(store, emb)
        have = {r[0] for r in store.execute("SELECT key FROM embeddings WHERE model_id = ?", (mid,))}
        todo = [(k, p) for k, p in dict(zip(keys, passages, strict=True)).items() if k not in have]
        step = 256
        if progress:
            progress(len(todo))
        for i in range(0, len(todo), step):
            part = todo[i : i + step]
            vecs = emb.encode([p for _, p in part])
            with store.transaction():
                put_vectors(store, mid, [k for k, _ in part], vecs)
            if progress:
                progress(-len(part))
        previous = active_model(store)
        with store.transaction():
            store.conn.executemany(
                "UPDATE chunks SET embed_key = ? WHERE id = ?",
                [(k, r["id"]) for k, r in zip(keys, rows, strict=True)],
            )
            store.set_meta("embedding_model", emb.name)
            store.set_meta("kb_version", str(int(store.get_meta("kb_version") or 0) + 1))
        return {"model": emb.name, "previous_model": previous, "chunks": len(rows), "embedded": len(todo)}

    def status(self) -> dict[str, Any]:
        s = self.store
        one = s.scalar
        models = [
            {"model": r["name"], "dim": r["dim"], "vectors": r["n"], "chunks": r["chunks"]}
            for r in s.query(
                "SELECT m.name, m.dim, (SELECT COUNT(*) FROM embeddings e WHERE e.model_id = m.id) AS n,"
                " (SELECT COUNT(*) FROM chunks c JOIN embeddings e ON e.key = c.embed_key AND e.model_id = m.id)"
                " AS chunks FROM embedding_models m ORDER BY m.id"
            )
        ]
        no_text = [
            {"document": r["source_path"], "page": r["page_no"]}
            for r in s.query(
                "SELECT d.source_path, p.page_no FROM pages p JOIN documents d ON d.id = p.document_id"
                " WHERE p.has_text = 0 ORDER BY d.source_path, p.page_no"
            )
        ]
        return {
            "project": str(self.dir.resolve()),
            "documents": one("SELECT COUNT(*) FROM documents"),
            "pages": one("SELECT COUNT(*) FROM pages"),
            "chunks": one("SELECT COUNT(*) FROM chunks"),
            "embedding_model": active_model(s),
            "embeddings": models,
            "pages_without_text": no_text,
            "failures": [
                {"path": r["source_path"], "error": r["error"], "at": r["failed_at"]}
                for r in s.query("SELECT * FROM ingest_failures ORDER BY source_path")
            ],
            "schema_version": s.schema_version(),
        }

    def documents(self) -> list[dict[str, Any]]:
        return [
            dict(r) | {"metadata": json.loads(r["metadata"])}
            for r in self.store.query("SELECT * FROM documents ORDER BY id")
        ]
