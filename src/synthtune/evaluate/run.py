"""``synthtune eval``: every configured system answers the same held-out questions; each answer is scored
against its reference; the means get bootstrap intervals and each system is compared with ``base`` on
paired resamples. Writes ``results.json`` and ``report.html`` and records the evaluation in the store.

Every system is asked the way the model was trained: the same system prompt (``export.system_prompt``),
the same user turn (:func:`synthtune.export.formats.user_content`, with numbered passages for the
``+rag`` systems) and the model's own chat template, greedy decoding.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synthtune.chat import Conversation, Passage, strip_markers
from synthtune.config import BackendSettings
from synthtune.errors import SynthtuneError
from synthtune.evaluate.metrics import (
    METRICS,
    cosine_similarities,
    mean_or_none,
    numeric_match,
    recall_at_k,
    reciprocal_rank,
    refusal_correct,
    retrieval_ranks,
    rouge_l,
    token_f1,
)
from synthtune.evaluate.stats import bootstrap_ci, paired_bootstrap
from synthtune.paths import ensure_writable_dir
from synthtune.project import Project
from synthtune.stages import Stage, StageProgress
from synthtune.store import utcnow
from synthtune.train.stage import HEADLINE_KEYS, latest_adapter

RESULTS_NAME = "results.json"
REPORT_NAME = "report.html"
SCORED = (
    "numeric_match",
    "token_f1",
    "rouge_l",
    "semantic_similarity",
    "refusal_accuracy",
    "judge_correctness",
    "recall_at_k",
    "mrr",
)


class GoldFileError(SynthtuneError):
    """A gold question file with a row that cannot be used; the message names the file and line."""


@dataclass
class Question:
    id: str
    set: str
    question: str
    reference: str
    kind: str = "factual"
    answerable: bool = True
    document: str | None = None
    page: int | None = None
    source: dict[str, Any] | None = None
    scope: str = "skill"  # knowledge: about a document the model was trained on; skill: any other

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "set": self.set,
            "scope": self.scope,
            "question": self.question,
            "reference": self.reference,
            "kind": self.kind,
            "answerable": self.answerable,
            "document": self.document,
            "page": self.page,
            "source": self.source,
        }


@dataclass
class System:
    name: str
    kind: str  # base | tuned | reference
    rag: bool
    backend: BackendSettings

    @property
    def model(self) -> str:
        return self.backend.model


@dataclass
class Answer:
    text: str
    citations: list[dict[str, Any]] = field(default_factory=list)
    scores: dict[str, float | None] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------------
# Question sets


def load_gold(path: str | Path) -> list[Question]:
    """Questions of a gold JSONL file: ``question`` and ``answer`` (strings), optional ``document`` (file
    name or title), ``page`` (1-based) and ``answerable`` (false: the expected answer is a refusal).
    Every bad row is found; the error names the first one's line and counts the rest."""
    path = Path(path)
    if not path.is_file():
        raise GoldFileError(f"gold file {path} does not exist")
    problems: list[str] = []
    out: list[Question] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise GoldFileError(f"{path}: not UTF-8 text") from None
    for no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        problem, q = _gold_row(line, no)
        if problem:
            problems.append(f"{path}:{no}: {problem}")
        elif q is not None:
            out.append(q)
    if problems:
        more = f" (and {len(problems) - 1} more bad rows)" if len(problems) > 1 else ""
        raise GoldFileError(problems[0] + more)
    if not out:
        raise GoldFileError(f"{path}: no questions")
    return out


_GOLD_KEYS = {"question", "answer", "document", "page", "answerable", "id"}


def _gold_row(line: str, no: int) -> tuple[str | None, Question | None]:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        return f"not valid JSON ({exc.msg} at column {exc.colno})", None
    if not isinstance(row, dict):
        return "expected a JSON object", None
    unknown = sorted(set(row) - _GOLD_KEYS)
    if unknown:
        return f"unknown field '{unknown[0]}' (fields: question, answer, document, page, answerable)", None
    for key in ("question", "answer"):
        if not isinstance(row.get(key), str) or not row[key].strip():
            return f"'{key}' must be a non-empty string", None
    document = row.get("document")
    if document is not None and (not isinstance(document, str) or not document.strip()):
        return "'document' must be a file name or title", None
    page = row.get("page")
    if page is not None and (isinstance(page, bool) or not isinstance(page, int) or page < 1):
        return f"'page' must be a page number from 1, got {page!r}", None
    answerable = row.get("answerable", True)
    if not isinstance(answerable, bool):
        return "'answerable' must be true or false", None
    return None, Question(
        id=str(row.get("id", f"gold-{no}")),
        set="gold",
        question=row["question"].strip(),
        reference=row["answer"].strip(),
        kind="factual" if answerable else "unanswerable",
        answerable=answerable,
        document=document,
        page=page,
    )


