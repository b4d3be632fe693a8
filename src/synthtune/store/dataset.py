"""Dataset operations: model calls, generation units, questions, answers, judgments, examples with their
frozen passages. (Being filled in: see docs/architecture.md.)"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from synthtune.store.kb import Passage
from synthtune.store.primitives import Primitives


# TEMP: replaced by the data branch's Example (store/dataset.py) at merge
@dataclass(frozen=True)
class Example:
    id: int
    question_id: int
    answer_id: int | None
    document_id: int
    split: str | None
    status: str
    question: str
    kind: str
    answer: str | None
    title: str
    source_path: str
    citations: list[int] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)


class DatasetOps(Primitives):
    # TEMP: replaced by the data branch's DatasetOps.examples at merge (passages frozen at curate there;
    # here they are the passages the answer was shown, read from the knowledge base)
    def examples(self, status: str | None = None, split: str | None = None) -> list[Example]:
        where = " AND ".join(
            c for c, v in (("e.status = ?", status), ("e.split = ?", split)) if v is not None
        )
        rows = self._rows(
            "SELECT e.id, e.question_id, e.answer_id, e.document_id, e.split, e.status, q.text AS question,"
            " q.kind, a.text AS answer, d.title, d.source_path, a.citations, a.retrieved FROM examples e"
            " JOIN questions q ON q.id = e.question_id JOIN documents d ON d.id = e.document_id"
            " LEFT JOIN answers a ON a.id = e.answer_id"
            + (f" WHERE {where}" if where else "")
            + " ORDER BY e.id",
            [v for v in (status, split) if v is not None],
        )
        out = []
        for r in rows:
            citations = json.loads(r.pop("citations") or "[]")
            shown: list[Any] = json.loads(r.pop("retrieved") or "[]")
            out.append(Example(**r, citations=citations, passages=self.passages(shown)))  # type: ignore[attr-defined]
        return out
