"""``synthtune curate``: deterministic checks, optional LLM judges, dedup, coverage and document splits.

Curation is recomputed from the questions and answers on every run (cheap and deterministic); the
expensive parts are cached in the store: judgments by (subject, judge, criterion, prompt), and coverage
generation by its work keys. The outcome of every check is stored on the example.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from synthtune.llm.base import Backend, ChatRequest
from synthtune.llm.calls import llm_call
from synthtune.llm.prompts import load_prompt
from synthtune.project import Project
from synthtune.stages import Stage
from synthtune.store import Candidate, CuratedExample, Judgment, Passage
from synthtune.synth import checks as checks_module
from synthtune.synth.checks import (
    answer_problem,
    fact_problem,
    question_problem,
    standalone_problem,
    support_problem,
)
from synthtune.synth.facts import Fact
from synthtune.synth.facts_stage import to_doc_identity, to_fact
from synthtune.synth.generate import GenerateReport, Generator
from synthtune.synth.splits import SPLIT_PRIORITY, document_splits
from synthtune.synth.templates import norm, period_mentions
from synthtune.text.identity import DocIdentity
from synthtune.text.judgments import parse_judgment
from synthtune.text.numbers import extract_numbers, unsupported_numbers
from synthtune.text.periods import period_from_json
from synthtune.text.refusals import is_refusal

CHECKS = (
    "answer_failed",  # the answerer produced nothing usable
    "length",  # answer word count outside curate.min/max_answer_words
    "numbers_grounded",  # every number in the answer appears in its cited text
    "citations_retrieved",  # citations exist and point at retrieved chunks
    "refusal",  # answerable -> no refusal; unanswerable -> refusal
    "numeric_answer",  # numeric questions get an answer with a number
    "stands_alone",  # the question names its subject and, for a figure, the period (not_standalone)
    "states_answer",  # not nothing, not the question again, not "the passage says" (no_answer, ...)
    "right_fact",  # each figure is the value of the asked metric and period (wrong_fact, wrong_period, ...)
    "asks_about_subject",  # a model's question is not about the document or said twice (vague_question)
    "supported",  # a model's answer says nothing twice and what its passages say (repeats_itself, unsupported)
    "judge_question",  # LLM judge: question quality >= threshold
    "judge_faithfulness",  # LLM judge: answer faithfulness >= threshold
    "duplicate",  # near-duplicate of a better-scored question
    "test_leak",  # asks what a test-split question asks (removed from train/val)
    "split_leak",  # cites a document of another split
)

Progress = Callable[[str, int | None, int], None]


@dataclass
class CurateReport:
    accepted: int = 0
    rejected: int = 0
    by_check: dict[str, int] = field(default_factory=dict)
    splits: dict[str, int] = field(default_factory=lambda: {"train": 0, "val": 0, "test": 0})
    duplicates_removed: int = 0
    coverage: dict[str, Any] = field(default_factory=dict)
    generated: dict[str, int] = field(default_factory=dict)
    reviews_kept: int = 0  # reviewed examples of a re-ingested document that came back unchanged
    reviews_orphaned: int = 0  # reviewed examples that did not come back (their reviews are kept, unused)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Row:
    """A candidate under curation: what the checks found, why it is rejected, its split and judge score."""

    c: Candidate
    checks: dict[str, bool] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    split: str | None = None
    score: float = 0


class Curator:
    def __init__(self, project: Project, generator: Generator | None = None, judge: Backend | None = None):
        self.project = project
        self.store = project.store
        self.settings = project.settings
        self.generator = generator
        self._judge = judge
        self._identities: dict[int, DocIdentity] | None = None
        self._facts: dict[int, list[Fact]] = {}
        self.reviews_kept = self.reviews_orphaned = 0
        self.reasons: dict[tuple[int, str], str] = {}  # (question id, check) -> the specific reason it failed
        overrides = self.settings.generate.prompts
        self.judge_prompts = {
            n: load_prompt(n, overrides, project.dir) for n in ("judge_question", "judge_answer")
        }

    @property
    def judge(self) -> Backend | None:
        if self._judge is None and self.settings.llm.judge is not None:
            self._judge = self.project.backend(self.settings.llm.judge)  # here, or on Ray actors
        return self._judge

    # -- rows ---------------------------------------------------------------------------------------

    def rows(self) -> list[Row]:
        """Every ok question with its latest answer, chunk and document."""
        return [Row(c) for c in self.store.candidates()]

    def chunk_texts(self, ids: list[int]) -> dict[int, str]:
        return {p.chunk_id: p.text for p in self.store.passages(ids)}

    # -- deterministic checks -----------------------------------------------------------------------

    def identity(self, document_id: int) -> DocIdentity | None:
        if self._identities is None:
            self._identities = {i: to_doc_identity(d) for i, d in self.store.document_identities().items()}
        return self._identities.get(document_id)

    def facts_of(self, document_ids: set[int]) -> list[Fact]:
        """The problem-free facts of these documents (read once per document)."""
        for d in document_ids - self._facts.keys():
            self._facts[d] = [to_fact(f) for f in self.store.facts(d, usable=True)]
        return [f for d in sorted(document_ids) for f in self._facts[d]]

    def span_holds_fact(self, row: Candidate, passages: list[Passage]) -> bool:
        """A template answer is grounded when its cited chunk still reads the fact's figure at its span
        (its scale may be stated in a header the chunk does not hold, so digits alone would not tell)."""
        made = self.store.question_facts([row.question_id])
        if row.question_id not in made or len(row.citations) != 1:
            return False
        fact = self.store.fact(made[row.question_id])
        if len(passages) != 1:
            return False
        [passage] = passages
        if fact.char_start is None or fact.char_end is None or passage.page_start != fact.page_no:
            return False
        at = fact.char_start - passage.char_start
        return passage.text[at : at + fact.char_end - fact.char_start] == fact.raw

    def check_against_question(self, row: Candidate, passages: list[Passage]) -> dict[str, str | None]:
        """The checks that read the question (``passages``: the cited ones): by check name, the reason it
        fails (None: passes)."""
        answer = row.answer or ""
        cited = {p.document_id for p in passages}
        out = {
            "stands_alone": standalone_problem(
                row.question, answer, row.kind, self.identity(row.document_id), row.title
            ),
            "states_answer": answer_problem(row.question, answer, row.kind),
            "right_fact": fact_problem(row.question, answer, self.facts_of(cited | {row.document_id})),
        }
        if row.kind != "fact":  # a template's question and answer are made from the fact itself
            out["asks_about_subject"] = question_problem(row.question)
            out["supported"] = support_problem(row.question, answer, row.kind, [p.text for p in passages])
        return out

    def check(self, row: Candidate) -> dict[str, bool]:
        c = self.settings.curate
        out: dict[str, bool] = {}
        answer = row.answer or ""
        out["answer_failed"] = (
            row.answer_id is not None and row.answer_status == "ok" and bool(answer.strip())
        )
        if not out["answer_failed"]:
            return out
        n_words = len(answer.split())
        out["length"] = c.min_answer_words <= n_words <= c.max_answer_words
        refused = is_refusal(answer)
        unanswerable = row.kind == "unanswerable"
        out["refusal"] = refused if unanswerable else not refused
        if unanswerable:
            return out
        cites = row.citations
        retrieved = set(row.retrieved)
        out["citations_retrieved"] = bool(cites) and set(cites) <= retrieved
        passages = self.store.passages(cites)  # read once for every check below
        if row.kind == "fact":
            out["numbers_grounded"] = self.span_holds_fact(row, passages)
        else:
            texts = [p.text for p in passages]
            out["numbers_grounded"] = bool(texts) and not unsupported_numbers(answer, texts)
        if row.kind == "numeric":
            out["numeric_answer"] = bool(extract_numbers(answer))
        for name, reason in self.check_against_question(row, passages).items():
            out[name] = reason is None
            if reason is not None:
                self.reasons[(row.question_id, name)] = reason
        return out

    # -- judges -------------------------------------------------------------------------------------

    def judge_rows(self, rows: list[Row], progress: Progress | None) -> dict[tuple[str, int], int | None]:
        """Scores by (criterion, subject id); judged once per judge and prompt, then read from the store."""
        judge = self.judge
        if judge is None or self.settings.llm.judge is None:
            return {}
        name = self.settings.llm.judge.model
        jq, ja = self.judge_prompts["judge_question"], self.judge_prompts["judge_answer"]
        have = self.store.judgment_scores(name, [jq.sha, ja.sha])
        work = []
        for row in rows:
            r = row.c
            if ("quality", r.question_id) not in have:
                work.append(
                    (
                        "quality",
                        "question",
                        r.question_id,
                        jq,
                        jq.messages(text=r.chunk_text, question=r.question),
                    )
                )
            if r.answer_id and ("faithfulness", r.answer_id) not in have:
                ps = [{"text": t} for t in self.chunk_texts(r.citations).values()]
                messages = ja.messages(
                    passages=ps or [{"text": r.chunk_text}], question=r.question, answer=r.answer
                )
                work.append(("faithfulness", "answer", r.answer_id, ja, messages))
        if progress:
            progress("judge", len(work), 0)
        c = self.settings.curate
        for i in range(0, len(work), 32):
            batch = work[i : i + 32]
            outs = judge.generate([ChatRequest(messages=w[4]) for w in batch])
            judged = []
            for (criterion, subject, sid, prompt, _), comp in zip(batch, outs, strict=True):
                score, why = (
                    parse_judgment(comp.text) if comp.outcome != "failed" else (None, comp.error or "")
                )
                threshold = c.judge_min_question if criterion == "quality" else c.judge_min_faithfulness
                verdict = Judgment(
                    subject=subject,
                    subject_id=sid,
                    judge=name,
                    criterion=criterion,
                    score=score,
                    passed=score is not None and score >= threshold,
                    rationale=why,
                    prompt_sha=prompt.sha,
                )
                judged.append((verdict, llm_call("judge", judge, prompt, comp)))
                have[(criterion, sid)] = score
            self.store.record_judgments(judged)
            if progress:
                progress("judge", None, len(batch))
        return have

    # -- dedup and splits ---------------------------------------------------------------------------

    def question_vectors(self, texts: list[str]) -> np.ndarray:
        emb = self.project.embedder
        return (
            emb.encode([f"{emb.query_prefix}{t}" for t in texts]) if texts else np.zeros((0, 1), np.float32)
        )

    def split_of(self) -> dict[int, str]:
        """Every document's split (decided by document, before answering: ``synth/splits.py``)."""
        return document_splits(self.store.documents(), self.settings.curate)

    def fact_keys(self, rows: list[Row]) -> dict[int, tuple[int, tuple[str, str, str], tuple[Any, ...]]]:
        """For template questions: question id -> (fact id, (subject, metric, period) it asks, (subject,
        period, figure) it answers)."""
        made = self.store.question_facts([r.c.question_id for r in rows])
        out = {}
        for qid, fid in made.items():
            f = self.store.fact(fid)
            metric = f.metric.lower()
            if f.source == "outlook":  # one outlook per report: the same question only with the same range
                metric = f"{metric} outlook {f.value} to {f.value_high}"
            period = period_from_json(f.period)
            label = period.label if period else ""
            figure = (f.value, f.value_high, f.scale, f.unit)  # the same figure under another row name
            out[qid] = (
                fid,
                ((f.subject or "").lower(), metric, label),
                ((f.subject or "").lower(), label, figure),
            )
        return out

    # -- the stage ----------------------------------------------------------------------------------

    def evaluate(self, progress: Progress | None = None) -> tuple[list[Row], dict]:
        rows = self.rows()
        scores = self.judge_rows(rows, progress)
        c = self.settings.curate
        for row in rows:
            r = row.c
            checks = self.check(r)
            if scores:
                qs = scores.get(("quality", r.question_id))
                checks["judge_question"] = qs is not None and qs >= c.judge_min_question
                if r.answer_id:
                    fs = scores.get(("faithfulness", r.answer_id))
                    checks["judge_faithfulness"] = fs is not None and fs >= c.judge_min_faithfulness
                row.score = (qs or 0) + (scores.get(("faithfulness", r.answer_id)) or 0)
            else:
                row.score = 0
            row.checks = checks
            row.reasons = [self.reasons.get((r.question_id, k), k) for k, ok in checks.items() if not ok]
        return rows, scores

    def _same_question(self, a: Row, b: Row, sim: float, keys: dict) -> bool:
        """Whether two questions ask the same thing: template questions when they ask for the same
        (subject, metric, period) from different facts (the phrasings of one fact are kept: each teaches
        the fact, but one wording twice would weigh the fact double), other questions when their
        embeddings are near and they name the same periods."""
        ka, kb = keys.get(a.c.question_id), keys.get(b.c.question_id)
        if ka and kb:
            if ka[0] == kb[0]:
                return norm(a.c.question) == norm(b.c.question)
            return ka[1] == kb[1]
        return sim >= self.settings.curate.dedup_threshold and period_mentions(
            a.c.question
        ) == period_mentions(b.c.question)

    def dedup(self, rows: list[Row]) -> int:
        """Near-duplicate questions collapse to the best-scored one, then by their document's split (test,
        train, val), then the earliest."""
        live = [r for r in rows if not r.reasons]
        if len(live) < 2:
            return 0
        keys = self.fact_keys(live)
        vecs = self.question_vectors([r.c.question for r in live])
        # test questions win ties, so a duplicate pair across splits never costs the test split its row;
        # train wins over val, so a figure that a train and a val document both state is trained on (a row's
        # split is its document's: ``assign_splits``)
        split_of = self.split_of()
        order = sorted(
            range(len(live)),
            key=lambda i: (
                -live[i].score,
                SPLIT_PRIORITY.get(split_of.get(live[i].c.document_id, ""), 3),
                live[i].c.question_id,
            ),
        )
        kept: list[int] = []
        removed = 0
        for i in order:
            sims = vecs[kept] @ vecs[i] if kept else []
            if any(
                self._same_question(live[i], live[k], float(s), keys) for k, s in zip(kept, sims, strict=True)
            ):
                live[i].checks["duplicate"] = False
                live[i].reasons.append("duplicate")
                removed += 1
            else:
                kept.append(i)
        return removed

    def assign_splits(self, rows: list[Row]) -> None:
        """Each accepted row takes its document's split; a row citing a document of another split is a
        ``split_leak``, a train/val question asking what a test question asks is a ``test_leak``."""
        split_of = self.split_of()
        accepted = [r for r in rows if not r.reasons]
        for r in rows:
            r.split = split_of.get(r.c.document_id) if not r.reasons else None
        cited = {
            p.chunk_id: p.document_id
            for p in self.store.passages(sorted({c for r in accepted for c in r.c.citations}))
        }
        for r in accepted:
            if any(split_of.get(cited.get(c, r.c.document_id)) != r.split for c in r.c.citations):
                r.checks["split_leak"] = False
                r.reasons.append("split_leak")
                r.split = None
        test = [r for r in accepted if r.split == "test"]
        other = [r for r in accepted if r.split in ("train", "val")]
        if test and other:
            keys = self.fact_keys(test + other)
            tv = self.question_vectors([r.c.question for r in test])
            ov = self.question_vectors([r.c.question for r in other])
            sims = ov @ tv.T
            for r, row_sims in zip(other, sims, strict=True):
                if any(
                    self._same_question(r, t, float(s), keys) or _same_fact(r, t, keys)
                    for t, s in zip(test, row_sims, strict=True)
                ):
                    r.checks["test_leak"] = False
                    r.reasons.append("test_leak")
                    r.split = None

    def write(self, rows: list[Row]) -> None:
        """The curated set, each example with the passages its answer was given, frozen in the order shown."""
        self.store.write_examples(
            [
                CuratedExample(
                    question_id=r.c.question_id,
                    answer_id=r.c.answer_id,
                    document_id=r.c.document_id,
                    split=r.split,
                    status="rejected" if r.reasons else "accepted",
                    reasons=r.reasons,
                    checks=r.checks,
                    passages=self.store.passages(r.c.retrieved),
                )
                for r in rows
            ]
        )
        # a re-ingested document's examples come back with new ids: their human reviews follow them
        self.reviews_kept, self.reviews_orphaned = self.store.adopt_orphaned_reviews()

    def uncovered_chunks(self, rows: list[Row], limit_ids: set[int] | None = None) -> list[int]:
        need = self.settings.curate.min_examples_per_chunk
        good: dict[int, int] = {}
        for r in rows:
            if not r.reasons:
                good[r.c.chunk_id] = good.get(r.c.chunk_id, 0) + 1
        ids = sorted(i for ids in self.store.chunk_ids_by_document().values() for i in ids)
        if limit_ids is not None:
            ids = [i for i in ids if i in limit_ids]
        return [i for i in ids if good.get(i, 0) < need]


