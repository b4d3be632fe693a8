"""Facts before questions: table facts checked against TAT-QA's JSON cells, and counts on real releases.

1. TAT-QA dev (``../shared/data/tatqa/tatqa_dataset_dev.json``): each context's table is rendered as an
   HTML document, read back by the HTML loader (``load_html_text``) and ``ingest.tables.html_tables``,
   and turned into facts by ``synth.facts.table_facts``. Every fact is checked against the JSON cell it
   came from (located independently here, by finding the rendered JSON row in the page text): the value
   equals the cell's number, the metric holds the row label, and the period holds the column's header
   from the JSON (or the fact says it has none when the JSON column has no header). Precision = correct
   facts / facts (target >= 95%); recall = numeric JSON cells (body rows, label column excluded) that
   yield a fact / all of them.
2. The earnings releases (``../shared/data/earnings_releases``): tables found, facts per page (table and
   prose), documents whose subject and period were both found, and the share of PDF table cells whose
   character span reads back as the cell text from the loader's page text. Speed: ``pdf_tables`` per page
   next to the loader's own pass (both pypdfium2); pdfplumber, when importable, on the same pages.

    .venv/bin/python benchmarks/bench_facts.py
"""

from __future__ import annotations

import html
import json
import re
import time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from common import EARNINGS, SHARED_DATA, log, md_table, skipped

NAME = "facts"
TARGET = "TAT-QA table facts: precision >= 95% against the JSON cell they came from (recall reported)"
THRESHOLD = 0.95
TATQA = SHARED_DATA / "tatqa" / "tatqa_dataset_dev.json"
_YEAR = re.compile(r"^(?:19|20)\d\d$")


# ----------------------------------------------------------------------------------------- TAT-QA


def render(context: dict[str, Any]) -> str:
    """One TAT-QA context as an HTML document: its table, then its paragraphs."""
    rows = "\n".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>"
        for row in context["table"]["table"]
    )
    paragraphs = "\n".join(f"<p>{html.escape(p['text'])}</p>" for p in context.get("paragraphs", []))
    return f"<html><head><title>Annual report extract</title></head><body><table>\n{rows}\n</table>\n{paragraphs}</body></html>"


def json_number(text: str) -> Decimal | None:
    """An independent reading of a JSON cell: "$ (1,234.5)" -> -1234.5, "12.5%" -> 12.5."""
    t = " ".join(text.split())
    if not re.fullmatch(r"[$€£(\s−–-]*\d[\d,]*(?:\.\d+)?\s*%?\s*\)?\s*(?:%|bps)?", t) or _YEAR.match(t):
        return None
    negative = "(" in t and ")" in t or t.lstrip("$ ").startswith(("-", "−", "–"))
    digits = re.sub(r"[^\d.]", "", t)
    if digits.count(".") > 1 or not re.fullmatch(r"\d+(?:\.\d+)?", digits):
        return None
    try:
        value = Decimal(digits)
    except InvalidOperation:
        return None
    return -value if negative else value


def _words(text: str) -> str:
    """Letters and digits only, footnote marks ("(1)", "margin3") and "(%)" dropped: the label a reader reads."""
    text = re.sub(r"\(\d{1,2}\)|(?<=[a-z])\d{1,2}\b|\(%\)", " ", text.lower())
    return " ".join(re.findall(r"[a-z0-9]+", text))


def cell_map(table: list[list[str]], page_text: str) -> dict[int, tuple[int, int]]:
    """char offset of each rendered JSON cell -> (json row, json column), found in the page text."""
    out: dict[int, tuple[int, int]] = {}
    cursor = 0
    for i, row in enumerate(table):
        cells = [" ".join(c.split()) for c in row]
        if not any(cells):
            continue
        rendered = " | ".join(cells)
        at = page_text.find(rendered, cursor)
        if at < 0:
            continue
        cursor = at + len(rendered)
        pos = at
        for j, cell in enumerate(cells):
            out[pos] = (i, j)
            pos += len(cell) + 3
    return out


def header_rows(table: list[list[str]]) -> int:
    """Leading rows with no number outside the label column (read independently of the extractor)."""
    n = 0
    while n < len(table) and not any(json_number(c) is not None for c in table[n][1:]):
        n += 1
    return n


