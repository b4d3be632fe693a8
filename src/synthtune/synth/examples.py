"""Looking at the dataset: examples with their lineage (document, page, chunk, models, prompt, checks)."""

from __future__ import annotations

import json
from typing import Any

from synthtune.errors import SynthtuneError
from synthtune.store import Store

_SELECT = """
SELECT e.id, q.text AS question, a.text AS answer, e.split, e.status, c.document_id, d.title,
       d.source_path, c.page_start, c.page_end, q.chunk_id, q.chunk2_id, q.kind,
       q.generator AS question_generator, a.generator AS answer_generator, q.prompt_sha,
       a.prompt_sha AS answer_prompt_sha, a.citations, e.reasons, e.checks, q.id AS question_id,
       a.id AS answer_id
FROM examples e
JOIN questions q ON q.id = e.question_id
JOIN chunks c ON c.id = q.chunk_id
JOIN documents d ON d.id = c.document_id
LEFT JOIN answers a ON a.id = e.answer_id
"""


def _row(store: Store, r: Any) -> dict[str, Any]:
    out = dict(r)
    for key in ("citations", "reasons", "checks"):
        out[key] = json.loads(out[key]) if out[key] else ([] if key != "checks" else {})
    out["judgments"] = [
        dict(j)
        for j in store.query(
            "SELECT criterion, score, passed, rationale, judge FROM judgments WHERE"
            " (subject = 'question' AND subject_id = ?) OR (subject = 'answer' AND subject_id = ?)",
            (out["question_id"], out["answer_id"]),
        )
    ]
    return out


def list_examples(
    store: Store, split: str | None = None, status: str | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    if split is not None and split not in ("train", "val", "test"):
        raise SynthtuneError(f"unknown split '{split}': use train, val or test")
    if status is not None and status not in ("accepted", "rejected"):
        raise SynthtuneError(f"unknown status '{status}': use accepted or rejected")
    where, params = [], []
    if split:
        where.append("e.split = ?")
        params.append(split)
    if status:
        where.append("e.status = ?")
        params.append(status)
    sql = _SELECT + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY e.id"
    if limit:
        sql += f" LIMIT {int(limit)}"
    return [_row(store, r) for r in store.query(sql, params)]


def get_example(store: Store, example_id: int) -> dict[str, Any]:
    rows = store.query(_SELECT + " WHERE e.id = ?", (example_id,))
    if not rows:
        raise SynthtuneError(f"no example with id {example_id} (see `synthtune examples list`)")
    out = _row(store, rows[0])
    ids = [out["chunk_id"], *out["citations"]]
    out["passages"] = [
        dict(p)
        for p in store.query(
            f"SELECT c.id AS chunk_id, d.title, c.page_start, c.page_end, c.char_start, c.char_end, c.text"
            f" FROM chunks c JOIN documents d ON d.id = c.document_id WHERE c.id IN ({','.join('?' * len(ids))})",
            ids,
        )
    ]
    return out


def dataset_status(store: Store) -> dict[str, Any]:
    """Counts per stage, acceptance per check, coverage and failures for `synthtune status`."""
    one = store.scalar
    by_check: dict[str, int] = {}
    for (reasons,) in store.execute("SELECT reasons FROM examples WHERE status = 'rejected'"):
        for r in json.loads(reasons):
            by_check[r] = by_check.get(r, 0) + 1
    examples_total = one("SELECT COUNT(*) FROM examples") or 0
    attempted = one("SELECT COUNT(DISTINCT chunk_id) FROM generation_units") or 0
    uncovered = [
        dict(r)
        for r in store.query(
            "SELECT c.id AS chunk_id, d.title, c.page_start FROM chunks c JOIN documents d ON d.id = c.document_id"
            " WHERE c.id IN (SELECT chunk_id FROM generation_units) AND NOT EXISTS (SELECT 1 FROM examples e"
            " JOIN questions q ON q.id = e.question_id WHERE q.chunk_id = c.id AND e.status = 'accepted')"
            " ORDER BY c.id"
        )
    ]
    return {
        "questions": one("SELECT COUNT(*) FROM questions WHERE status = 'ok'"),
        "questions_rejected_at_parse": dict(
            store.query(
                "SELECT reject_reason, COUNT(*) FROM questions WHERE status = 'rejected' GROUP BY reject_reason"
            )
        ),
        "answers": one("SELECT COUNT(*) FROM answers WHERE status = 'ok'"),
        "examples": {
            "accepted": one("SELECT COUNT(*) FROM examples WHERE status = 'accepted'"),
            "rejected": one("SELECT COUNT(*) FROM examples WHERE status = 'rejected'"),
            "splits": dict(
                store.query("SELECT split, COUNT(*) FROM examples WHERE status = 'accepted' GROUP BY split")
            ),
        },
        "rejection_rate_by_check": {k: round(v / examples_total, 4) for k, v in sorted(by_check.items())}
        if examples_total
        else {},
        "coverage": {
            "chunks_attempted": attempted,
            "chunks_uncovered": len(uncovered),
            "uncovered": uncovered,
        },
        "generation_failures": one("SELECT COUNT(*) FROM generation_units WHERE status = 'failed'"),
        "llm_calls": dict(store.query("SELECT outcome, COUNT(*) FROM llm_calls GROUP BY outcome")),
    }