def curate(
    project: Project,
    *,
    progress: Progress | None = None,
    generator: Generator | None = None,
    judge: Backend | None = None,
    coverage: bool = True,
) -> CurateReport:
    cur = Curator(project, generator, judge)
    report = CurateReport()
    rows, _ = cur.evaluate(progress)
    # coverage: chunks that were worked on but have too few accepted examples get new attempts
    attempted = project.store.attempted_chunk_ids()
    max_attempts = project.settings.curate.max_attempts_per_chunk
    if coverage and attempted:
        gen = generator or Generator(project)
        cur.generator = gen
        for attempt in range(1, max_attempts):
            cur.dedup(rows)  # duplicates do not count as coverage
            missing = cur.uncovered_chunks(rows, attempted)
            done = project.store.attempted_chunk_ids(min_attempt=attempt)
            missing = [m for m in missing if m not in done]
            if not missing:
                break
            _generate_more(gen, missing, attempt, report, progress)
            rows, _ = cur.evaluate(progress)
        rows = _cover_documents(project, cur, gen, rows, attempted, report, progress)
    cur.assign_splits(rows)
    cur.dedup(rows)
    # counted from the rows: the coverage rounds above dedup too, marking some before this last pass
    report.duplicates_removed = sum("duplicate" in r.reasons for r in rows)
    for r in rows:
        if r.reasons:
            r.split = None
    cur.write(rows)
    for r in rows:
        if r.reasons:
            report.rejected += 1
            for reason in r.reasons:
                report.by_check[reason] = report.by_check.get(reason, 0) + 1
        else:
            report.accepted += 1
            report.splits[r.split or ""] += 1
    total = len(attempted)
    uncovered = cur.uncovered_chunks(rows, attempted)
    report.coverage = {
        "chunks_attempted": total,
        "chunks_covered": total - len(uncovered),
        "uncovered": len(uncovered),
    }
    report.reviews_kept, report.reviews_orphaned = cur.reviews_kept, cur.reviews_orphaned
    return report


