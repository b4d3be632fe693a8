"""Model files written for other runtimes (GGUF for llama.cpp, Ollama, LM Studio): what was written, from
which model and training, and the file's sha256."""

from __future__ import annotations

from dataclasses import dataclass

from synthtune.store.primitives import Primitives, utcnow


@dataclass(frozen=True)
class ModelExport:
    id: int
    format: str
    quant: str
    path: str
    sha256: str
    size_bytes: int
    source_model: str
    training_id: int | None
    created_at: str


class ModelExportOps(Primitives):
    def record_model_export(
        self,
        fmt: str,
        quant: str,
        path: str,
        sha256: str,
        size_bytes: int,
        source_model: str,
        training_id: int | None = None,
    ) -> int:
        """One row in ``model_exports``; returns its id."""
        with self.transaction():
            return self._insert(
                "INSERT INTO model_exports(format, quant, path, sha256, size_bytes, source_model, training_id,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (fmt, quant, path, sha256, size_bytes, source_model, training_id, utcnow()),
            )

    def latest_model_export(self, fmt: str | None = None) -> ModelExport | None:
        """The newest model export (of format ``fmt``, when given)."""
        if fmt is None:
            row = self._one("SELECT * FROM model_exports ORDER BY id DESC LIMIT 1")
        else:
            row = self._one("SELECT * FROM model_exports WHERE format = ? ORDER BY id DESC LIMIT 1", (fmt,))
        return ModelExport(**row) if row else None
