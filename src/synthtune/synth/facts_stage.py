"""The ``facts`` stage: each document's identity (subject, period, form) and its facts, in the store.

A document is (re)processed when the extractor it was processed with differs from the current one: the
sha256 of :data:`EXTRACTOR_VERSION` and the user's override for that document (settings ``documents:``
``{"<file glob>": {subject:, period:}}``), so editing one document's override re-derives only that
document's facts (and, through ``questions.fact_id``, drops only its template questions).

Tables are read as tables: for a PDF, from the character boxes of the file at ``source_path`` when its
sha256 still matches the stored document (else the document gets prose facts only and the reason);
HTML and DOCX from their structure, Markdown from pipe tables. A fact with problems is stored with them
and never becomes a question.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from synthtune.config import DocumentOverride
from synthtune.ingest.loaders import DOCX, HTML, MARKDOWN, PDF, decode_html
from synthtune.ingest.tables import Table, docx_tables, html_tables, markdown_tables, pdf_tables
from synthtune.project import Project
from synthtune.stages import Stage
from synthtune.store.facts import DocumentIdentity, StoredFact
from synthtune.store.kb import Document, Page
from synthtune.synth.facts import Fact, outlook_facts, prose_facts, spec_facts, table_facts
from synthtune.text.identity import DocIdentity, identify, override_for
from synthtune.text.periods import period_from_json, period_json

EXTRACTOR_VERSION = "facts-9"  # bump when table/prose extraction changes what a document yields


# ------------------------------------------------------------------------------ records <-> objects


def stored_fact(document_id: int, fact: Fact) -> StoredFact:
    return StoredFact(
        document_id=document_id,
        subject=fact.subject,
        metric=fact.metric,
        period=period_json(fact.period),
        value=str(fact.value),
        unit=fact.unit,
        scale=str(fact.scale),
        raw=fact.raw,
        page_no=fact.page_no,
        char_start=fact.char_start,
        char_end=fact.char_end,
        table_cell=list(fact.table_cell) if fact.table_cell is not None else None,
        source=fact.source,
        problems=list(fact.problems),
        value_high=str(fact.high) if fact.high is not None else None,
    )


def to_fact(f: StoredFact) -> Fact:
    return Fact(
        subject=f.subject,
        metric=f.metric,
        period=period_from_json(f.period),
        value=Decimal(f.value),
        unit=f.unit,
        scale=Decimal(f.scale),
        raw=f.raw,
        page_no=f.page_no,
        char_start=f.char_start,
        char_end=f.char_end,
        table_cell=(f.table_cell[0], f.table_cell[1], f.table_cell[2]) if f.table_cell else None,
        source=f.source,
        problems=tuple(f.problems),
        high=Decimal(f.value_high) if f.value_high is not None else None,
    )


def to_doc_identity(i: DocumentIdentity) -> DocIdentity:
    return DocIdentity(i.subject, period_from_json(i.period), i.form, i.ticker, tuple(i.reasons))


# ---------------------------------------------------------------------------------------- extraction


def extractor_sha(override: DocumentOverride | None) -> str:
    data = [EXTRACTOR_VERSION, override.model_dump(mode="json") if override else None]
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def identify_stored(doc: Document, pages: list[Page], override: DocumentOverride | None) -> DocIdentity:
    """The identity of a stored document (from its pages with text), with the user's override."""
    return identify(doc.title, [p.text for p in pages if p.has_text], doc.source_path, override)


