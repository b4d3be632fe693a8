"""Dataset operations: model calls, generation units, questions, answers, judgments, examples with their
frozen passages."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from synthtune.errors import SynthtuneError
from synthtune.store.kb import Passage
from synthtune.store.primitives import Primitives, utcnow

# ---------------------------------------------------------------------------------------------------
# Records


@dataclass(frozen=True)
class LLMCall:
    """One model call as it is logged: who asked, which model and prompt, how it went, what came back."""

    role: str  # question_writer | answerer | judge | eval_judge
    backend: str
    model: str
    prompt_sha: str
    settings: dict[str, Any]
    latency_s: float
    tokens_in: int
    tokens_out: int
    attempts: int
    outcome: str  # ok | retried | failed
    error: str | None
    raw_output: str


@dataclass(frozen=True)
class SourceChunk:
    """A chunk as question generation reads it: its text, place in the document and content hash."""

    id: int
    document_id: int
    ordinal: int
    text: str
    sha256: str
    page_start: int
    page_end: int
    title: str


@dataclass(frozen=True)
class GenerationUnit:
    """One unit of question generation (chunk x kind x attempt), keyed by everything that decides it."""

    work_key: str
    chunk_id: int
    chunk2_id: int | None
    kind: str
    attempt: int
    generator: str
    prompt_sha: str
    status: str  # ok | failed (no usable question after retries)
    n_questions: int  # questions the model wrote that passed parsing


@dataclass(frozen=True)
class NewQuestion:
    text: str
    status: str  # ok | rejected
    reject_reason: str | None = None


@dataclass(frozen=True)
class Question:
    id: int
    chunk_id: int
    chunk2_id: int | None
    text: str
    kind: str


@dataclass(frozen=True)
class NewAnswer:
    question_id: int
    text: str
    citations: list[int]
    retrieved: list[int]
    """The chunk ids shown to the answerer, in the order its ``[n]`` markers count."""
    status: str  # ok | failed
    generator: str
    prompt_sha: str


@dataclass(frozen=True)
class Candidate:
    """An ok question with its latest answer, source chunk and document: what curation judges."""

    question_id: int
    question: str
    kind: str
    chunk_id: int
    chunk2_id: int | None
    chunk_text: str
    document_id: int
    source_path: str
    title: str
    answer_id: int | None
    answer: str | None
    answer_status: str | None
    citations: list[int]
    retrieved: list[int]


@dataclass(frozen=True)
class Judgment:
    subject: str  # question | answer
    subject_id: int
    judge: str
    criterion: str  # quality | faithfulness
    score: int | None  # 1-5; None when the judge's reply did not parse
    passed: bool
    rationale: str
    prompt_sha: str


@dataclass(frozen=True)
class DocumentInfo:
    id: int
    sha256: str
    source_path: str
    title: str
    n_pages: int


@dataclass(frozen=True)
class CuratedExample:
    """One row of the curated set, as curation writes it."""

    question_id: int
    answer_id: int | None
    document_id: int
    split: str | None
    status: str  # accepted | rejected
    reasons: list[str]
    checks: dict[str, bool]
    passages: list[Passage]
    """The passages the answer was given, in the order shown: frozen, so export and training never search."""


@dataclass(frozen=True)
class Example:
    """An example with its question, answer, frozen passages and lineage (the agreed Example API)."""

    id: int
    question_id: int
    answer_id: int | None
    document_id: int
    split: str | None
    status: str
    reasons: list[str]
    checks: dict[str, bool]
    question: str
    kind: str
    answer: str | None
    citations: list[int]
    passages: list[Passage]
    title: str
    source_path: str
    updated_at: str
    question_generator: str
    question_prompt_sha: str
    answer_generator: str | None
    answer_prompt_sha: str | None
    chunk_id: int
    chunk2_id: int | None
    page_start: int
    page_end: int

    @classmethod
    def from_row(cls, r: dict[str, Any]) -> Example:
        return cls(
            **{
                **r,
                "reasons": json.loads(r["reasons"] or "[]"),
                "checks": json.loads(r["checks"] or "{}"),
                "citations": json.loads(r["citations"] or "[]"),
                "passages": [Passage.from_json(p) for p in json.loads(r["passages"] or "[]")],
            }
        )


@dataclass(frozen=True)
class UncoveredChunk:
    """A chunk generation worked on that has no accepted example."""

    chunk_id: int
    title: str
    page_start: int


@dataclass(frozen=True)
class DatasetCounts:
    """What ``synthtune status`` says about the dataset."""

    questions: int
    questions_rejected_at_parse: dict[str, int]
    answers: int
    accepted: int
    rejected: int
    splits: dict[str, int]
    rejections_by_check: dict[str, int]
    chunks_attempted: int
    uncovered: list[UncoveredChunk] = field(default_factory=list)
    generation_failures: int = 0
    llm_calls: dict[str, int] = field(default_factory=dict)


_EXAMPLE_SQL = """
SELECT e.id, e.question_id, e.answer_id, e.document_id, e.split, e.status, e.reasons, e.checks,
       q.text AS question, q.kind, a.text AS answer, COALESCE(a.citations, '[]') AS citations, e.passages,
       d.title, d.source_path, e.updated_at, q.generator AS question_generator,
       q.prompt_sha AS question_prompt_sha, a.generator AS answer_generator,
       a.prompt_sha AS answer_prompt_sha, q.chunk_id, q.chunk2_id, c.page_start, c.page_end
