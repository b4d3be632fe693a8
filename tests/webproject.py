"""A demo-like project for the web and ask tests: the acme corpus ingested, questions answered from its
chunks as generation writes them, curated. Questions asked of it are answered by the bundled model, with
the short replies its ``eval.max_new_tokens`` sets (the ``bundled_llm`` fixture's settings)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from conftest import BUNDLED_LLM_TOKENS

from synthtune.config import parse_settings
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
    "eval": {"max_new_tokens": BUNDLED_LLM_TOKENS},  # the answers `ask` and the web app generate
}
_SENTENCE = re.compile(r"[^\n]*\d[^\n]*?\.(?=\s|$)")


def build_demo(directory: Path, embedder, n_examples: int = 12) -> Project:
    """Ingest the acme documents, extract their facts and write the fact questions (accepted), plus
    ``n_examples`` answered questions that do not stand alone (one per chunk with a sentence holding a
    number: the answer quotes it and cites it as [1]; curation rejects them), then curate. The settings
    are written to the folder's synthtune.yaml, so the command line reads the same ones."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "synthtune.yaml").write_text(yaml.safe_dump(SETTINGS))
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
