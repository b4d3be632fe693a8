"""Stage runs and what the later stages leave behind: exports, trainings, merges, evaluations."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from synthtune.store.primitives import Primitives, utcnow


@dataclass(frozen=True)
class Run:
    id: int
    stage: str
    settings_sha: str
    inputs_sha: str | None
    started_at: str
    finished_at: str | None
    status: str  # running | ok | failed
    counters: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @classmethod
    def from_row(cls, r: dict[str, Any]) -> Run:
        return cls(**{**r, "counters": json.loads(r["counters"] or "{}")})


@dataclass(frozen=True)
class Export:
    id: int
    format: str
    path: str
    sha256: str
    n_rows: int
    created_at: str


@dataclass(frozen=True)
class Training:
    id: int
    base_model: str
    adapter_path: str
    data_sha: str
    settings: dict[str, Any]
    metrics: dict[str, Any]
    status: str
    created_at: str

    @classmethod
    def from_row(cls, r: dict[str, Any]) -> Training:
        return cls(**{**r, "settings": json.loads(r["settings"]), "metrics": json.loads(r["metrics"])})


@dataclass(frozen=True)
class Merge:
    id: int
    training_id: int | None
    adapter_path: str
    merged_path: str
    created_at: str


@dataclass(frozen=True)
class Evaluation:
    id: int
    systems: list[dict[str, Any]]
    metrics: dict[str, Any]
    dataset: dict[str, Any]
    report_path: str
    created_at: str

    @classmethod
    def from_row(cls, r: dict[str, Any]) -> Evaluation:
        return cls(
            **{**r, **{k: json.loads(r[k]) for k in ("systems", "metrics", "dataset")}},
        )


class RunOps(Primitives):
    # -- runs -------------------------------------------------------------------------------------

    def start_run(self, stage: str, settings_sha: str, inputs_sha: str | None = None) -> int:
        with self.transaction():
            return self._insert(
                "INSERT INTO runs(stage, settings_sha, inputs_sha, started_at) VALUES (?, ?, ?, ?) RETURNING id",
                (stage, settings_sha, inputs_sha, utcnow()),
            )

    def finish_run(
        self, run_id: int, counters: dict[str, Any], error: str | None = None, inputs_sha: str | None = None
    ) -> None:
        """Mark a run ok (or failed, with ``error``); ``inputs_sha``, when given, replaces the inputs hash
        recorded at the start (a stage that adds to its own inputs records what it left behind)."""
        with self.transaction():
            self._execute(
                "UPDATE runs SET finished_at = ?, status = ?, counters = ?, error = ?,"
                " inputs_sha = COALESCE(?, inputs_sha) WHERE id = ?",
                (
                    utcnow(),
                    "failed" if error else "ok",
                    json.dumps(counters, sort_keys=True, default=str),
                    error,
                    inputs_sha,
                    run_id,
                ),
            )

    def latest_run(self, stage: str, status: str | None = None) -> Run | None:
        """The newest run of ``stage`` (with ``status``, when given)."""
        sql = "SELECT * FROM runs WHERE stage = ?" + (" AND status = ?" if status else "")
        row = self._one(sql + " ORDER BY id DESC LIMIT 1", (stage, status) if status else (stage,))
        return Run.from_row(row) if row else None

    # -- exports ----------------------------------------------------------------------------------

    def record_export(self, fmt: str, path: str, sha256: str, n_rows: int) -> int:
        """One row in ``exports`` (format, folder, sha256 of its manifest, rows)."""
        with self.transaction():
            return self._insert(
                "INSERT INTO exports(format, path, sha256, n_rows, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id",
                (fmt, path, sha256, n_rows, utcnow()),
            )

    def latest_export(self) -> Export | None:
        row = self._one("SELECT * FROM exports ORDER BY id DESC LIMIT 1")
        return Export(**row) if row else None

    # -- trainings and merges ---------------------------------------------------------------------

    def record_training(
        self, base_model: str, adapter_path: str, data_sha: str, settings_json: str, metrics: dict[str, Any]
    ) -> int:
        with self.transaction():
            return self._insert(
                "INSERT INTO trainings(base_model, adapter_path, data_sha, settings, metrics, status, created_at)"
                " VALUES (?, ?, ?, ?, ?, 'ok', ?) RETURNING id",
                (
                    base_model,
                    adapter_path,
                    data_sha,
                    settings_json,
                    json.dumps(metrics, default=str),
                    utcnow(),
                ),
            )

    def latest_training(self, adapter_path: str | None = None) -> Training | None:
        """The newest finished training (of ``adapter_path``, when given)."""
        if adapter_path is None:
            row = self._one("SELECT * FROM trainings WHERE status = 'ok' ORDER BY id DESC LIMIT 1")
        else:
            row = self._one(
                "SELECT * FROM trainings WHERE adapter_path = ? ORDER BY id DESC LIMIT 1", (adapter_path,)
            )
        return Training.from_row(row) if row else None

    def record_merge(self, training_id: int | None, adapter_path: str, merged_path: str) -> int:
        with self.transaction():
            return self._insert(
                "INSERT INTO merges(training_id, adapter_path, merged_path, created_at) VALUES (?, ?, ?, ?)"
                " RETURNING id",
                (training_id, adapter_path, merged_path, utcnow()),
            )

    def latest_merge(self) -> Merge | None:
        row = self._one("SELECT * FROM merges ORDER BY id DESC LIMIT 1")
        return Merge(**row) if row else None

    # -- evaluations ------------------------------------------------------------------------------

    def record_evaluation(
        self,
        systems: list[dict[str, Any]],
        metrics: dict[str, Any],
        dataset: dict[str, Any],
        report_path: str,
        created_at: str,
    ) -> int:
        with self.transaction():
            return self._insert(
                "INSERT INTO evaluations(systems, metrics, dataset, report_path, created_at)"
                " VALUES (?, ?, ?, ?, ?) RETURNING id",
                (json.dumps(systems), json.dumps(metrics), json.dumps(dataset), report_path, created_at),
            )

    def latest_evaluation(self) -> Evaluation | None:
        row = self._one("SELECT * FROM evaluations ORDER BY id DESC LIMIT 1")
        return Evaluation.from_row(row) if row else None
