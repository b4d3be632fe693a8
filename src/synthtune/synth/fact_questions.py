"""Questions made from facts without an LLM (kind ``fact``, generator ``template``).

For each document, its problem-free facts are ranked (headline figures first: a figure stated both in
prose and in a table, then table facts of the document's own period, then prose facts of that period,
then the balances at that period's end (a quarter's balance sheet), then the rest: the year-ago and
year-to-date figures it is compared with), one fact per (metric, period) is kept, a figure an earlier
document asked (documents in the order test, train, val) is skipped, up to
``generate.max_facts_per_document`` are kept, and each becomes ``generate.phrasings_per_fact`` questions
(``synth/templates.py``) answered by the reference sentence (value, unit, period) citing the chunk that
holds the fact's exact span.

A fact's unit is keyed by the fact's id and content, the number of phrasings and the template version, so
a re-run skips what is done, re-derived facts (an edited subject or period) get new questions, and the
units that the settings no longer make (fewer facts or phrasings, other templates) are dropped.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synthtune.project import Project
from synthtune.store import GenerationUnit, Store
from synthtune.store.facts import DocumentIdentity, StoredFact
from synthtune.store.kb import Chunk
from synthtune.synth import templates
from synthtune.synth.facts import Fact
from synthtune.synth.facts_stage import to_fact
from synthtune.synth.splits import SPLIT_PRIORITY, document_splits
from synthtune.synth.templates import select_phrasings, template_questions
from synthtune.text.identity import nickname
from synthtune.text.periods import period_from_json

TEMPLATE_VERSION = "templates-1"
TEMPLATE_SHA = hashlib.sha256(
    (TEMPLATE_VERSION + Path(templates.__file__).read_text(encoding="utf-8")).encode()
).hexdigest()
"""The prompt_sha of template questions and answers: the template version and the templates' code."""
GENERATOR = "template"
KIND = "fact"


@dataclass
class FactQuestionReport:
    facts: int = 0
    questions: int = 0
    skipped_no_chunk: int = 0


def _amount(f: StoredFact) -> Any:
    return to_fact(f).amount


def rank_facts(facts: list[StoredFact], document_period: dict[str, Any] | None) -> list[StoredFact]:
    """Problem-free facts with subject and period, headline figures first, one per (metric, period)."""
    usable = [f for f in facts if not f.problems and f.subject and f.period and f.char_start is not None]
    doc = period_from_json(document_period)
    doc_label = doc.label if doc else None
    doc_end = doc.end if doc and not doc.instant else None
    periods = {f.id: period_from_json(f.period) for f in usable}  # read once: ranking asks each several times

    def label(f: StoredFact) -> str | None:
        p = periods[f.id]
        return p.label if p else None

    in_table = {(label(f), _amount(f)) for f in usable if f.source == "table"}
    in_prose = {(label(f), _amount(f)) for f in usable if f.source == "prose"}

    def rank(f: StoredFact) -> int:
        if f.source == "outlook":
            return -1  # guidance: a few figures per report, its headline news
        key = (label(f), _amount(f))
        own = doc_label is not None and label(f) == doc_label
        if f.source == "prose" and key in in_table:
            return 0 if own else 2
        if f.source == "table" and key in in_prose:
            return 6  # its prose twin asks the same question
        if f.source == "table" and own:
            return 1
        if f.source == "prose" and own:
            return 2
        if doc_end is not None and (p := periods[f.id]) and p.instant and p.end == doc_end:
            return 3  # the balance at the period's end (a quarter's balance sheet), before year-ago figures
        return 4 if f.source == "table" else 5

    seen: set[tuple[str, str | None, bool]] = set()
    out = []
    for f in sorted(usable, key=lambda f: (rank(f), f.page_no, f.char_start or 0, f.id)):
        key = (f.metric.lower(), label(f), f.source == "outlook")
        if key in seen:
            continue
        seen.add(key)
        out.append(f)
    return out


