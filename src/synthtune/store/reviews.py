"""Human review of the dataset: every decision is a row, kept with its history.

A review accepts, rejects or edits one example; an undo is a row too (it names the review it takes back).
The effective human decision on an example is its history folded in order, so nothing is ever lost and
``curate`` can rewrite ``examples`` as often as it likes: :meth:`ReviewOps.reviewed_examples` applies the
human decisions on top of what curation decided (a human decision wins), and that is what export reads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any, Literal

from synthtune.errors import SynthtuneError
from synthtune.store.dataset import DatasetOps, Example
from synthtune.store.primitives import utcnow

Decision = Literal["accept", "reject", "edit", "undo"]
DECISIONS: tuple[str, ...] = ("accept", "reject", "edit", "undo")
_STATUS = {"accept": "accepted", "reject": "rejected"}


@dataclass(frozen=True)
class Review:
    """One human decision. ``before``/``after`` hold the example's question, answer and status around it."""

    id: int
    example_id: int
    question_id: int
    decision: str
    before: dict[str, Any]
    after: dict[str, Any]
    reviewer: str
    created_at: str
    undoes: int | None = None

    @classmethod
    def from_row(cls, r: dict[str, Any]) -> Review:
        return cls(**{**r, "before": json.loads(r["before"]), "after": json.loads(r["after"])})

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class ReviewState:
    """What the humans decided about one example, history folded: a status and edited texts, each None
    where no human said anything."""

    status: str | None = None
    question: str | None = None
    answer: str | None = None
    n_reviews: int = 0

    @property
    def reviewed(self) -> bool:
        return self.status is not None or self.question is not None or self.answer is not None


@dataclass(frozen=True)
class ReviewProgress:
    reviewed: int
    total: int
    accepted: int
    rejected: int
    edited: int


_REVIEW_COLUMNS = "id, example_id, question_id, decision, before, after, reviewer, created_at, undoes"


def fold(reviews: list[Review]) -> ReviewState:
    """The state a history of one example's reviews leaves (oldest first); an undo cancels its target."""
    undone = {r.undoes for r in reviews if r.decision == "undo"}
    state = ReviewState()
    for r in reviews:
        if r.decision == "undo" or r.id in undone:
            continue
        state = replace(
            state,
            status=_STATUS.get(r.decision, state.status),
            question=r.after.get("question", state.question) if r.decision == "edit" else state.question,
            answer=r.after.get("answer", state.answer) if r.decision == "edit" else state.answer,
        )
    return replace(state, n_reviews=len(reviews))


def apply_review(example: Example, state: ReviewState | None) -> Example:
    """The example as the humans left it: their status and edited texts over curation's."""
    if state is None or not state.reviewed:
        return example
    return replace(
        example,
        status=state.status or example.status,
        question=state.question if state.question is not None else example.question,
        answer=state.answer if state.answer is not None else example.answer,
    )