def check_tatqa(contexts: list[dict[str, Any]]) -> dict[str, Any]:
    from synthtune.ingest.loaders import load_html_text
    from synthtune.ingest.tables import html_tables
    from synthtune.synth.facts import table_facts

    n_facts = n_correct = n_cells = n_cells_with_fact = 0
    wrong: list[dict[str, Any]] = []
    reasons: dict[str, int] = {}
    for context in contexts:
        grid = context["table"]["table"]
        document = render(context)
        page_text = load_html_text(document, "tatqa").pages[0].text
        where = cell_map(grid, page_text)
        n_head = header_rows(grid)
        numeric = {
            (i, j)
            for i in range(n_head, len(grid))
            for j in range(1, len(grid[i]))
            if json_number(grid[i][j]) is not None and grid[i][0].strip()
        }
        n_cells += len(numeric)
        covered: set[tuple[int, int]] = set()
        for t_index, table in enumerate(html_tables(document, page_text)):
            for fact in table_facts(table, None, t_index):
                n_facts += 1
                problem = _check(fact, where, grid, n_head)
                if problem is None:
                    n_correct += 1
                else:
                    reasons[problem] = reasons.get(problem, 0) + 1
                    if len(wrong) < 12:
                        wrong.append({"uid": context["table"]["uid"], "problem": problem, "metric": fact.metric,
                                      "period": fact.period.text if fact.period else None, "raw": fact.raw})  # fmt: skip
                cell = where.get(fact.char_start) if fact.char_start is not None else None
                if cell in numeric:
                    covered.add(cell)
        n_cells_with_fact += len(covered)
    return {
        "contexts": len(contexts),
        "facts": n_facts,
        "correct": n_correct,
        "precision": n_correct / n_facts if n_facts else 0.0,
        "numeric_cells": n_cells,
        "cells_with_fact": n_cells_with_fact,
        "recall": n_cells_with_fact / n_cells if n_cells else 0.0,
        "wrong_by_reason": reasons,
        "wrong_examples": wrong,
    }


def _check(fact, where: dict[int, tuple[int, int]], grid: list[list[str]], n_head: int) -> str | None:  # noqa: ANN001
    cell = where.get(fact.char_start) if fact.char_start is not None else None
    if cell is None:
        return "cell not found in the page text"
    i, j = cell
    expected = json_number(grid[i][j])
    if expected is None or expected != fact.value:
        return "value differs from the JSON cell"
    label = next(
        (grid[r][0] for r in range(i, -1, -1) if grid[r][0].strip()), ""
    )  # a blank label: the one above
    if not label or _words(label) not in _words(fact.metric):
        return "metric is not the row label"
    headers = [" ".join(grid[r][j].split()) for r in range(n_head) if j < len(grid[r]) and grid[r][j].strip()]
    if not headers:
        return None if fact.period is None else "a period where the JSON column has no header"
    leaf = headers[-1]
    said = f"{fact.period.text if fact.period else ''} {fact.metric}"
    return None if leaf in said else "period is not the column header"


# ----------------------------------------------------------------------------------- earnings releases


def releases() -> dict[str, Any]:
    from synthtune.ingest.loaders import load_document
    from synthtune.ingest.tables import pdf_tables
    from synthtune.synth.facts import prose_facts, table_facts
    from synthtune.synth.templates import template_questions
    from synthtune.text.identity import document_identity

    files = sorted(EARNINGS.glob("*.pdf"))
    per_doc = []
    n_cells = n_spans_ok = 0
    load_s = tables_s = 0.0
    for path in files:
        start = time.perf_counter()
        doc = load_document(path)
        load_s += time.perf_counter() - start
        texts = [p.text for p in doc.pages]
        start = time.perf_counter()
        tables = pdf_tables(path, texts)
        tables_s += time.perf_counter() - start
        first = next((p.text for p in doc.pages if p.has_text), "")
        identity = document_identity(doc.title, first, path.name)
        tfacts = [f for i, t in enumerate(tables) for f in table_facts(t, identity, i)]
        pfacts = [f for p in doc.pages for f in prose_facts(p.text, identity, p.page_no)]
        for t in tables:
            for row in t.rows:
                for c in row.cells:
                    n_cells += 1
                    n_spans_ok += (
                        c.char_start is not None and texts[t.page_no - 1][c.char_start : c.char_end] == c.text
                    )
        with_text = sum(p.has_text for p in doc.pages)
        per_doc.append(
            {
                "file": path.name,
                "pages": len(doc.pages),
                "pages_with_text": with_text,
                "tables": len(tables),
                "tables_with_headers": sum(
                    1 for t in tables if not any("no header" in p for p in t.problems)
                ),
                "table_facts": len(tfacts),
                "prose_facts": len(pfacts),
                "facts_with_problems": sum(1 for f in tfacts + pfacts if f.problems),
                "template_questions": sum(len(template_questions(f)) for f in tfacts + pfacts),
                "subject": identity.subject,
                "period": identity.period.label if identity.period else None,
                "identity_found": bool(identity.subject and identity.period),
            }
        )
    plumber = _pdfplumber_pass(files)
    pages = sum(d["pages"] for d in per_doc)
    return {
        "documents": per_doc,
        "pages": pages,
        "cells": n_cells,
        "cells_span_ok": n_spans_ok,
        "load_s": load_s,
        "tables_s": tables_s,
        "pdfplumber": plumber,
    }