def test_questions(project: Project) -> list[Question]:
    """The accepted examples of the test split: documents no training row came from. Each question's
    source is the chunk it was written from (its page is what retrieval must find)."""
    examples = project.store.reviewed_examples(status="accepted", split="test")
    sources = {p.chunk_id: p for p in project.store.passages(sorted({ex.chunk_id for ex in examples}))}
    questions = []
    for ex in examples:
        source = sources.get(ex.chunk_id)
        questions.append(
            Question(
                id=f"test-{ex.id}",
                set="test",
                question=ex.question,
                reference=strip_markers(ex.answer or ""),
                kind=ex.kind,
                answerable=ex.kind != "unanswerable",
                document=Path(ex.source_path).name,
                page=ex.page_start,
                source={
                    "title": ex.title,
                    "page_start": ex.page_start,
                    "page_end": ex.page_end,
                    "text": source.text if source else "",
                },
            )
        )
    return questions


def spread(items: list[Question], cap: int | None) -> list[Question]:
    """At most ``cap`` of ``items``, evenly across them (not the first document's only)."""
    if cap is None or len(items) <= cap:
        return items
    return [items[i * len(items) // cap] for i in range(cap)]


def question_sets(project: Project, gold: str | Path | None) -> list[Question]:
    s = project.settings.eval
    questions: list[Question] = []
    if s.test_split:
        questions += spread(test_questions(project), s.max_test_questions or s.max_questions)
    gold = gold if gold is not None else s.gold
    if gold:
        questions += load_gold(project.resolve_path(gold))[: s.max_questions]
    if not questions:
        raise SynthtuneError(
            "no questions to evaluate: the test split is empty and no gold file is set "
            "(eval.gold or --questions FILE)"
        )
    return questions


SCOPES = {
    "knowledge": (
        "closed book, on questions about documents the model was trained on: does the tuned model now "
        "know the figures?"
    ),
    "skill": (
        "with retrieved passages, on questions about documents no training row came from (test and val "
        "splits, or documents not in the store): does it answer unseen documents better?"
    ),
}


def assign_scopes(project: Project, questions: list[Question]) -> None:
    """``knowledge`` for a question whose document (file name or title) has accepted examples in the
    train split, ``skill`` for every other question (a question naming no document is ``skill``)."""
    trained: set[str] = set()
    for ex in project.store.reviewed_examples(status="accepted", split="train"):
        trained |= {Path(ex.source_path).name.lower(), (ex.title or "").strip().lower()}
    trained.discard("")
    for q in questions:
        doc = (q.document or "").strip().lower()
        q.scope = "knowledge" if doc and doc in trained else "skill"


def in_scope(system: System, q: Question) -> bool:
    """Whether a question belongs to a system's scope: skill to the +rag systems, knowledge to the others."""
    return (q.scope == "skill") == system.rag


def scoped_results(
    project: Project,
    systems: list[System],
    questions: list[Question],
    answers: dict[str, dict[str, Answer]],
) -> dict[str, Any]:
    """Knowledge (closed-book systems on trained documents) apart from skill (``+rag`` systems on unseen
    documents): per scope, its questions, systems and comparisons against base."""
    out: dict[str, Any] = {}
    for scope, description in SCOPES.items():
        qs = [q for q in questions if q.scope == scope]
        rag = scope == "skill"
        ss = [x for x in systems if x.rag == rag]
        if not qs or not ss:
            continue
        per_system, comparisons = aggregate(project, ss, qs, answers)
        out[scope] = {
            "description": description,
            "n": len(qs),
            "question_sets": {
                name: sum(1 for q in qs if q.set == name) for name in sorted({q.set for q in qs})
            },
            "systems": per_system,
            "comparisons": comparisons,
        }
    return out


# ---------------------------------------------------------------------------------------------------
# Systems


def tuned_model(project: Project, adapter: str | Path | None, model: str | Path | None) -> str | None:
    """The tuned model to load: --model, --adapter, else the latest merge, else the latest adapter."""
    if model is not None:
        return str(Path(model).resolve()) if Path(model).exists() else str(model)
    if adapter is not None:
        path = Path(adapter).resolve()
        if not (path / "adapter_config.json").exists():
            raise SynthtuneError(f"{path} is not a LoRA adapter folder (no adapter_config.json)")
        return str(path)
    merge = project.store.latest_merge()
    if merge is not None and Path(merge.merged_path).exists():
        return merge.merged_path
    try:
        adapter_dir = latest_adapter(project)
    except SynthtuneError:
        return None
    return str(adapter_dir) if (adapter_dir / "adapter_config.json").exists() else None


def build_systems(project: Project, tuned: str | None) -> tuple[list[System], list[str]]:
    """The systems of ``eval.systems`` and ``eval.references``, and notes on those that cannot run."""
    s = project.settings
    answerer = s.llm.answerer
    common = {
        "max_new_tokens": s.eval.max_new_tokens,
        "batch_size": s.eval.batch_size,
        "temperature": 0.0,
        "device": answerer.device,
        "repetition_penalty": answerer.repetition_penalty,
        "no_repeat_ngram_size": answerer.no_repeat_ngram_size,
    }
    base = BackendSettings(backend="transformers", model=s.train.base_model, **common)
    systems, notes = [], []
    for name in s.eval.systems:
        if name.startswith("tuned"):
            if tuned is None:
                notes.append(
                    f"{name} skipped: no trained model (run train and merge, or pass --adapter/--model)"
                )
                continue
            systems.append(
                System(name, "tuned", name.endswith("+rag"), base.model_copy(update={"model": tuned}))
            )
        else:
            systems.append(System(name, "base", name.endswith("+rag"), base))
    for ref in s.eval.references:
        backend = ref.backend
        if "max_new_tokens" not in backend.model_fields_set:
            backend = backend.model_copy(update={"max_new_tokens": s.eval.max_new_tokens})
        systems.append(System(ref.name, "reference", ref.rag, backend))
    return systems, notes


# ---------------------------------------------------------------------------------------------------
# Answering


def retrieve(project: Project, questions: list[Question], k: int) -> dict[str, list[Any]]:
    return {q.id: project.search(q.question, k=k) for q in questions}


def _passages(hits: list[Any]) -> list[Passage]:
    return [Passage(h.chunk_id, h.title, h.page_start, h.page_end, h.text) for h in hits]


def request_messages(system_prompt: str | None, question: str, passages: list[Passage]) -> list[dict]:
    """The prompt of one question: a training row's messages (the same builder) without its answer."""
    conv = Conversation(question=question, answer="", system=system_prompt, passages=tuple(passages))
    return conv.messages()[:-1]


def _citations(text: str, hits: list[Any]) -> list[dict[str, Any]]:
    from synthtune.text.citations import cite

    if not hits:
        return []
    passages = [{"id": h.chunk_id, "text": h.text} for h in hits]
    ids = cite(text, passages)
    by_id = {h.chunk_id: (n, h) for n, h in enumerate(hits, 1)}
    return [
        {
            "n": by_id[c][0],
            "chunk_id": c,
            "title": by_id[c][1].title,
            "page_start": by_id[c][1].page_start,
            "page_end": by_id[c][1].page_end,
            "text": by_id[c][1].text,
        }
        for c in ids
        if c in by_id
    ]


def answer_all(
    project: Project,
    systems: list[System],
    questions: list[Question],
    hits: dict[str, list[Any]],
    progress: StageProgress | None = None,
) -> dict[str, dict[str, Answer]]:
    """Every system's answer to every question; systems on the same model share one loaded backend."""
    from synthtune.llm.base import ChatRequest

    system_prompt = project.settings.export.system_prompt or None
    every = project.settings.eval.answer_every_question
    answers: dict[str, dict[str, Answer]] = {s.name: {} for s in systems}
    by_backend: dict[str, list[System]] = {}
    for s in systems:
        by_backend.setdefault(s.backend.model_dump_json(), []).append(s)
    for group in by_backend.values():
        requests, keys = [], []
        for s in group:
            for q in questions:
                if not (every or in_scope(s, q)):
                    continue
                passages = _passages(hits[q.id]) if s.rag else []
                requests.append(ChatRequest(messages=request_messages(system_prompt, q.question, passages)))
                keys.append((s, q))
        label = " + ".join(s.name for s in group)
        if not requests:
            continue
        if progress:
            progress(f"answer: {label}", len(requests), 0)
        backend = project.backend(group[0].backend)  # in this process, or on Ray actors
        try:
            done = backend.generate(requests, progress=_advance(progress, f"answer: {label}"))
        finally:
            backend.close()
        for (s, q), c in zip(keys, done, strict=True):
            text = c.text.strip() if c.outcome != "failed" else ""
            cites = _citations(text, hits[q.id]) if s.rag else []
            answers[s.name][q.id] = Answer(text=text, citations=cites)
    return answers


def _advance(progress: StageProgress | None, phase: str) -> Callable[[int], None] | None:
    if progress is None:
        return None
    return lambda n: progress(phase, None, n)


# ---------------------------------------------------------------------------------------------------
# Scoring


def score(
    project: Project,
    systems: list[System],
    questions: list[Question],
    answers: dict[str, dict[str, Answer]],
    hits: dict[str, list[Any]],
    judge: Any | None = None,
) -> None:
    """Fill every answer's ``scores`` in place."""
    k = project.settings.eval.k
    ranks = {q.id: _rank(hits[q.id], q) if q.document else None for q in questions}
    refs = project.embedder.encode([q.reference for q in questions])
    for s in systems:
        answered = [i for i, q in enumerate(questions) if q.id in answers[s.name]]
        if not answered:
            continue
        texts = [answers[s.name][questions[i].id].text for i in answered]
        sims = cosine_similarities(project.embedder.encode([strip_markers(t) for t in texts]), refs[answered])
        for q, sim in zip([questions[i] for i in answered], sims, strict=True):
            a = answers[s.name][q.id]
            plain = strip_markers(a.text)
            a.scores = {
                "numeric_match": numeric_match(plain, q.reference) if q.answerable else None,
                "token_f1": token_f1(plain, q.reference),
                "rouge_l": rouge_l(plain, q.reference),
                "semantic_similarity": round(float(sim), 6),
                "refusal_accuracy": refusal_correct(plain, q.answerable),
                "judge_correctness": None,
                "recall_at_k": recall_at_k(ranks[q.id], k) if s.rag and q.document else None,
                "mrr": reciprocal_rank(ranks[q.id]) if s.rag and q.document else None,
            }
    if judge is not None:
        judge_answers(project, judge, systems, questions, answers)


def _rank(hits: list[Any], q: Question) -> int | None:
    """Rank of the first hit from the question's document (and page, when known); a gold file may name
    the document by file name or by title."""
    by_name = retrieval_ranks(
        [(Path(h.source_path).name, h.page_start, h.page_end) for h in hits], q.document, q.page
    )
    by_title = retrieval_ranks([(h.title, h.page_start, h.page_end) for h in hits], q.document, q.page)
    found = [r for r in (by_name, by_title) if r is not None]
    return min(found) if found else None


def judge_answers(
    project: Project,
    judge: Any,
    systems: list[System],
    questions: list[Question],
    answers: dict[str, dict[str, Answer]],
) -> None:
    from synthtune.llm.base import ChatRequest
    from synthtune.llm.calls import log_call
    from synthtune.llm.prompts import load_prompt
    from synthtune.text.judgments import parse_judgment

    prompt = load_prompt("judge_correctness", project.settings.generate.prompts, project.dir)
    keys, requests = [], []
    for s in systems:
        for q in questions:
            a = answers[s.name].get(q.id)
            if a is None:  # out of the system's scope (eval.answer_every_question: false)
                continue
            messages = prompt.messages(
                question=q.question, reference=q.reference, answer=strip_markers(a.text)
            )
            requests.append(ChatRequest(messages=messages))  # eval.judge.max_new_tokens applies
            keys.append(a)
    done = judge.generate(requests)
    with project.store.transaction():  # every grading call is logged, raw output included
        for a, c in zip(keys, done, strict=True):
            log_call(project.store, "eval_judge", judge, prompt, c)
            value, _ = parse_judgment(c.text) if c.outcome != "failed" else (None, "")
            a.scores["judge_correctness"] = float(value) if value is not None else None


def aggregate(
    project: Project,
    systems: list[System],
    questions: list[Question],
    answers: dict[str, dict[str, Answer]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Per system: the mean of each metric and its interval; per non-base system and metric: the paired
    difference against ``base`` (the first system when there is no ``base``)."""
    s = project.settings.eval
    boot = {"n_resamples": s.bootstrap_resamples, "confidence": s.confidence, "seed": s.seed}
    per_system = []
    columns: dict[str, dict[str, list[float | None]]] = {}
    for sys_ in systems:
        mine = answers[sys_.name]
        cols = {m: [mine[q.id].scores.get(m) if q.id in mine else None for q in questions] for m in SCORED}
        columns[sys_.name] = cols
        metrics: dict[str, Any] = {"n": sum(1 for q in questions if q.id in mine)}
        intervals: dict[str, list[float]] = {}
        for m, values in cols.items():
            mean = mean_or_none(values)
            metrics[m] = round(mean, 6) if mean is not None else None
            ci = bootstrap_ci(values, **boot) if mean is not None else None
            if ci is not None:
                intervals[m] = [round(ci[0], 6), round(ci[1], 6)]
        per_system.append(
            {
                "name": sys_.name,
                "kind": sys_.kind,
                "model": sys_.model,
                "backend": sys_.backend.backend,
                "rag": sys_.rag,
                "metrics": metrics,
                "intervals": intervals,
            }
        )
    comparisons = []
    if systems:
        baseline = next((x for x in systems if x.name == "base"), systems[0])
        for sys_ in systems:
            if sys_ is baseline:
                continue
            for m in SCORED:
                cmp = paired_bootstrap(columns[sys_.name][m], columns[baseline.name][m], **boot)
                if cmp is not None:
                    comparisons.append({"system": sys_.name, "against": baseline.name, "metric": m, **cmp})
    return per_system, comparisons


# ---------------------------------------------------------------------------------------------------
# The whole evaluation


def dataset_summary(project: Project, questions: list[Question]) -> dict[str, Any]:
    from synthtune.export.writer import check_stats
    from synthtune.synth.examples import dataset_status

    status = dataset_status(project.store)
    stats = check_stats(project.store.examples())
    sets: dict[str, int] = {}
    for q in questions:
        sets[q.set] = sets.get(q.set, 0) + 1
    return {
        "question_sets": sets,
        "counts": status["examples"],
        "by_check": {
            name: {"passed": v["passed"], "failed": v["evaluated"] - v["passed"], "rejected": v["rejected"]}
            for name, v in stats.items()
        },
        "coverage": {k: v for k, v in status["coverage"].items() if k != "uncovered"},
    }


def training_summary(project: Project, tuned: str | None) -> dict[str, Any] | None:
    training = project.store.latest_training()
    if training is None:
        return None
    out = {
        "base_model": training.base_model,
        "adapter_dir": training.adapter_path,
        "tuned_model": tuned,
        **{k: training.metrics.get(k) for k in HEADLINE_KEYS},
    }
    history_path = Path(training.adapter_path) / "metrics.json"
    if history_path.exists():
        history = json.loads(history_path.read_text())
        history = history.get("history", history)
        out["loss_curve"] = {
            "train": [{"step": r["step"], "loss": r["loss"]} for r in history.get("train", [])],
            "eval": [{"step": r["step"], "loss": r["eval_loss"]} for r in history.get("eval", [])],
        }
    return out


def _clean(value: Any) -> Any:
    """JSON without NaN: a NaN metric (nothing to average) is written as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def evaluate(
    project: Project,
    *,
    adapter: str | Path | None = None,
    model: str | Path | None = None,
    questions_file: str | Path | None = None,
    out: str | Path | None = None,
    progress: StageProgress | None = None,
) -> dict[str, Any]:
    """Run the evaluation; return the results (also written to ``results.json`` beside the report)."""
    from synthtune.evaluate.report import render_report

    s = project.settings.eval
    questions = question_sets(project, questions_file)
    assign_scopes(project, questions)
    # before any model is loaded: a report folder that cannot be written would lose the whole evaluation
    out_dir = ensure_writable_dir(Path(out) if out else project.resolve_path(s.out), "report folder")
    tuned = tuned_model(project, adapter, model)
    systems, notes = build_systems(project, tuned)
    if not systems:
        raise SynthtuneError("no system to evaluate: " + "; ".join(notes or ["eval.systems is empty"]))
    hits = retrieve(project, questions, s.k)
    answers = answer_all(project, systems, questions, hits, progress)
    judge = project.backend(s.judge) if s.judge is not None else None
    try:
        score(project, systems, questions, answers, hits, judge)
    finally:
        if judge is not None:
            judge.close()
    per_system, comparisons = aggregate(project, systems, questions, answers)
    scopes = scoped_results(project, systems, questions, answers)
    results = _clean(
        {
            "created_at": utcnow(),
            "project": str(project.dir.resolve()),
            "settings": s.model_dump(mode="json"),
            "k": s.k,
            "systems": per_system,
            "comparisons": comparisons,
            "scopes": scopes,
            "notes": notes,
            "metric_info": {m: METRICS[m] for m in SCORED},
            "dataset": dataset_summary(project, questions),
            "training": training_summary(project, tuned),
            "questions": [
                {
                    **q.to_json(),
                    "answers": {
                        sys_.name: {
                            "text": answers[sys_.name][q.id].text,
                            "scores": answers[sys_.name][q.id].scores,
                            "citations": answers[sys_.name][q.id].citations,
                        }
                        for sys_ in systems
                        if q.id in answers[sys_.name]
                    },
                }
                for q in questions
            ],
        }
    )
    results_path = out_dir / RESULTS_NAME
    tmp = results_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=1, ensure_ascii=False), encoding="utf-8")
    tmp.replace(results_path)
    report = render_report(results, out_dir)
    project.store.record_evaluation(
        [
            {"name": x.name, "kind": x.kind, "rag": x.rag, **x.backend.model_dump(mode="json")}
            for x in systems
        ],
        {"systems": per_system, "comparisons": comparisons},
        results["dataset"],
        str(Path(report).resolve()),
        results["created_at"],
    )
    results["report"] = str(report)
    results["results_path"] = str(results_path)
    return results


def headline(results: dict[str, Any]) -> list[str]:
    """One line per non-base system: its token F1 and numeric match against base, with intervals; then
    the same for knowledge and skill apart."""
    lines = []
    sections = [("", results["comparisons"])]
    sections += [(f"{name}: ", scope["comparisons"]) for name, scope in (results.get("scopes") or {}).items()]
    for prefix, comparisons in sections:
        for c in comparisons:
            if c["metric"] not in ("token_f1", "numeric_match"):
                continue
            mark = "significant" if c["significant"] else "not significant"
            lines.append(
                f"{prefix}{c['system']} vs {c['against']}: {c['metric']} {c['difference']:+.3f} "
                f"[{c['ci_low']:+.3f}, {c['ci_high']:+.3f}] ({mark}, n={c['n']})"
            )
    return lines


# ---------------------------------------------------------------------------------------------------
# The stage of ``synthtune run``


def _stage_inputs(project: Project) -> dict[str, Any]:
    """What an evaluation reads besides its settings: the examples (test questions, dataset summary), the
    knowledge base (retrieval for the ``+rag`` systems), the tuned model (latest merge, else the latest
    adapter) and the gold file."""
    store = project.store
    merge = store.latest_merge()
    training = store.latest_training()
    gold = project.settings.eval.gold
    gold_path = project.resolve_path(gold) if gold else None
    return {
        "examples": store.dataset_fingerprint(),
        "chunks": store.fingerprint("chunks", ("id", "sha256")),
        "merge": [merge.id, merge.merged_path] if merge else None,
        "training": [training.id, training.adapter_path] if training else None,
        "gold": hashlib.sha256(gold_path.read_bytes()).hexdigest()
        if gold_path is not None and gold_path.is_file()
        else None,
    }


def _run_stage(project: Project, progress: StageProgress | None) -> dict[str, Any]:
    results = evaluate(project, progress=progress)
    return {
        "report": results["report"],
        "results": results["results_path"],
        "questions": len(results["questions"]),
        "systems": {s["name"]: s["metrics"] for s in results["systems"]},
        "headline": headline(results),
        "notes": results["notes"],
    }


STAGE = Stage(
    name="eval",
    # eval: the questions and systems; export: the system prompt; search, embedding: retrieval and
    # similarity; llm: the answerer's decoding settings; train: the base model; generate: the judge prompt
    settings=("eval", "export", "search", "embedding", "llm", "train", "generate"),
    inputs=_stage_inputs,
    run=_run_stage,
    output_key="report",
)
