"""``synthtune generate``: questions per chunk, then retrieval-augmented answers with citations.

Work is planned as units (chunk x kind x attempt), each keyed by the sha256 of everything that
decides its output (chunk text, kind, attempt, model, decoding settings, prompt). A unit is committed in
one transaction with its questions and its model calls, so a re-run skips finished units and ``kill -9``
at any moment loses at most the batch in flight, never duplicates it.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from synthtune.llm.base import Backend, ChatRequest, Completion
from synthtune.llm.calls import llm_call
from synthtune.llm.prompts import Prompt, load_prompt
from synthtune.project import Project
from synthtune.search import Searcher
from synthtune.stages import Stage
from synthtune.store import GenerationUnit, NewAnswer, NewQuestion
from synthtune.store.dataset import Question, SourceChunk
from synthtune.synth.fact_questions import TEMPLATE_SHA, generate_fact_questions
from synthtune.synth.facts_stage import extract_facts
from synthtune.synth.parsing import normalise_question, parse_answer, parse_questions
from synthtune.synth.splits import document_splits
from synthtune.text.citations import cite
from synthtune.text.identity import short_name
from synthtune.text.periods import period_from_json

KINDS = ("factual", "numeric", "reasoning", "unanswerable")
ROUND = 2  # backend batches per round trip; each round commits what it finished

Progress = Callable[[str, int | None, int], None]  # (phase, total or None, advance)


@dataclass
class GenerateReport:
    questions_added: int = 0
    answers_added: int = 0
    fact_questions: int = 0
    failed: int = 0
    rejected_questions: int = 0
    units_done: int = 0
    units_skipped: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Unit:
    chunk: SourceChunk
    kind: str
    n: int  # questions asked for
    attempt: int
    chunk2: SourceChunk | None = None
    work_key: str = ""


def _sha(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _subject(title: str) -> str:
    """Who a question should be about: the document title without report boilerplate."""
    return re.split(r"\s+(?:reports?|announces?|—|-|:)\s+", title, maxsplit=1)[0].strip() or title


class Generator:
    """Question and answer generation over one project (backends load on first use)."""

    def __init__(
        self, project: Project, question_backend: Backend | None = None, answer_backend: Backend | None = None
    ):
        self.project = project
        self.store = project.store
        self.settings = project.settings
        g = self.settings.generate
        self.prompts = {
            n: load_prompt(n, g.prompts, project.dir)
            for n in (
                "question_factual",
                "question_numeric",
                "question_reasoning",
                "question_unanswerable",
                "answer",
            )
        }
        self._qb = question_backend
        self._ab = answer_backend
        self._searcher: Searcher | None = None
        self._splits: dict[int, str] | None = None
        self._identities: dict[int, Any] | None = None

    @property
    def question_backend(self) -> Backend:
        if self._qb is None:
            self._qb = self.project.backend(self.settings.llm.question_writer)
        return self._qb

    @property
    def answer_backend(self) -> Backend:
        if self._ab is None:
            if self.settings.llm.answerer == self.settings.llm.question_writer and self._qb is not None:
                self._ab = self._qb
            else:
                self._ab = self.project.backend(self.settings.llm.answerer)
        return self._ab

    # -- planning -----------------------------------------------------------------------------------

    def chunks(self, limit: int | None = None, chunk_ids: list[int] | None = None) -> list[SourceChunk]:
        rows = self.store.source_chunks(chunk_ids)
        per_doc = self.settings.generate.max_chunks_per_document
        if per_doc and chunk_ids is None:
            rows = spread_per_document(rows, per_doc)
        return rows[:limit] if limit else rows

    def plan(self, chunks: list[SourceChunk], attempt: int) -> list[Unit]:
        """One unit per (chunk, kind): the chunk's question slots are spread over the kinds (seeded),
        and each unit asks for its share in one call; small models write real questions far more
        often when asked for a short list than for a single one."""
        g = self.settings.generate
        qw = self.settings.llm.question_writer
        kinds = [k for k in KINDS if g.kinds.get(k, 0) > 0]
        weights = [g.kinds[k] for k in kinds]
        by_doc: dict[int, list[SourceChunk]] = {}
        for c in self.chunks():
            by_doc.setdefault(c.document_id, []).append(c)
        units = []
        for c in chunks:
            rng = random.Random(f"{g.seed}:{c.sha256}:{attempt}")
            siblings = [s for s in by_doc.get(c.document_id, []) if s.id != c.id]
            counts: dict[str, int] = {}
            for _ in range(g.questions_per_chunk):
                kind = rng.choices(kinds, weights)[0]
                if kind == "reasoning" and not siblings:
                    kind = "factual"
                counts[kind] = counts.get(kind, 0) + 1
            for kind in KINDS:
                if kind not in counts:
                    continue
                chunk2 = None
                if kind == "reasoning":
                    near = [s for s in siblings if abs(s.ordinal - c.ordinal) <= 2] or siblings
                    chunk2 = rng.choice(near)
                prompt = self.prompts[f"question_{kind}"]
                key = _sha(
                    "q",
                    c.sha256,
                    chunk2.sha256 if chunk2 else None,
                    kind,
                    counts[kind],
                    attempt,
                    qw.model_dump(mode="json"),
                    prompt.sha,
                )
                units.append(Unit(c, kind, counts[kind], attempt, chunk2, key))
        return units

    # -- questions ----------------------------------------------------------------------------------

    def _identity(self, document_id: int) -> tuple[str | None, str | None, str | None]:
        """(subject's short name, period label, form) of a document, from the facts stage; None where not
        found."""
        if self._identities is None:
            self._identities = self.store.document_identities()
        i = self._identities.get(document_id)
        if i is None:
            return None, None, None
        period = period_from_json(i.period)
        return (short_name(i.subject) if i.subject else None, period.label if period else None, i.form)

    def _question_messages(self, u: Unit) -> list[dict]:
        subject, period, form = self._identity(u.chunk.document_id)
        subject = subject or _subject(u.chunk.title)
        # what the text is, for the question writer: "Acme Robotics, earnings call transcript, Q3 FY2025"
        about = ", ".join(x for x in (subject, form, period) if x) or u.chunk.title
        return self.prompts[f"question_{u.kind}"].messages(
            title=u.chunk.title,
            about=about,
            text=u.chunk.text,
            text2=u.chunk2.text if u.chunk2 else "",
            subject=subject,
            period=period or "",
            kind=u.kind,
            n=u.n,
        )

    def _question_request(self, u: Unit, retry: int) -> ChatRequest:
        """The first try decodes as configured; a retry samples (temperature 0.7) with a new seed."""
        seed = self.settings.llm.question_writer.seed + 1000 * u.attempt + retry
        return ChatRequest(
            messages=self._question_messages(u), seed=seed, temperature=None if retry == 0 else 0.7
        )

    def generate_questions(
        self, units: list[Unit], report: GenerateReport, progress: Progress | None
    ) -> None:
        done = self.store.done_work_keys()
        todo = [u for u in units if u.work_key not in done]
        report.units_skipped += len(units) - len(todo)
        if progress:
            progress("questions", len(todo), 0)
        retries = self.settings.generate.max_retries
        seen: dict[int, set[str]] = {}  # chunk id -> normalised questions already kept (no duplicates)
        step = ROUND * self.settings.llm.question_writer.batch_size
        for i in range(0, len(todo), step):
            batch = todo[i : i + step]
            pending = {id(u): u for u in batch}
            calls: dict[int, list[tuple[Completion, Prompt]]] = {id(u): [] for u in batch}
            results: dict[int, tuple[list[str], list[Any]]] = {}
            for retry in range(retries + 1):
                if not pending:
                    break
                us = list(pending.values())
                outs = self.question_backend.generate([self._question_request(u, retry) for u in us])
                for u, c in zip(us, outs, strict=True):
                    calls[id(u)].append((c, self.prompts[f"question_{u.kind}"]))
                    prompt_text = "\n".join(m["content"] for m in self._question_messages(u))
                    kept, rejected = (
                        parse_questions(c.text, u.chunk.text, prompt_text)
                        if c.outcome != "failed"
                        else ([], [])
                    )
                    prev_kept, prev_rejected = results.get(id(u), ([], []))
                    room = u.n - len(prev_kept)
                    results[id(u)] = (
                        prev_kept + kept[:room],
                        prev_rejected + rejected + [_Extra(q, "extra_question") for q in kept[room:]],
                    )
                    if kept:
                        del pending[id(u)]
            for u in batch:
                kept, rejected = results.get(id(u), ([], []))
                self._store_unit(u, kept, rejected, calls[id(u)], report, seen)
            if progress:
                progress("questions", None, len(batch))

    def _store_unit(
        self,
        u: Unit,
        kept: list[str],
        rejected: list[Any],
        calls: list[tuple[Completion, Prompt]],
        report: GenerateReport,
        seen: dict[int, set[str]],
    ) -> None:
        prompt = self.prompts[f"question_{u.kind}"]
        unit = GenerationUnit(
            work_key=u.work_key,
            chunk_id=u.chunk.id,
            chunk2_id=u.chunk2.id if u.chunk2 else None,
            kind=u.kind,
            attempt=u.attempt,
            generator=self.question_backend.name,
            prompt_sha=prompt.sha,
            status="ok" if kept else "failed",
            n_questions=len(kept),
        )
        # one transaction: the duplicate check reads what is committed, and the unit is written once
        with self.store.transaction():
            if self.store.generation_unit_done(u.work_key):
                report.units_skipped += 1  # another process finished this unit while we worked on it
                return
            questions = self._verdicts(u, kept, rejected, seen)
            self.store.record_generation_unit(
                unit, [llm_call("question_writer", self.question_backend, p, c) for c, p in calls], questions
            )
        for q in questions:
            if q.status == "ok":
                report.questions_added += 1
            else:
                report.rejected_questions += 1
                reason = q.reject_reason or ""
                report.by_reason[reason] = report.by_reason.get(reason, 0) + 1
        report.units_done += 1
        if not kept:
            report.failed += 1

    def _verdicts(
        self, u: Unit, kept: list[str], rejected: list[Any], seen: dict[int, set[str]]
    ) -> list[NewQuestion]:
        """Each question line once, with its verdict: kept, a duplicate of one the chunk has, or the
        parse rejection it got. A line the model repeated (within a reply or across retries) is stored once
        per unit, with the verdict it got the first time."""
        rows = []
        chunk_seen = seen.setdefault(u.chunk.id, set())
        stored = {normalise_question(t) for t in self.store.ok_question_texts(u.chunk.id)}
        for q in kept:
            norm = normalise_question(q)
            if norm in chunk_seen or norm in stored:
                rows.append(NewQuestion(q, "rejected", "duplicate"))
            else:
                chunk_seen.add(norm)
                rows.append(NewQuestion(q, "ok"))
        rows += [NewQuestion(r.text, "rejected", r.reason) for r in rejected]
        first = {q.text: q for q in reversed(rows)}
        return list(first.values())

    # -- answers ------------------------------------------------------------------------------------

    @property
    def searcher(self) -> Searcher:
        if self._searcher is None:
            self._searcher = Searcher(self.store, self.settings, self.project.embedder)
        return self._searcher

    def split_documents(self, document_id: int) -> list[int]:
        """The documents of ``document_id``'s split (decided before answering), which alone may answer."""
        if self._splits is None:
            self._splits = document_splits(self.store.documents(), self.settings.curate)
        split = self._splits.get(document_id)
        return [d for d, s in self._splits.items() if s == split]

    def passages(self, question: Question) -> list[dict]:
        """The passages an answer may use: search results for the question among the documents of its
        split, plus its source chunk(s)."""
        k = self.settings.generate.answer_k
        [source] = self.store.passages([question.chunk_id])
        hits = self.searcher.search(question.text, k=k, document_ids=self.split_documents(source.document_id))
        ids = [h.chunk_id for h in hits]
        for cid in (question.chunk_id, question.chunk2_id):
            if cid is not None and cid not in ids and question.kind != "unanswerable":
                ids.insert(0, cid)
        return [
            {"id": p.chunk_id, "text": p.text, "page": p.page_start, "title": p.title}
            for p in self.store.passages(ids)
        ]

    def generate_answers(
        self, report: GenerateReport, progress: Progress | None, chunk_ids: list[int] | None = None
    ) -> None:
        prompt = self.prompts["answer"]
        model = self.settings.llm.answerer.model
        todo = self.store.questions_to_answer(model, prompt.sha, chunk_ids)
        if progress:
            progress("answers", len(todo), 0)
        step = ROUND * self.settings.llm.answerer.batch_size
        for i in range(0, len(todo), step):
            batch = todo[i : i + step]
            contexts = [self.passages(q) for q in batch]
            reqs = [
                ChatRequest(messages=prompt.messages(passages=ps, question=q.text))
                for q, ps in zip(batch, contexts, strict=True)
            ]
            outs = self.answer_backend.generate(reqs)
            for q, ps, c in zip(batch, contexts, outs, strict=True):
                text = (
                    parse_answer(c.text, truncated=c.finish_reason == "length")
                    if c.outcome != "failed"
                    else ""
                )
                ok = bool(text.strip())
                answer = NewAnswer(
                    question_id=q.id,
                    text=text,
                    citations=cite(text, ps) if ok else [],
                    retrieved=[p["id"] for p in ps],
                    status="ok" if ok else "failed",
                    generator=model,
                    prompt_sha=prompt.sha,
                )
                self.store.record_answer(answer, llm_call("answerer", self.answer_backend, prompt, c))
                if ok:
                    report.answers_added += 1
                else:
                    report.failed += 1
            if progress:
                progress("answers", None, len(batch))


@dataclass
class _Extra:
    text: str
    reason: str


def spread_per_document(rows: list[SourceChunk], n: int) -> list[SourceChunk]:
    """At most ``n`` chunks of each document, evenly spaced from its first to its last chunk, so the
    later parts of long documents are covered too."""
    by_doc: dict[int, list[SourceChunk]] = {}
    for r in rows:
        by_doc.setdefault(r.document_id, []).append(r)
    out = []
    for doc_rows in by_doc.values():
        m = len(doc_rows)
        if m <= n:
            out += doc_rows
        else:
            picks = sorted({round(i * (m - 1) / (n - 1)) for i in range(n)}) if n > 1 else [0]
            out += [doc_rows[i] for i in picks]
    return out


def generate(
    project: Project,
    *,
    limit_chunks: int | None = None,
    chunk_ids: list[int] | None = None,
    attempt: int = 0,
    progress: Progress | None = None,
    generator: Generator | None = None,
) -> GenerateReport:
    """Generate questions for the chunks that lack them, then answers for the questions that lack them."""
    gen = generator or Generator(project)
    report = GenerateReport()
    limit = limit_chunks or project.settings.generate.max_chunks
    chunks = gen.chunks(limit=limit, chunk_ids=chunk_ids)
    if chunk_ids is None:
        extract_facts(project, progress)  # what `run` does as its facts stage; a no-op when current
        report.fact_questions = generate_fact_questions(project).questions
    gen.generate_questions(gen.plan(chunks, attempt), report, progress)
    gen.generate_answers(report, progress, chunk_ids=[c.id for c in chunks])
    return report


def _run(project: Project, progress: Progress | None) -> dict[str, Any]:
    data = generate(project, progress=progress).to_json()
    keys = ("fact_questions", "questions_added", "answers_added", "failed", "rejected_questions")
    return {k: data[k] for k in keys}


STAGE = Stage(
    name="generate",
    # search: answers are written from search results (which embed the question with the embedding model)
    # curate: the document splits decide which documents may answer a question
    settings=("generate", "llm", "search", "embedding", "curate"),
    inputs=lambda project: [
        project.store.fingerprint("chunks", ("id", "sha256")),
        project.store.fingerprint("facts", ("id", "value", "problems")),
        TEMPLATE_SHA,  # the templates' code: new templates ask every fact anew
    ],
    run=_run,
)