def _pdfplumber_pass(files: list[Path]) -> dict[str, Any] | None:
    """pdfplumber's ``extract_tables`` on the same files, when it is importable (it is not a dependency)."""
    try:
        import pdfplumber
    except ImportError:
        return None
    start = time.perf_counter()
    n_tables = n_pages = n_three_rows = 0
    for path in files:
        with pdfplumber.open(path) as pdf:
            for page in pdf.pages:
                n_pages += 1
                found = page.extract_tables()
                n_tables += len(found)
                n_three_rows += sum(1 for t in found if len(t) >= 3)
    return {
        "pages": n_pages,
        "tables": n_tables,
        "tables_3_rows": n_three_rows,
        "seconds": time.perf_counter() - start,
        "version": pdfplumber.__version__,
    }


# ------------------------------------------------------------------------------------------------ main


def main() -> dict[str, Any]:
    if not TATQA.is_file():
        return skipped(NAME, TARGET, f"{TATQA} is absent (TAT-QA lives in ../shared/data)")
    contexts = json.loads(TATQA.read_text(encoding="utf-8"))
    log(NAME, f"TAT-QA dev: {len(contexts)} contexts")
    tat = check_tatqa(contexts)
    passed = tat["precision"] >= THRESHOLD
    table = md_table(
        ["TAT-QA dev", "value"],
        [
            ["contexts (tables rendered as HTML)", tat["contexts"]],
            ["table facts", tat["facts"]],
            ["correct against the JSON cell (value, row label, column header)", tat["correct"]],
            ["**precision**", f"**{tat['precision']:.1%}** ({tat['correct']}/{tat['facts']})"],
            ["numeric body cells with a row label", tat["numeric_cells"]],
            [
                "... that yield a fact (**recall**)",
                f"**{tat['recall']:.1%}** ({tat['cells_with_fact']}/{tat['numeric_cells']})",
            ],
        ],
    )
    if tat["wrong_by_reason"]:
        table += "\n\nWrong facts by reason: " + ", ".join(
            f"{k}: {v}" for k, v in sorted(tat["wrong_by_reason"].items())
        )
    details: dict[str, Any] = {"tatqa": tat}
    if EARNINGS.is_dir():
        log(NAME, "earnings releases")
        rel = releases()
        docs = rel["documents"]
        found = sum(d["identity_found"] for d in docs)
        text_pages = sum(d["pages_with_text"] for d in docs)
        n_tables = sum(d["tables"] for d in docs)
        n_t = sum(d["table_facts"] for d in docs)
        n_p = sum(d["prose_facts"] for d in docs)
        table += "\n\n" + md_table(
            ["earnings releases", "value"],
            [
                ["documents", len(docs)],
                ["pages (with a text layer)", f"{rel['pages']} ({text_pages})"],
                [
                    "tables found (with every column headed)",
                    f"{n_tables} ({sum(d['tables_with_headers'] for d in docs)})",
                ],
                ["table facts / prose facts", f"{n_t} / {n_p}"],
                ["facts per page with text", f"{(n_t + n_p) / max(text_pages, 1):.1f}"],
                [
                    "facts carrying a problem (no header, unit unclear, ...)",
                    sum(d["facts_with_problems"] for d in docs),
                ],
                [
                    "template questions (from facts without a problem, >= 4 phrasings each)",
                    sum(d["template_questions"] for d in docs),
                ],
                ["**documents with subject and period found**", f"**{found}/{len(docs)}**"],
                [
                    "table cells whose char span reads back as the cell text",
                    f"{rel['cells_span_ok']}/{rel['cells']}",
                ],
                ["load_document, all pages (s)", f"{rel['load_s']:.2f}"],
                [
                    "pdf_tables, all pages (s)",
                    f"{rel['tables_s']:.2f} ({1000 * rel['tables_s'] / rel['pages']:.0f} ms/page)",
                ],
            ],
        )
        plumber = rel["pdfplumber"]
        if plumber:
            table += (
                f"\n\npdfplumber {plumber['version']} (not a dependency; importable when this ran) `extract_tables` "
                f"on the same pages: {plumber['tables']} tables, {plumber['tables_3_rows']} of them with 3 rows or "
                f"more, in {plumber['seconds']:.1f} s ({1000 * plumber['seconds'] / plumber['pages']:.0f} ms/page); "
                "its cells are strings with no offsets into the page text and no header resolution."
            )
        else:
            table += "\n\npdfplumber is not installed, so no side-by-side run here."
        missing = [
            f"{d['file']} (subject {d['subject']!r}, period {d['period']!r})"
            for d in docs
            if not d["identity_found"]
        ]
        if missing:
            table += "\n\nIdentity not found: " + "; ".join(missing) + "."
        details["releases"] = rel
    return {
        "name": NAME,
        "target": TARGET,
        "passed": passed,
        "headline": f"precision {tat['precision']:.1%}, recall {tat['recall']:.1%} (TAT-QA dev)",
        "table": table,
        "details": details,
    }


if __name__ == "__main__":
    result = main()
    print(result["table"])
