"""``synthtune ask``: a retrieval-augmented answer from the project's tuned model, with numbered citations.

The question is asked exactly the way the model was trained and is evaluated (the same system prompt, the
same numbered-passages user turn from :mod:`synthtune.chat`, the model's own chat template, greedy
decoding): :func:`synthtune.evaluate.run.request_messages` builds it. The model is the latest merge, else
the latest adapter, else the base model, and the result says which.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from synthtune.chat import Passage
from synthtune.config import BackendSettings
from synthtune.errors import SynthtuneError
from synthtune.evaluate.run import request_messages, tuned_model
from synthtune.llm.base import Backend, ChatRequest, make_backend
from synthtune.project import Project
from synthtune.search import Hit
from synthtune.text.citations import cite

ModelKind = Literal["merge", "adapter", "base"]


@dataclass(frozen=True)
class AnswerModel:
    """Which model answers: its path or hub id and whether it is a merge, an adapter or the base."""

    kind: ModelKind
    model: str

    def describe(self) -> str:
        return {"merge": "tuned model (merged)", "adapter": "tuned model (adapter)", "base": "base model"}[
            self.kind
        ] + f": {self.model}"


@dataclass(frozen=True)
class Citation:
    """A numbered source of an answer: ``n`` is the passage number the answer's ``[n]`` points at."""

    n: int
    chunk_id: int
    document_id: int
    title: str
    source_path: str
    page_start: int
    page_end: int
    char_start: int
    char_end: int
    text: str

    @property
    def pages(self) -> str:
        if self.page_start == self.page_end:
            return f"p. {self.page_start}"
        return f"pp. {self.page_start}-{self.page_end}"


@dataclass(frozen=True)
class AskResult:
    question: str
    answer: str
    model: AnswerModel
    citations: list[Citation]
    hits: list[Hit] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.answer,
            "model": asdict(self.model),
            "citations": [asdict(c) for c in self.citations],
            "passages": [h.to_json() for h in self.hits],
        }


def answer_model(project: Project) -> AnswerModel:
    """The model ``ask`` uses: the latest merge, else the latest adapter, else ``train.base_model``."""
    tuned = tuned_model(project, None, None)
    if tuned is None:
        return AnswerModel("base", project.settings.train.base_model)
    return AnswerModel("adapter" if (Path(tuned) / "adapter_config.json").exists() else "merge", tuned)


def backend_settings(project: Project, model: AnswerModel) -> BackendSettings:
    """The answerer's device and decoding limits, greedy, on ``model`` (as evaluation asks)."""
    s = project.settings
    return BackendSettings(
        backend="transformers",
        model=model.model,
        max_new_tokens=s.eval.max_new_tokens,
        batch_size=1,
        temperature=0.0,
        device=s.llm.answerer.device,
        repetition_penalty=s.llm.answerer.repetition_penalty,
        no_repeat_ngram_size=s.llm.answerer.no_repeat_ngram_size,
    )


def citations(answer: str, hits: list[Hit]) -> list[Citation]:
    """The passages the answer cites, numbered as they were shown: its ``[n]`` markers where it wrote
    them, else the passages that hold its numbers or share most of its words."""
    ids = cite(answer, [{"id": h.chunk_id, "text": h.text} for h in hits]) if hits and answer else []
    number = {h.chunk_id: n for n, h in enumerate(hits, 1)}
    by_id = {h.chunk_id: h for h in hits}
    return [_citation(number[c], by_id[c]) for c in ids if c in by_id]


def _citation(n: int, h: Hit) -> Citation:
    return Citation(
        n, h.chunk_id, h.document_id, h.title, h.source_path, h.page_start, h.page_end, h.char_start,
        h.char_end, h.text,
    )  # fmt: skip


def passages(hits: list[Hit]) -> list[Passage]:
    return [
        Passage(
            h.chunk_id, h.title, h.page_start, h.page_end, h.text, h.document_id, h.char_start, h.char_end
        )
        for h in hits
    ]


def ask(
    project: Project,
    question: str,
    *,
    k: int | None = None,
    backend: Backend | None = None,
    model: AnswerModel | None = None,
) -> AskResult:
    """Retrieve ``k`` passages (``eval.k`` by default), ask the model with them numbered, and cite what
    the answer used. Without ``backend`` the model is loaded for this one question and released after."""
    if not question.strip():
        raise SynthtuneError("empty question")
    hits = project.search(question, k=k or project.settings.eval.k)
    model = model or answer_model(project)
    if backend is not None:
        return answer(project, question, hits, backend, model)
    backend = make_backend(backend_settings(project, model))
    try:
        return answer(project, question, hits, backend, model)
    finally:
        backend.close()


def answer(
    project: Project, question: str, hits: list[Hit], backend: Backend, model: AnswerModel
) -> AskResult:
    """Ask ``backend`` (serving ``model``) the question with these passages; the web server keeps one
    backend loaded and calls this directly."""
    messages = request_messages(project.settings.export.system_prompt or None, question, passages(hits))
    (done,) = backend.generate([ChatRequest(messages=messages)])
    if done.outcome == "failed":
        raise SynthtuneError(f"the model could not answer: {done.error}")
    text = done.text.strip()
    return AskResult(question.strip(), text, model, citations(text, hits), hits)
