"""Fact operations: each document's identity (subject, period, form) and its facts (metric, period, value,
unit, scale, exact place), written together per document so a document never has half its facts.

Records hold plain values (the period as a JSON-able dict); ``synth/facts_stage.py`` turns them into the
``synth.facts`` objects the question templates and the answer checks use.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from synthtune.errors import SynthtuneError
from synthtune.store.primitives import Primitives, utcnow


@dataclass(frozen=True)
class DocumentIdentity:
    """Whom and which period a document is about; None where it was not found (see ``reasons``)."""

    document_id: int
    subject: str | None
    ticker: str | None
    form: str | None
    period: dict[str, Any] | None  # Period fields (end as ISO date)
    reasons: list[str]
    overridden: bool  # subject/period set by the user in settings `documents:`
    extractor: str  # sha256 of the extractor version and the override: re-derived when it changes


@dataclass(frozen=True)
class StoredFact:
    """A fact as stored. ``id`` is 0 until written."""

    document_id: int
    subject: str | None
    metric: str
    period: dict[str, Any] | None
    value: str  # decimal text, signed
    unit: str
    scale: str  # decimal text
    raw: str
    page_no: int
    char_start: int | None
    char_end: int | None
    table_cell: list[int] | None
    source: str  # table | prose
    problems: list[str] = field(default_factory=list)
    value_high: str | None = None  # the upper end of a range (guidance), decimal text
    id: int = 0

    @classmethod
    def from_row(cls, r: dict[str, Any]) -> StoredFact:
        return cls(
            **{
                **r,
                "period": json.loads(r["period"]) if r["period"] else None,
                "table_cell": json.loads(r["table_cell"]) if r["table_cell"] else None,
                "problems": json.loads(r["problems"]),
            }
        )

    @property
    def period_text(self) -> str | None:
        return self.period.get("text") if self.period else None


@dataclass(frozen=True)
class FactsStatus:
    """What ``status`` says about facts: documents without identity, facts with problems."""

    documents: int
    documents_with_facts: int
    documents_without_subject: list[str]
    documents_without_period: list[str]
    facts: int
    facts_with_problems: int
    problems: dict[str, int]


_FACT_COLUMNS = (
    "document_id, subject, metric, period, value, unit, scale, raw, page_no, char_start, char_end,"
    " table_cell, source, problems, value_high"
)


class FactOps(Primitives):
    # -- writing ----------------------------------------------------------------------------------

    def drop_stale_fact_questions(self, keep: set[str]) -> int:
        """Remove the template questions (with their units, answers and examples) whose unit is not in
        ``keep``, the units that the current templates and settings make: after an upgrade changes the
        templates, or ``phrasings_per_fact`` / ``max_facts_per_document`` change, each fact is asked as
        the settings now say, not also as they said before."""
        with self.transaction():
            stale = [
                r["work_key"]
                for r in self._rows("SELECT DISTINCT work_key FROM questions WHERE fact_id IS NOT NULL")
                if r["work_key"] not in keep
            ]
            if not stale:
                return 0
            self._executemany("DELETE FROM questions WHERE work_key = ?", [(k,) for k in stale])
            self._executemany("DELETE FROM generation_units WHERE work_key = ?", [(k,) for k in stale])
            return len(stale)

    def write_facts(self, identity: DocumentIdentity, facts: list[StoredFact]) -> None:
        """A document's identity and facts, replacing what it had, in one transaction (questions made from
        the replaced facts go with them)."""
        with self.transaction():
            # the template units of the old facts go too, so a fact that comes back unchanged is asked again
            self._execute(
                "DELETE FROM generation_units WHERE work_key IN (SELECT q.work_key FROM questions q"
                " JOIN facts f ON f.id = q.fact_id WHERE f.document_id = ?)",
                (identity.document_id,),
            )
            self._execute("DELETE FROM facts WHERE document_id = ?", (identity.document_id,))
            self._execute(
                "INSERT INTO document_identities(document_id, subject, ticker, form, period, reasons, overridden,"
                " extractor, created_at) VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT(document_id) DO UPDATE SET"
                " subject = excluded.subject, ticker = excluded.ticker, form = excluded.form,"
                " period = excluded.period, reasons = excluded.reasons, overridden = excluded.overridden,"
                " extractor = excluded.extractor, created_at = excluded.created_at",
                (identity.document_id, identity.subject, identity.ticker, identity.form,
                 json.dumps(identity.period) if identity.period else None, json.dumps(identity.reasons),
                 int(identity.overridden), identity.extractor, utcnow()),
            )  # fmt: skip
            self._executemany(
                f"INSERT INTO facts({_FACT_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [
                    (identity.document_id, f.subject, f.metric, json.dumps(f.period) if f.period else None,
                     f.value, f.unit, f.scale, f.raw, f.page_no, f.char_start, f.char_end,
                     json.dumps(f.table_cell) if f.table_cell is not None else None, f.source,
                     json.dumps(f.problems), f.value_high)
                    for f in facts
                ],
            )  # fmt: skip

    # -- reading ----------------------------------------------------------------------------------

    def fact_extractors(self) -> dict[int, str]:
        """The extractor sha each document's facts were made with, by document id."""
        return {r[0]: r[1] for r in self._iter("SELECT document_id, extractor FROM document_identities")}

    def document_identities(self) -> dict[int, DocumentIdentity]:
        return {
            r["document_id"]: _identity(r)
            for r in self._rows("SELECT * FROM document_identities ORDER BY document_id")
        }

    def document_identity(self, document_id: int) -> DocumentIdentity | None:
        row = self._one("SELECT * FROM document_identities WHERE document_id = ?", (document_id,))
        return _identity(row) if row else None

    def facts(self, document_id: int | None = None, usable: bool | None = None) -> list[StoredFact]:
        """Facts by id; of one document, and only those without problems (``usable=True``) or with."""
        where, params = [], []
        if document_id is not None:
            where.append("document_id = ?")
            params.append(document_id)
        if usable is not None:
            where.append("problems = '[]'" if usable else "problems <> '[]'")
        sql = f"SELECT id, {_FACT_COLUMNS} FROM facts" + (" WHERE " + " AND ".join(where) if where else "")
        return [StoredFact.from_row(r) for r in self._rows(sql + " ORDER BY id", params)]

    def fact(self, fact_id: int) -> StoredFact:
        row = self._one(f"SELECT id, {_FACT_COLUMNS} FROM facts WHERE id = ?", (fact_id,))
        if row is None:
            raise SynthtuneError(f"no fact {fact_id} (see `synthtune facts list`)")
        return StoredFact.from_row(row)

    def question_facts(self, question_ids: list[int]) -> dict[int, int]:
        """The fact each of these questions was made from (template questions only), by question id."""
        if not question_ids:
            return {}
        return {
            r[0]: r[1]
            for r in self._iter(
                "SELECT id, fact_id FROM questions WHERE fact_id IS NOT NULL"
                f" AND id IN ({self._placeholders(len(question_ids))})",
                question_ids,
            )
        }

    def facts_status(self) -> FactsStatus:
        """Documents without a subject or period, and facts with problems by reason."""
        problems: dict[str, int] = {}
        with_problems = 0
        for (text,) in self._iter("SELECT problems FROM facts WHERE problems <> '[]'"):
            with_problems += 1
            for p in json.loads(text):
                problems[p] = problems.get(p, 0) + 1

        def missing(column: str) -> list[str]:
            return [
                r[0]
                for r in self._iter(
                    "SELECT d.source_path FROM documents d JOIN document_identities i ON i.document_id = d.id"
                    f" WHERE i.{column} IS NULL ORDER BY d.id"
                )
            ]

        return FactsStatus(
            documents=int(self._scalar("SELECT COUNT(*) FROM documents")),
            documents_with_facts=int(self._scalar("SELECT COUNT(DISTINCT document_id) FROM facts")),
            documents_without_subject=missing("subject"),
            documents_without_period=missing("period"),
            facts=int(self._scalar("SELECT COUNT(*) FROM facts")),
            facts_with_problems=with_problems,
            problems=dict(sorted(problems.items(), key=lambda kv: -kv[1])),
        )


def _identity(r: dict[str, Any]) -> DocumentIdentity:
    return DocumentIdentity(
        document_id=r["document_id"],
        subject=r["subject"],
        ticker=r["ticker"],
        form=r["form"],
        period=json.loads(r["period"]) if r["period"] else None,
        reasons=json.loads(r["reasons"]),
        overridden=bool(r["overridden"]),
        extractor=r["extractor"],
    )
