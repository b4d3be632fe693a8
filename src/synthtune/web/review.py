"""What the review and runs screens show, as JSON: the filtered queue with its progress counter, one
example with its checks, history and cited passages (the answer's numbers marked), bulk decisions, and
each stage's latest run."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from synthtune.pipeline import stage_names
from synthtune.project import Project
from synthtune.store import Example, Store
from synthtune.synth.generate import KINDS
from synthtune.text.numbers import extract_numbers
from synthtune.web.pages import number_segments

FILTERS = ("status", "document", "split", "kind", "check", "min_score", "max_score", "reviewed")
FILTER_OPTIONS = {
    "status": ["accepted", "rejected"],
    "split": ["train", "val", "test"],
    "kind": list(KINDS),
    "reviewed": ["yes", "no"],
}


def judge_score(store: Store, ex: Example) -> int | None:
    """The lowest score any judge gave the example's question or answer (None when unjudged)."""
    scores = [j.score for j in store.judgments(ex.question_id, ex.answer_id) if j.score is not None]
    return min(scores) if scores else None


def select(store: Store, filters: dict[str, str]) -> list[Example]:
    """Examples (human decisions applied) matching every filter given; unknown keys are ignored."""
    f = {k: v for k, v in filters.items() if k in FILTERS and v not in ("", None)}
    document = int(f["document"]) if f.get("document", "").isdigit() else None
    examples = store.reviewed_examples(status=f.get("status"), split=f.get("split"), document_id=document)
    states = store.review_states() if "reviewed" in f else {}
    out = []
    for ex in examples:
        if "kind" in f and ex.kind != f["kind"]:
            continue
        if "check" in f and f["check"] not in ex.reasons:
            continue
        if "reviewed" in f and (ex.id in states and states[ex.id].reviewed) != (f["reviewed"] == "yes"):
            continue
        if "min_score" in f or "max_score" in f:
            score = judge_score(store, ex)
            if score is None or not _within(score, f.get("min_score"), f.get("max_score")):
                continue
        out.append(ex)
    return out


def _within(score: int, low: str | None, high: str | None) -> bool:
    return (low is None or score >= float(low)) and (high is None or score <= float(high))


def queue(store: Store, filters: dict[str, str]) -> dict[str, Any]:
    examples = select(store, filters)
    states = store.review_states()
    progress = store.review_progress([ex.id for ex in examples])
    return {
        "items": [
            {"id": ex.id, "status": ex.status, "reviewed": ex.id in states and states[ex.id].reviewed}
            for ex in examples
        ],
        "progress": asdict(progress),
        "checks": sorted({r for ex in store.examples() for r in ex.reasons}),
    }


def detail(store: Store, example_id: int) -> dict[str, Any]:
    """One example as the reviewer sees it: curation's verdict, the humans' decisions and history, and
    the frozen passages with the answer's numbers marked. An edited answer is re-checked here: its numbers
    must appear in the passages it was answered from."""
    original = store.example(example_id)
    ex = store.reviewed_example(example_id)
    history = store.reviews(example_id)
    passages = [
        {**p.to_json(), "segments": [asdict(s) for s in number_segments(p.text, ex.answer or "")]}
        for p in ex.passages
    ]
    in_passages = {n.value for p in ex.passages for n in extract_numbers(p.text)}
    unsupported = [n.raw for n in extract_numbers(ex.answer or "") if n.value not in in_passages]
    return {
        "id": ex.id,
        "question": ex.question,
        "answer": ex.answer,
        "kind": ex.kind,
        "split": ex.split,
        "status": ex.status,
        "curated_status": original.status,
        "reasons": ex.reasons,
        "checks": ex.checks,
        "judge_score": judge_score(store, ex),
        "title": ex.title,
        "document_id": ex.document_id,
        "page_start": ex.page_start,
        "edited": ex.question != original.question or ex.answer != original.answer,
        "recheck": {"numbers_in_passages": not unsupported, "unsupported": unsupported},
        "passages": passages,
        "history": [r.to_json() for r in history],
    }


def bulk(store: Store, filters: dict[str, str], decision: str, reviewer: str) -> dict[str, Any]:
    """Record ``decision`` on every selected example whose current status differs, in one transaction."""
    target = "accepted" if decision == "accept" else "rejected"
    changed = 0
    with store.transaction():
        for ex in select(store, filters):
            if ex.status != target:
                store.record_review(ex.id, decision, reviewer)
                changed += 1
    return {"changed": changed, **queue(store, filters)}


def runs(project: Project) -> dict[str, Any]:
    store = project.store
    stages = []
    for name in stage_names():
        run = store.latest_run(name)
        stages.append({"stage": name, "run": asdict(run) if run else None})
    evaluation = store.latest_evaluation()
    report = None
    if evaluation is not None:
        try:
            report = project.resolve_path(evaluation.report_path).resolve().relative_to(project.dir.resolve())
        except ValueError:
            report = None
    return {
        "stages": stages,
        "evaluation": asdict(evaluation) if evaluation else None,
        "report_url": f"/files/{report.as_posix()}" if report else None,
    }