def _same_fact(a: Row, b: Row, keys: dict) -> bool:
    """Whether two template questions ask for the same figure: the same metric and period, or the same
    value of the same subject and period under another name ("Revenue" and "Total revenue")."""
    ka, kb = keys.get(a.c.question_id), keys.get(b.c.question_id)
    return bool(ka and kb and (ka[1] == kb[1] or ka[2] == kb[2]))


def _generate_more(
    gen: Generator, chunk_ids: list[int], attempt: int, report: CurateReport, progress: Progress | None
) -> None:
    """Questions and answers for more chunks (coverage), counted in ``report.generated``."""
    g = GenerateReport()
    gen.generate_questions(gen.plan(gen.chunks(chunk_ids=chunk_ids), attempt), g, progress)
    gen.generate_answers(g, progress, chunk_ids=chunk_ids)
    for k in ("questions_added", "answers_added"):
        report.generated[k] = report.generated.get(k, 0) + getattr(g, k)


def _cover_documents(
    project: Project,
    cur: Curator,
    gen: Generator,
    rows: list[Row],
    attempted: set[int],
    report: CurateReport,
    progress: Progress | None,
) -> list[Row]:
    """Documents without an accepted example get new chunks tried, one per document per round, up to
    ``curate.extra_chunks_per_document`` rounds; ``attempted`` grows with the chunks used."""
    by_doc = project.store.chunk_ids_by_document()
    for _ in range(project.settings.curate.extra_chunks_per_document):
        cur.dedup(rows)
        covered = {r.c.document_id for r in rows if not r.reasons}
        picks = []
        for doc, ids in sorted(by_doc.items()):
            fresh = [c for c in ids if c not in attempted]
            # only documents generation worked on; the middle of what is left, away from the chunks tried
            if doc not in covered and fresh and len(fresh) < len(ids):
                picks.append(fresh[len(fresh) // 2])
        if not picks:
            break
        _generate_more(gen, picks, 0, report, progress)
        attempted.update(picks)
        rows, _ = cur.evaluate(progress)
    return rows


# the code of the checks: an upgrade that changes what is accepted re-runs curation on `run`
CHECKS_SHA = hashlib.sha256(
    b"".join(Path(m.__file__).read_bytes() for m in (checks_module, sys.modules[__name__]))
).hexdigest()


def _inputs(project: Project) -> list[str]:
    store = project.store
    return [
        store.fingerprint("questions", ("id", "status")),
        store.fingerprint("answers", ("id", "status")),
        CHECKS_SHA,
    ]


STAGE = Stage(
    name="curate",
    # generate, llm, search: coverage writes more questions and answers; embedding: dedup and leaks
    settings=("curate", "generate", "llm", "embedding", "search"),
    inputs=_inputs,
    run=lambda project, progress: curate(project, progress=progress).to_json(),
)
