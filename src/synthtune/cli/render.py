"""What the ``synthtune`` command prints: rich tables, progress bars and one-line summaries on the
terminal, JSON on stdout. The commands (:mod:`synthtune.cli.app`) call the library and hand its results
here."""

from __future__ import annotations

import json
import re
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

console = Console()
err_console = Console(stderr=True)


def print_error(message: str) -> None:
    """``error: <message>`` on stderr (rich may wrap a long one; it is still one message)."""
    err_console.print(f"[red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def progress_bar(transient: bool = True) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[note]}"),
        console=err_console,
        transient=transient,
        disable=not err_console.is_terminal,
    )


class PhaseProgress:
    """A rich progress bar per phase, fed by the library's (phase, total, advance) callbacks."""

    def __init__(self, prog: Progress):
        self.prog = prog
        self.tasks: dict[str, Any] = {}

    def __call__(self, phase: str, total: int | None, advance: int) -> None:
        if phase not in self.tasks:
            self.tasks[phase] = self.prog.add_task(phase, total=total, note="")
        elif total is not None:
            self.prog.update(self.tasks[phase], total=total, completed=0)
        if advance:
            self.prog.update(self.tasks[phase], advance=advance)


def snippet(text: str, query: str, width: int = 300) -> Text:
    from synthtune.search import _STOPWORDS, _WORD

    words = {w.lower() for w in _WORD.findall(query)} - _STOPWORDS
    flat = " ".join(text.split())
    lower = flat.lower()
    first = min((i for w in words if (i := lower.find(w)) >= 0), default=0)
    start = max(0, first - width // 3)
    piece = ("…" if start else "") + flat[start : start + width] + ("…" if start + width < len(flat) else "")
    out = Text(piece)
    for w in words:
        if len(w) > 1:
            out.highlight_regex(rf"(?i)\b{re.escape(w)}\w*", "bold yellow")
    return out


def print_hits(hits: list[Any], query: str) -> None:
    """Search results: title, pages, span, score and a snippet with the query's words highlighted."""
    if not hits:
        console.print("no results")
        return
    for i, h in enumerate(hits, 1):
        pages = f"p. {h.page_start}" if h.page_start == h.page_end else f"pp. {h.page_start}–{h.page_end}"
        console.print(
            f"[bold cyan]{i}.[/] [bold]{escape(h.title)}[/] — {pages}  "
            f"[dim]chars {h.char_start}–{h.char_end} · score {h.score:.4f} · chunk {h.chunk_id}[/]"
        )
        console.print(f"   [dim]{escape(h.source_path)}[/]")
        console.print(Text("   ") + snippet(h.text, query))
        console.print()


def print_status(st: dict[str, Any]) -> None:
    """``synthtune status``: the knowledge base, the dataset, the pipeline's stages and the report."""
    t = Table(title=f"synthtune project {st['project']}", show_header=False)
    for key in ("documents", "pages", "chunks", "embedding_model"):
        t.add_row(key, str(st[key]))
    for m in st["embeddings"]:
        t.add_row(
            "embeddings",
            f"{m['model']} (dim {m['dim']}): {m['chunks']} chunks, {m['vectors']} cached vectors",
        )
    console.print(t)
    for pg in st["pages_without_text"]:
        console.print(f"[yellow]no text layer[/] {escape(pg['document'])} p. {pg['page']} (scanned?)")
    for f in st["failures"]:
        console.print(f"[red]failed[/] {escape(f['path'])}: {escape(f['error'])}")
    if st["ocr_pages"]:
        console.print(f"{st['ocr_pages']} page(s) read by OCR")
    facts = st["facts"]
    if facts["facts"]:
        console.print(
            f"facts: {facts['facts']} from {facts['documents_with_facts']} documents, "
            f"{facts['facts_with_problems']} with a problem (never used)"
            + (
                "; " + ", ".join(f"{k} {v}" for k, v in list(facts["problems"].items())[:5])
                if facts["problems"]
                else ""
            )
        )
    for path in facts["documents_without_subject"]:
        console.print(f"[yellow]no subject[/] {escape(path)} (set it under documents: in synthtune.yaml)")
    for path in facts["documents_without_period"]:
        console.print(f"[yellow]no period[/] {escape(path)} (set it under documents: in synthtune.yaml)")
    ds = st["dataset"]
    if ds["questions"] or ds["examples"]["accepted"] or ds["examples"]["rejected"]:
        ex = ds["examples"]
        console.print(
            f"dataset: {ds['questions']} questions, {ds['answers']} answers, "
            f"{ex['accepted']} accepted / {ex['rejected']} rejected examples; splits {ex['splits']}"
        )
        if ds["rejection_rate_by_check"]:
            console.print(
                "rejection rate by check: "
                + ", ".join(f"{k} {v:.0%}" for k, v in ds["rejection_rate_by_check"].items())
            )
        cov = ds["coverage"]
        console.print(
            f"coverage: {cov['chunks_attempted'] - cov['chunks_uncovered']}/{cov['chunks_attempted']} "
            f"chunks have an accepted example; {ds['generation_failures']} generation failures"
        )
        for u in cov["uncovered"][:20]:
            console.print(
                f"  [yellow]uncovered[/] chunk {u['chunk_id']}: {escape(u['title'])} p. {u['page_start']}"
            )
    pipe = st["pipeline"]
    if pipe["stages"]:
        console.print(
            "synthtune run: "
            + ", ".join(
                f"{stage} {'unfinished' if r['status'] == 'running' else r['status']}"
                for stage, r in pipe["stages"].items()
            )
        )
    if pipe["report"]:
        console.print(f"report: {escape(pipe['report'])}")


def print_eval(results: dict[str, Any]) -> None:
    from synthtune.evaluate.run import headline

    metrics = ("numeric_match", "token_f1", "rouge_l", "semantic_similarity", "refusal_accuracy", "mrr")
    table = Table(title=f"{len(results['questions'])} questions", show_lines=False)
    table.add_column("system")
    for m in metrics:
        table.add_column(m, justify="right")
    for sys_ in results["systems"]:
        row = [sys_["name"]]
        for m in metrics:
            v = sys_["metrics"].get(m)
            row.append("-" if v is None else f"{v:.3f}")
        table.add_row(*row)
    console.print(table)
    for line in headline(results):
        console.print(line)
    for note in results.get("notes", []):
        console.print(f"[yellow]note:[/] {escape(note)}")
    console.print(f"report: {results['report']}")


def brief(summary: dict[str, Any]) -> str:
    parts = []
    for k, v in summary.items():
        if isinstance(v, float):
            parts.append(f"{k} {v:.4g}")
        elif isinstance(v, (int, str)) and k not in ("out", "adapter_dir", "format"):
            parts.append(f"{k} {v}")
        elif isinstance(v, dict) and k in ("rows", "splits"):
            parts.append(f"{k} " + "/".join(str(x) for x in v.values()))
    return ", ".join(parts)


def print_examples(rows: list[dict[str, Any]]) -> None:
    """``synthtune examples list``: one table row per example."""
    t = Table(show_lines=False)
    for col in ("id", "split", "status", "source", "question", "answer", "why"):
        t.add_column(col, overflow="fold")
    for r in rows:
        t.add_row(
            str(r["id"]),
            r["split"] or "",
            r["status"],
            f"{r['title'][:30]} p.{r['page_start']}",
            r["question"],
            (r["answer"] or "")[:160],
            ", ".join(r["reasons"]),
        )
    console.print(t)


def print_example(ex: dict[str, Any]) -> None:
    """``synthtune examples show``: an example with its checks, judgments and passages, the answer's numbers
    highlighted in them."""
    from synthtune.text.numbers import extract_numbers

    console.print(
        f"[bold]example {ex['id']}[/] · {ex['status']} · split {ex['split'] or '-'} · kind {ex['kind']}"
    )
    console.print(f"[bold]Q:[/] {escape(ex['question'])}")
    console.print(f"[bold]A:[/] {escape(ex['answer'] or '')}")
    console.print(
        f"[dim]question by {ex['question_generator']} (prompt {ex['prompt_sha'][:12]}), "
        f"answer by {ex['answer_generator']}, citations {ex['citations']}[/]"
    )
    for name, ok in sorted(ex["checks"].items()):
        console.print(f"  {'[green]pass[/]' if ok else '[red]fail[/]'} {name}")
    for j in ex["judgments"]:
        console.print(f"  judge {j['criterion']}: {j['score']} — {escape(j['rationale'][:200])}")
    numbers = [n.raw for n in extract_numbers(ex["answer"] or "")]
    for ps in ex["passages"]:
        console.print(
            f"\n[bold]{escape(ps['title'])}[/], p. {ps['page_start']} (chunk {ps['chunk_id']}, "
            f"chars {ps['char_start']}–{ps['char_end']})"
        )
        body = Text(ps["text"])
        for raw in numbers:
            body.highlight_words([raw], "bold black on yellow")
        console.print(body)
