"""Looking at the dataset: examples with their lineage (document, page, chunk, models, prompt, checks,
judgments) and the frozen passages they were answered from, as the JSON ``synthtune examples`` and
``synthtune status`` print."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from synthtune.errors import SynthtuneError
from synthtune.store import Example, Store


def example_json(store: Store, ex: Example) -> dict[str, Any]:
    """An example as the CLI shows it: its fields, its judgments, and ``prompt_sha`` (the question's)."""
    out = asdict(ex)
    out["prompt_sha"] = ex.question_prompt_sha
    out["judgments"] = [
        {"criterion": j.criterion, "score": j.score, "passed": int(j.passed), "rationale": j.rationale,
         "judge": j.judge}
        for j in store.judgments(question_id=ex.question_id, answer_id=ex.answer_id)
    ]  # fmt: skip
    return out


def list_examples(
    store: Store, split: str | None = None, status: str | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    if split is not None and split not in ("train", "val", "test"):
        raise SynthtuneError(f"unknown split '{split}': use train, val or test")
    if status is not None and status not in ("accepted", "rejected"):
        raise SynthtuneError(f"unknown status '{status}': use accepted or rejected")
    examples = store.examples(status=status, split=split)
    return [example_json(store, ex) for ex in (examples[:limit] if limit else examples)]


def get_example(store: Store, example_id: int) -> dict[str, Any]:
    return example_json(store, store.example(example_id))


def dataset_status(store: Store) -> dict[str, Any]:
    """Counts per stage, acceptance per check, coverage and failures for `synthtune status`."""
    n = store.dataset_counts()
    total = n.accepted + n.rejected
    return {
        "questions": n.questions,
        "questions_rejected_at_parse": n.questions_rejected_at_parse,
        "answers": n.answers,
        "examples": {"accepted": n.accepted, "rejected": n.rejected, "splits": n.splits},
        "rejection_rate_by_check": {k: round(v / total, 4) for k, v in sorted(n.rejections_by_check.items())}
        if total
        else {},
        "coverage": {
            "chunks_attempted": n.chunks_attempted,
            "chunks_uncovered": len(n.uncovered),
            "uncovered": [asdict(u) for u in n.uncovered],
        },
        "generation_failures": n.generation_failures,
        "llm_calls": n.llm_calls,
    }