class ReviewOps(DatasetOps):
    """Review rows and the dataset with human decisions applied."""

    def record_review(
        self,
        example_id: int,
        decision: str,
        reviewer: str = "",
        question: str | None = None,
        answer: str | None = None,
    ) -> Review:
        """Record one decision on an example. ``edit`` takes the new question and/or answer."""
        if decision not in ("accept", "reject", "edit"):
            raise SynthtuneError(f"unknown review decision '{decision}': use accept, reject or edit")
        with self.transaction():
            current = self.reviewed_example(example_id)
            before = _snapshot(current)
            after = dict(before)
            if decision == "edit":
                if question is None and answer is None:
                    raise SynthtuneError("an edit needs a new question or answer")
                after.update({k: v for k, v in (("question", question), ("answer", answer)) if v is not None})
            else:
                after["status"] = _STATUS[decision]
            return self._insert_review(current, decision, before, after, reviewer, None)

    def undo_review(self, example_id: int, reviewer: str = "") -> Review | None:
        """Take back the latest decision on an example still in force; None when there is none."""
        with self.transaction():
            history = self.reviews(example_id)
            undone = {r.undoes for r in history if r.decision == "undo"}
            live = [r for r in history if r.decision != "undo" and r.id not in undone]
            if not live:
                return None
            target = live[-1]
            current = self.reviewed_example(example_id)
            return self._insert_review(
                current, "undo", _snapshot(current), target.before, reviewer, target.id
            )

    def _insert_review(
        self, ex: Example, decision: str, before: dict, after: dict, reviewer: str, undoes: int | None
    ) -> Review:
        review_id = self._insert(
            "INSERT INTO reviews(example_id, question_id, decision, before, after, reviewer, created_at, undoes)"
            " VALUES (?,?,?,?,?,?,?,?) RETURNING id",
            (
                ex.id,
                ex.question_id,
                decision,
                json.dumps(before),
                json.dumps(after),
                reviewer,
                utcnow(),
                undoes,
            ),
        )
        row = self._one(f"SELECT {_REVIEW_COLUMNS} FROM reviews WHERE id = ?", (review_id,))
        assert row is not None
        return Review.from_row(row)

    def reviews(self, example_id: int | None = None) -> list[Review]:
        """Review history, oldest first: of one example, or of all."""
        sql = f"SELECT {_REVIEW_COLUMNS} FROM reviews"
        params: tuple[Any, ...] = ()
        if example_id is not None:
            sql += " WHERE example_id = ?"
            params = (example_id,)
        return [Review.from_row(r) for r in self._rows(sql + " ORDER BY id", params)]

    def review_states(self) -> dict[int, ReviewState]:
        """The folded human decision of every reviewed example, by example id."""
        by_example: dict[int, list[Review]] = {}
        for r in self.reviews():
            by_example.setdefault(r.example_id, []).append(r)
        return {eid: fold(history) for eid, history in by_example.items()}

    def reviewed_example(self, example_id: int) -> Example:
        """One example with its human decisions applied."""
        return apply_review(self.example(example_id), fold(self.reviews(example_id)))

    def dataset_fingerprint(self) -> str:
        """What export, training and evaluation read: the examples with their frozen passages and the
        human decisions applied on top of them (a review re-runs the stages that read the dataset)."""
        return self.fingerprint(
            "examples", ("id", "question_id", "answer_id", "split", "status", "passages")
        ) + self.fingerprint("reviews", ("id",))

    def reviewed_examples(
        self, status: str | None = None, split: str | None = None, document_id: int | None = None
    ) -> list[Example]:
        """Examples with human decisions applied (a human decision wins over curation's), filtered on the
        result, by id: the dataset as export must read it.

        Curation gives rejected examples no split; one a human accepts takes its document's split (splits
        are by document), so it lands where the document's other examples are."""
        states = self.review_states()
        everything = self.examples(document_id=document_id)
        split_of = {ex.document_id: ex.split for ex in self.examples() if ex.split is not None}
        out = []
        for ex in everything:
            ex = apply_review(ex, states.get(ex.id))
            if ex.split is None and ex.status == "accepted" and ex.document_id in split_of:
                ex = replace(ex, split=split_of[ex.document_id])
            if (status is None or ex.status == status) and (split is None or ex.split == split):
                out.append(ex)
        return out

    def orphaned_reviews(self) -> list[int]:
        """Example ids that have reviews but are no longer in the dataset (their question went with a
        re-ingested document, or curation dropped it): what a re-ingest or curate should report as dropped."""
        rows = self._iter(
            "SELECT DISTINCT r.example_id FROM reviews r"
            " WHERE NOT EXISTS (SELECT 1 FROM examples e WHERE e.id = r.example_id) ORDER BY r.example_id"
        )
        return [r[0] for r in rows]

    def adopt_orphaned_reviews(self) -> tuple[int, int]:
        """Carry the reviews of examples that went with a re-ingested document over to the examples that
        came back unchanged: the same question and answer text as the example had when it was first
        reviewed. Returns (examples whose reviews were carried over, examples still orphaned)."""
        orphans = self.orphaned_reviews()
        if not orphans:
            return 0, 0
        by_text: dict[tuple[str, str], Example] = {}
        reviewed = set(self.review_states())
        for ex in self.examples():
            if ex.id not in reviewed:
                by_text.setdefault((ex.question, ex.answer or ""), ex)
        adopted = 0
        with self.transaction():
            for old in orphans:
                first = self.reviews(old)[0].before
                ex = by_text.pop((first.get("question") or "", first.get("answer") or ""), None)
                if ex is None:
                    continue
                self._execute(
                    "UPDATE reviews SET example_id = ?, question_id = ? WHERE example_id = ?",
                    (ex.id, ex.question_id, old),
                )
                adopted += 1
        return adopted, len(orphans) - adopted

    def review_progress(self, example_ids: list[int] | None = None) -> ReviewProgress:
        """How many of these examples (all when None) a human has decided on."""
        states = self.review_states()
        ids = example_ids if example_ids is not None else [ex.id for ex in self.examples()]
        live = [states[i] for i in ids if i in states and states[i].reviewed]
        return ReviewProgress(
            reviewed=len(live),
            total=len(ids),
            accepted=sum(s.status == "accepted" for s in live),
            rejected=sum(s.status == "rejected" for s in live),
            edited=sum(s.question is not None or s.answer is not None for s in live),
        )


def _snapshot(ex: Example) -> dict[str, Any]:
    return {"question": ex.question, "answer": ex.answer, "status": ex.status}