FROM examples e
JOIN questions q ON q.id = e.question_id
JOIN chunks c ON c.id = q.chunk_id
JOIN documents d ON d.id = e.document_id
LEFT JOIN answers a ON a.id = e.answer_id
"""


class DatasetOps(Primitives):
    # -- model calls ------------------------------------------------------------------------------

    def record_llm_call(self, call: LLMCall) -> int:
        """Log one model call; joins the caller's transaction (a unit and its calls commit together)."""
        with self.transaction():
            return self._insert(
                "INSERT INTO llm_calls(role, backend, model, prompt_sha, settings, latency_s, tokens_in,"
                " tokens_out, attempts, outcome, error, raw_output, created_at)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?) RETURNING id",
                (
                    call.role,
                    call.backend,
                    call.model,
                    call.prompt_sha,
                    json.dumps(call.settings, sort_keys=True, default=str),
                    call.latency_s,
                    call.tokens_in,
                    call.tokens_out,
                    call.attempts,
                    call.outcome,
                    call.error,
                    call.raw_output,
                    utcnow(),
                ),
            )

    def llm_calls(self, role: str) -> list[LLMCall]:
        """Every logged call of one role, oldest first."""
        rows = self._rows(
            "SELECT role, backend, model, prompt_sha, settings, latency_s, tokens_in, tokens_out, attempts,"
            " outcome, error, raw_output FROM llm_calls WHERE role = ? ORDER BY id",
            (role,),
        )
        return [LLMCall(**{**r, "settings": json.loads(r["settings"])}) for r in rows]

    def llm_call_count(self, role: str | None = None) -> int:
        if role is None:
            return int(self._scalar("SELECT COUNT(*) FROM llm_calls"))
        return int(self._scalar("SELECT COUNT(*) FROM llm_calls WHERE role = ?", (role,)))

    # -- generation -------------------------------------------------------------------------------

    def source_chunks(self, chunk_ids: list[int] | None = None) -> list[SourceChunk]:
        """Chunks with their document title, in document then reading order (all, or these ids)."""
        sql = (
            "SELECT c.id, c.document_id, c.ordinal, c.text, c.sha256, c.page_start, c.page_end, d.title"
            " FROM chunks c JOIN documents d ON d.id = c.document_id"
        )
        params: list[Any] = []
        if chunk_ids is not None:
            sql += f" WHERE c.id IN ({self._placeholders(len(chunk_ids))})"
            params = list(chunk_ids)
        return [SourceChunk(**r) for r in self._rows(sql + " ORDER BY d.id, c.ordinal", params)]

    def chunk_ids_by_document(self) -> dict[int, list[int]]:
        """Every chunk id, per document, in reading order."""
        out: dict[int, list[int]] = {}
        for cid, doc in self._iter("SELECT id, document_id FROM chunks ORDER BY document_id, ordinal"):
            out.setdefault(doc, []).append(cid)
        return out

    def done_work_keys(self) -> set[str]:
        return {r[0] for r in self._iter("SELECT work_key FROM generation_units")}

    def generation_unit_done(self, work_key: str) -> bool:
        return self._scalar("SELECT 1 FROM generation_units WHERE work_key = ?", (work_key,)) is not None

    def attempted_chunk_ids(self, min_attempt: int = 0) -> set[int]:
        """Chunks generation worked on (with an attempt number of at least ``min_attempt``)."""
        return {
            r[0]
            for r in self._iter(
                "SELECT DISTINCT chunk_id FROM generation_units WHERE attempt >= ?", (min_attempt,)
            )
        }

    def record_generation_unit(
        self, unit: GenerationUnit, calls: list[LLMCall], questions: list[NewQuestion]
    ) -> list[int] | None:
        """A finished unit with its model calls and questions, in one transaction; returns the questions'
        ids. Returns None (and writes nothing) when the unit is already done: another process finished it
        meanwhile."""
        with self.transaction():
            if self.generation_unit_done(unit.work_key):
                return None
            call_ids = [self.record_llm_call(c) for c in calls]
            call_id = call_ids[-1] if call_ids else None
            now = utcnow()
            self._execute(
                "INSERT INTO generation_units(work_key, chunk_id, kind, attempt, status, call_id, n_questions,"
                " created_at) VALUES (?,?,?,?,?,?,?,?)",
                (unit.work_key, unit.chunk_id, unit.kind, unit.attempt, unit.status, call_id, unit.n_questions,
                 now),
            )  # fmt: skip
            return [
                self._insert(
                    "INSERT INTO questions(chunk_id, chunk2_id, text, kind, status, reject_reason, generator,"
                    " prompt_sha, work_key, call_id, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?) RETURNING id",
                    (
                        unit.chunk_id,
                        unit.chunk2_id,
                        q.text,
                        unit.kind,
                        q.status,
                        q.reject_reason,
                        unit.generator,
                        unit.prompt_sha,
                        unit.work_key,
                        call_id,
                        now,
                    ),
                )  # fmt: skip
                for q in questions
            ]

    def record_fact_questions(
        self, unit: GenerationUnit, fact_id: int, qa: list[tuple[str, str]], answer_prompt_sha: str
    ) -> None:
        """Template questions made from one fact, each with its reference answer citing the unit's chunk
        (the chunk holding the fact's span), in one transaction; nothing when the unit is already done."""
        with self.transaction():
            if self.generation_unit_done(unit.work_key):
                return
            now = utcnow()
            self._execute(
                "INSERT INTO generation_units(work_key, chunk_id, kind, attempt, status, call_id, n_questions,"
                " created_at) VALUES (?,?,?,?,?,?,?,?)",
                (unit.work_key, unit.chunk_id, unit.kind, unit.attempt, unit.status, None, len(qa), now),
            )  # fmt: skip
            for question, answer in qa:
                qid = self._insert(
                    "INSERT INTO questions(chunk_id, chunk2_id, text, kind, status, reject_reason, generator,"
                    " prompt_sha, work_key, call_id, created_at, fact_id)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?) RETURNING id",
                    (unit.chunk_id, None, question, unit.kind, "ok", None, unit.generator, unit.prompt_sha,
                     unit.work_key, None, now, fact_id),
                )  # fmt: skip
                self.record_answer(
                    NewAnswer(
                        qid, answer, [unit.chunk_id], [unit.chunk_id], "ok", unit.generator, answer_prompt_sha
                    ),
                    None,
                )

    def ok_question_texts(self, chunk_id: int) -> list[str]:
        return [
            r[0]
            for r in self._iter(
                "SELECT text FROM questions WHERE chunk_id = ? AND status = 'ok'", (chunk_id,)
            )
        ]

    def questions_to_answer(
        self, generator: str, prompt_sha: str, chunk_ids: list[int] | None = None
    ) -> list[Question]:
        """Ok questions without an answer by this answerer and prompt, by id (template questions have
        their reference answer already)."""
        sql = (
            "SELECT q.id, q.chunk_id, q.chunk2_id, q.text, q.kind FROM questions q WHERE q.status = 'ok'"
            " AND q.fact_id IS NULL"
            " AND NOT EXISTS (SELECT 1 FROM answers a WHERE a.question_id = q.id AND a.generator = ?"
            " AND a.prompt_sha = ?)"
        )
        params: list[Any] = [generator, prompt_sha]
        if chunk_ids is not None:
            sql += f" AND q.chunk_id IN ({self._placeholders(len(chunk_ids))})"
            params += chunk_ids
        return [Question(**r) for r in self._rows(sql + " ORDER BY q.id", params)]

    def record_answer(self, answer: NewAnswer, call: LLMCall | None) -> None:
        """An answer with the model call that wrote it (None: not written by a model), in one transaction;
        a second answer to the same question by the same answerer and prompt is ignored."""
        with self.transaction():
            call_id = self.record_llm_call(call) if call is not None else None
            self._execute(
                "INSERT INTO answers(question_id, text, citations, retrieved, status, generator, prompt_sha,"
                " call_id, created_at) VALUES (?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT(question_id, generator, prompt_sha) DO NOTHING",
                (
                    answer.question_id,
                    answer.text,
                    json.dumps(answer.citations),
                    json.dumps(answer.retrieved),
                    answer.status,
                    answer.generator,
                    answer.prompt_sha,
                    call_id,
                    utcnow(),
                ),
            )

    # -- curation ---------------------------------------------------------------------------------

    def candidates(self) -> list[Candidate]:
        """Every ok question with its latest answer, source chunk and document, by question id."""
        rows = self._rows(
            """
            SELECT q.id AS question_id, q.text AS question, q.kind, q.chunk_id, q.chunk2_id,
                   c.text AS chunk_text, c.document_id, d.source_path, d.title,
                   a.id AS answer_id, a.text AS answer, a.status AS answer_status,
                   COALESCE(a.citations, '[]') AS citations, COALESCE(a.retrieved, '[]') AS retrieved
            FROM questions q
            JOIN chunks c ON c.id = q.chunk_id
            JOIN documents d ON d.id = c.document_id
            LEFT JOIN answers a ON a.id = (SELECT MAX(id) FROM answers WHERE question_id = q.id)
            WHERE q.status = 'ok'
            ORDER BY q.id
            """
        )
        return [
            Candidate(
                **{**r, "citations": json.loads(r["citations"]), "retrieved": json.loads(r["retrieved"])}
            )
            for r in rows
        ]

    def documents_info(self, ids: Iterable[int]) -> list[DocumentInfo]:
        """These documents' identity (sha256, path, title, pages), by id."""
        ids = sorted(set(ids))
        if not ids:
            return []
        return [
            DocumentInfo(**r)
            for r in self._rows(
                "SELECT id, sha256, source_path, title, n_pages FROM documents"
                f" WHERE id IN ({self._placeholders(len(ids))}) ORDER BY id",
                ids,
            )
        ]

    def judgment_scores(self, judge: str, prompt_shas: list[str]) -> dict[tuple[str, int], int | None]:
        """Cached judgments by this judge and prompts: score by (criterion, subject id)."""
        return {
            (r["criterion"], r["subject_id"]): r["score"]
            for r in self._rows(
                "SELECT criterion, subject_id, score FROM judgments"
                f" WHERE judge = ? AND prompt_sha IN ({self._placeholders(len(prompt_shas))})",
                [judge, *prompt_shas],
            )
        }

    def record_judgments(self, judged: list[tuple[Judgment, LLMCall]]) -> None:
        """Judgments with their model calls, in one transaction; a judgment replaces the one it repeats
        (same subject, judge, criterion and prompt)."""
        with self.transaction():
            for j, call in judged:
                call_id = self.record_llm_call(call)
                self._execute(
                    "INSERT INTO judgments(subject, subject_id, judge, criterion, score, passed, rationale,"
                    " prompt_sha, call_id, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)"
                    " ON CONFLICT(subject, subject_id, judge, criterion, prompt_sha) DO UPDATE SET"
                    " score = excluded.score, passed = excluded.passed, rationale = excluded.rationale,"
                    " call_id = excluded.call_id, created_at = excluded.created_at",
                    (j.subject, j.subject_id, j.judge, j.criterion, j.score, int(j.passed), j.rationale,
                     j.prompt_sha, call_id, utcnow()),
                )  # fmt: skip

    def judgments(self, question_id: int | None = None, answer_id: int | None = None) -> list[Judgment]:
        """Judgments of a question and of an answer (every judgment when neither is given), by criterion."""
        sql = "SELECT subject, subject_id, judge, criterion, score, passed, rationale, prompt_sha FROM judgments"
        params: list[Any] = []
        if question_id is not None or answer_id is not None:
            sql += (
                " WHERE (subject = 'question' AND subject_id = ?) OR (subject = 'answer' AND subject_id = ?)"
            )
            params = [question_id, answer_id]
        rows = self._rows(sql + " ORDER BY criterion, id", params)
        return [Judgment(**{**r, "passed": bool(r["passed"])}) for r in rows]

    def judges(self) -> list[str]:
        return [r[0] for r in self._iter("SELECT DISTINCT judge FROM judgments ORDER BY judge")]

    # -- examples ---------------------------------------------------------------------------------

    def write_examples(self, examples: list[CuratedExample]) -> None:
        """Replace the curated set with these rows (one per question), in one transaction."""
        now = utcnow()
        keep = [e.question_id for e in examples]
        with self.transaction():
            if keep:
                self._execute(
                    f"DELETE FROM examples WHERE question_id NOT IN ({self._placeholders(len(keep))})", keep
                )
            else:
                self._execute("DELETE FROM examples")
            self._executemany(
                "INSERT INTO examples(question_id, answer_id, document_id, split, status, reasons, checks, passages,"
                " updated_at) VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT(question_id) DO UPDATE SET"
                " answer_id = excluded.answer_id, document_id = excluded.document_id, split = excluded.split,"
                " status = excluded.status, reasons = excluded.reasons, checks = excluded.checks,"
                " passages = excluded.passages, updated_at = excluded.updated_at",
                [
                    (
                        e.question_id,
                        e.answer_id,
                        e.document_id,
                        e.split,
                        e.status,
                        json.dumps(e.reasons),
                        json.dumps(e.checks, sort_keys=True),
                        json.dumps([p.to_json() for p in e.passages]),
                        now,
                    )
                    for e in examples
                ],  # fmt: skip
            )

    def examples(
        self, status: str | None = None, split: str | None = None, document_id: int | None = None
    ) -> list[Example]:
        """Examples matching every filter given, by id."""
        where, params = [], []
        for column, value in (("e.status", status), ("e.split", split), ("e.document_id", document_id)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        sql = _EXAMPLE_SQL + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY e.id"
        return [Example.from_row(r) for r in self._rows(sql, params)]

    def example(self, example_id: int) -> Example:
        row = self._one(_EXAMPLE_SQL + " WHERE e.id = ?", (example_id,))
        if row is None:
            raise SynthtuneError(f"no example {example_id} (see `synthtune examples list`)")
        return Example.from_row(row)

    def dataset_counts(self) -> DatasetCounts:
        one = self._scalar
        by_check: dict[str, int] = {}
        for (reasons,) in self._iter("SELECT reasons FROM examples WHERE status = 'rejected' ORDER BY id"):
            for r in json.loads(reasons):
                by_check[r] = by_check.get(r, 0) + 1
        uncovered = [
            UncoveredChunk(**r)
            for r in self._rows(
                "SELECT c.id AS chunk_id, d.title, c.page_start FROM chunks c JOIN documents d ON d.id = c.document_id"
                " WHERE c.id IN (SELECT chunk_id FROM generation_units) AND NOT EXISTS (SELECT 1 FROM examples e"
                " JOIN questions q ON q.id = e.question_id WHERE q.chunk_id = c.id AND e.status = 'accepted')"
                " ORDER BY c.id"
            )
        ]

        def grouped(sql: str) -> dict[Any, int]:
            return {r[0]: r[1] for r in self._iter(sql)}

        return DatasetCounts(
            questions=one("SELECT COUNT(*) FROM questions WHERE status = 'ok'"),
            questions_rejected_at_parse=grouped(
                "SELECT reject_reason, COUNT(*) FROM questions WHERE status = 'rejected' GROUP BY reject_reason"
            ),
            answers=one("SELECT COUNT(*) FROM answers WHERE status = 'ok'"),
            accepted=one("SELECT COUNT(*) FROM examples WHERE status = 'accepted'"),
            rejected=one("SELECT COUNT(*) FROM examples WHERE status = 'rejected'"),
            splits=grouped("SELECT split, COUNT(*) FROM examples WHERE status = 'accepted' GROUP BY split"),
            rejections_by_check=by_check,
            chunks_attempted=one("SELECT COUNT(DISTINCT chunk_id) FROM generation_units"),
            uncovered=uncovered,
            generation_failures=one("SELECT COUNT(*) FROM generation_units WHERE status = 'failed'"),
            llm_calls=grouped("SELECT outcome, COUNT(*) FROM llm_calls GROUP BY outcome"),
        )