def document_tables(doc: Document, pages: list[Page], reasons: list[str]) -> list[Table]:
    """The document's tables, read from the file where the format needs it; [] (with the reason) when the
    file is gone or changed since it was ingested."""
    if doc.media_type == MARKDOWN:
        return [t for p in pages for t in markdown_tables(p.text, p.page_no)]
    if doc.media_type not in (PDF, HTML, DOCX):
        return []
    path = Path(doc.source_path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        reasons.append(f"tables: {path.name} cannot be read ({exc.strerror or exc}); prose facts only")
        return []
    if hashlib.sha256(data).hexdigest() != doc.sha256:
        reasons.append(f"tables: {path.name} changed since it was ingested; prose facts only")
        return []
    texts = [p.text for p in pages]
    try:
        if doc.media_type == PDF:
            return pdf_tables(path, texts, password=doc.metadata.get("password"))
        if doc.media_type == HTML:
            return html_tables(decode_html(data)[0], texts[0] if texts else None)
        return docx_tables(path, texts[0] if texts else None)
    except Exception as exc:  # noqa: BLE001 - a table reader's failure costs the tables, not the document
        reasons.append(f"tables: could not be read ({type(exc).__name__}: {exc}); prose facts only")
        return []


def extract(
    doc: Document, pages: list[Page], override: DocumentOverride | None
) -> tuple[DocIdentity, list[Fact]]:
    """Identity and facts of one document (table facts first, then prose facts)."""
    identity = identify_stored(doc, pages, override)
    reasons = list(identity.reasons)
    tables = document_tables(doc, pages, reasons)
    facts = [f for i, t in enumerate(tables) for f in table_facts(t, identity, i)]
    facts += [f for p in pages if p.has_text for f in prose_facts(p.text, identity, p.page_no)]
    facts += [f for p in pages if p.has_text for f in spec_facts(p.text, identity, p.page_no)]
    facts += [f for p in pages if p.has_text for f in outlook_facts(p.text, identity, p.page_no)]
    return replace(identity, reasons=tuple(reasons)), facts


def extract_facts(project: Project, progress: Any = None) -> dict[str, Any]:
    """Facts for every document not yet processed with the current extractor and override."""
    store = project.store
    overrides = project.settings.documents
    done = store.fact_extractors()
    todo = []
    for doc in store.documents():
        override = override_for(doc.source_path, overrides)
        sha = extractor_sha(override)
        if done.get(doc.id) != sha:
            todo.append((doc, override, sha))
    if progress:
        progress("facts", len(todo), 0)
    n_facts = n_problems = 0
    for doc, override, sha in todo:
        identity, facts = extract(doc, store.pages(doc.id), override)
        record = DocumentIdentity(
            document_id=doc.id,
            subject=identity.subject,
            ticker=identity.ticker,
            form=identity.form,
            period=period_json(identity.period),
            reasons=list(identity.reasons),
            overridden=override is not None,
            extractor=sha,
        )
        store.write_facts(record, [stored_fact(doc.id, f) for f in facts])
        n_facts += len(facts)
        n_problems += sum(1 for f in facts if f.problems)
        if progress:
            progress("facts", None, 1)
    return {"documents": len(todo), "facts": n_facts, "facts_with_problems": n_problems}


STAGE = Stage(
    name="facts",
    settings=("documents",),
    inputs=lambda project: project.store.fingerprint("documents", ("id", "sha256")),
    run=extract_facts,
)


# ------------------------------------------------------------------------------------------- reading


def fact_row(f: StoredFact, source_path: str = "") -> dict[str, Any]:
    """A fact as ``synthtune facts list/show`` prints it."""
    return {
        "id": f.id,
        "document_id": f.document_id,
        "document": Path(source_path).name if source_path else "",
        "subject": f.subject,
        "metric": f.metric,
        "period": f.period_text,
        "period_label": (p.label if (p := period_from_json(f.period)) else None),
        "value": f.value,
        "value_high": f.value_high,
        "unit": f.unit,
        "scale": f.scale,
        "raw": f.raw,
        "page": f.page_no,
        "char_start": f.char_start,
        "char_end": f.char_end,
        "table_cell": f.table_cell,
        "source": f.source,
        "problems": f.problems,
    }


def list_facts(project: Project, document: str | None = None) -> list[dict[str, Any]]:
    """Facts of every document, or of the documents whose file name or path matches ``document`` (a glob
    or a document id)."""
    docs = {d.id: d for d in project.store.documents()}
    if document is not None:
        docs = {
            i: d
            for i, d in docs.items()
            if document == str(i)
            or fnmatch.fnmatch(Path(d.source_path).name, document)
            or fnmatch.fnmatch(d.source_path, document)
        }
    return [
        fact_row(f, docs[f.document_id].source_path) for f in project.store.facts() if f.document_id in docs
    ]


def show_fact(project: Project, fact_id: int) -> dict[str, Any]:
    """One fact with its document and the text around its span."""
    f = project.store.fact(fact_id)
    doc = next(d for d in project.store.documents() if d.id == f.document_id)
    row = fact_row(f, doc.source_path)
    page = next((p.text for p in project.store.pages(doc.id) if p.page_no == f.page_no), "")
    if f.char_start is not None and f.char_end is not None:
        row["context"] = page[max(0, f.char_start - 120) : f.char_end + 40]
    identity = project.store.document_identity(doc.id)
    if identity is not None:
        row["document_identity"] = {
            "subject": identity.subject,
            "period": identity.period.get("text") if identity.period else None,
            "form": identity.form,
            "reasons": identity.reasons,
        }
    return row
