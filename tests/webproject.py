"""A demo-like project for the web and ask tests: the acme corpus ingested, questions answered from its
chunks as generation writes them, curated; and a fake answering backend (no model to load)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from synthtune.config import parse_settings
from synthtune.llm.base import ChatRequest, Completion
from synthtune.project import Project
from synthtune.store import GenerationUnit, NewAnswer, NewQuestion
from synthtune.synth.curate import curate
from synthtune.synth.fact_questions import generate_fact_questions
from synthtune.synth.facts_stage import extract_facts

ACME = Path(__file__).resolve().parents[1] / "examples" / "acme" / "docs"
SETTINGS = {
    "curate": {"min_examples_per_chunk": 0, "dedup_threshold": 0.99},
    "search": {"mode": "lexical"},
    "generate": {"max_facts_per_document": 2, "phrasings_per_fact": 1},
}
_SENTENCE = re.compile(r"[^\n]*\d[^\n]*?\.(?=\s|$)")


def build_demo(directory: Path, embedder, n_examples: int = 12) -> Project:
    """Ingest the acme documents, extract their facts and write the fact questions (accepted), plus
    ``n_examples`` answered questions that do not stand alone (one per chunk with a sentence holding a
    number: the answer quotes it and cites it as [1]; curation rejects them), then curate."""
    directory.mkdir(parents=True, exist_ok=True)
    p = Project(directory, parse_settings(SETTINGS))
    p._embedder = embedder
    p.ingest([ACME])
    extract_facts(p)
    generate_fact_questions(p)
    made = 0
    for c in p.store.source_chunks():
        m = _SENTENCE.search(c.text)
        if m is None or made >= n_examples:
            continue
        sentence = " ".join(m.group().split())
        unit = GenerationUnit(f"web:{c.id}", c.id, None, "numeric", 0, "test-writer", "q" * 64, "ok", 1)
        [qid] = p.store.record_generation_unit(
            unit, [], [NewQuestion(f"What does the source say ({made + 1})?", "ok")]
        )
        p.store.record_answer(
            NewAnswer(qid, f"{sentence} [1]", [c.id], [c.id], "ok", "test-answerer", "a" * 64), None
        )
        made += 1
    curate(p, coverage=False)
    return p


@dataclass
class EchoBackend:
    """Answers with the first sentence of the first passage it was shown, citing it as [1]."""

    name: str = "echo"
    calls: list[ChatRequest] = field(default_factory=list)

    def settings_dict(self) -> dict:
        return {"backend": "echo"}

    def generate(self, requests: list[ChatRequest], progress=None) -> list[Completion]:
        self.calls += requests
        out = []
        for r in requests:
            user = r.messages[-1]["content"]
            passage = user.split("[1] ", 1)[1].split("\n", 2)[1] if "[1] " in user else "I do not know."
            text = (passage.split(". ")[0].rstrip(".") + " [1].") if passage else "I do not know."
            out.append(Completion(text, "echo", 0.0, 1, 1, 1, "ok", finish_reason="stop"))
        return out

    def close(self) -> None:
        pass