def chunk_holding(fact: StoredFact | Fact, chunks: list[Chunk]) -> Chunk | None:
    """The chunk whose span holds the fact's whole span (chunks are cut within one page)."""
    if fact.char_start is None or fact.char_end is None:
        return None
    for c in chunks:
        if c.page_start == fact.page_no and c.char_start <= fact.char_start and fact.char_end <= c.char_end:
            return c
    return None


def _same_fact(f: StoredFact) -> tuple[Any, ...]:
    p = period_from_json(f.period)
    outlook = f.source == "outlook"
    return ((f.subject or "").lower(), f.metric.lower(), p.label if p else None, _amount(f), outlook)


def _work_key(f: StoredFact, n: int, nickname: str | None) -> str:
    data = ["fact", f.id, f.metric, f.period, f.value, f.value_high, f.unit, f.scale, f.subject, n]
    if nickname:
        data.append(nickname)
    data.append(TEMPLATE_SHA)
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def _nicknames(store: Store, identities: dict[int, DocumentIdentity]) -> dict[str, str]:
    """Each subject's shorter name, where its documents use it (identity.nickname)."""
    docs: dict[str, list[int]] = {}
    for doc_id, identity in identities.items():
        if identity.subject:
            docs.setdefault(identity.subject, []).append(doc_id)
    out = {}
    for subject, ids in docs.items():
        texts = (page.text for doc_id in ids for page in store.pages(doc_id))
        if name := nickname(subject, texts):
            out[subject] = name
    return out


def generate_fact_questions(project: Project) -> FactQuestionReport:
    """Template questions and reference answers for the top facts of every document."""
    store = project.store
    g = project.settings.generate
    report = FactQuestionReport()
    identities = store.document_identities()
    splits = document_splits(store.documents(), project.settings.curate)
    asked: set[tuple[Any, ...]] = set()  # (subject, metric, period, amount, outlook) already asked
    # a figure that several documents state (a call repeats its release) is asked once, by the first
    # document in the order test, train, val: twice in one split would weigh it double in training against
    # the figures stated once; in two splits, curation would reject one as a duplicate or a test leak, and
    # the figure belongs where the split needs it most (held out in test, else trained on)
    order = sorted(identities.items(), key=lambda kv: (SPLIT_PRIORITY.get(splits.get(kv[0]) or "", 3), kv[0]))
    planned: list[tuple[DocumentIdentity, StoredFact, str]] = []  # (identity, fact, unit key), as now set
    nicknames = _nicknames(store, identities)
    for doc_id, identity in order if g.phrasings_per_fact else []:  # 0 phrasings: no fact questions
        ranked = rank_facts(store.facts(doc_id, usable=True), identity.period)
        ranked = [f for f in ranked if _same_fact(f) not in asked]
        if g.max_facts_per_document:
            ranked = ranked[: g.max_facts_per_document]
        asked |= {_same_fact(f) for f in ranked}
        planned += [
            (identity, f, _work_key(f, g.phrasings_per_fact, nicknames.get(f.subject or ""))) for f in ranked
        ]
    # questions made under other settings or templates go (fewer phrasings, fewer facts, 0: none)
    store.drop_stale_fact_questions({key for _, _, key in planned})
    done = store.done_work_keys()
    chunks: dict[int, list[Chunk]] = {}
    for identity, f, key in planned:
        if key in done:
            continue
        if f.document_id not in chunks:
            chunks[f.document_id] = store.chunks(f.document_id)
        chunk = chunk_holding(f, chunks[f.document_id])
        made = template_questions(
            to_fact(f), period_from_json(identity.period), nicknames.get(f.subject or "")
        )
        made = select_phrasings(made, g.phrasings_per_fact, f"{f.subject}|{f.metric}|{f.period}")
        if chunk is None or not made:
            report.skipped_no_chunk += chunk is None
            continue
        unit = GenerationUnit(key, chunk.id, None, KIND, 0, GENERATOR, TEMPLATE_SHA, "ok", len(made))
        store.record_fact_questions(unit, f.id, [(t.question, t.answer) for t in made], TEMPLATE_SHA)
        report.facts += 1
        report.questions += len(made)
    return report
