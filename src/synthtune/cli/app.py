"""The ``synthtune`` commands: a thin Typer layer. Each command parses its options, calls the library and
hands the result to :mod:`synthtune.cli.render`.

Errors a user can cause print one line and set the exit status, never a traceback: a
:class:`~synthtune.errors.SynthtuneError` (exit status 1, or its own), a usage error (a mistyped command
or option, a missing argument, a bad value: exit status 2), an output folder that cannot be written.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.markup import escape

# typer 0.29 raises its own copy of click's exceptions (not the `click` package's): a usage error is one
# of these, whichever click is installed
from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError

from synthtune.cli.render import (
    PhaseProgress,
    brief,
    console,
    emit_json,
    err_console,
    print_error,
    print_eval,
    print_example,
    print_examples,
    print_hits,
    print_status,
    progress_bar,
)
from synthtune.errors import SynthtuneError
from synthtune.paths import ensure_writable_dir, os_reason

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")

app = typer.Typer(
    name="synthtune",
    help="Turn a folder of documents into a cited knowledge base, a grounded synthetic QA dataset, "
    "a fine-tuned model and a report that shows whether it got better.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

ProjectOpt = Annotated[
    Path | None,
    typer.Option(
        "-C",
        "--project",
        help="Project folder (holds synthtune.yaml and synthtune.db). Default: current folder.",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]


@app.callback()
def _root(
    ctx: typer.Context,
    project: ProjectOpt = None,
) -> None:
    ctx.obj = {"project": project}


def _project_dir(ctx: typer.Context, project: Path | None) -> Path:
    if project is not None:
        return project
    root = (ctx.obj or {}).get("project") if ctx.obj else None
    return root if root is not None else Path(".")


def _open(ctx: typer.Context, project: Path | None):
    from synthtune.project import Project

    d = _project_dir(ctx, project)
    if not d.is_dir():
        raise SynthtuneError(f"project folder {d} does not exist (create it with `synthtune init {d}`)")
    return Project(d)


@contextlib.contextmanager
def _writing(what: str) -> Iterator[None]:
    """An output folder that cannot be written (permissions, a file in the way, a full disk) is a user's
    error: one line naming the path, not a traceback."""
    try:
        yield
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        raise SynthtuneError(f"cannot write the {what}{where}: {os_reason(exc)}") from None


# ---------------------------------------------------------------------------------------------------


@app.command()
def init(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(help="Project folder to create or fill.")] = Path("."),
    corpus: Annotated[
        list[str] | None,
        typer.Option("--corpus", help="Documents folder to record in ingest.paths (repeatable)."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing synthtune.yaml.")] = False,
) -> None:
    """Write DIRECTORY/synthtune.yaml with every setting, its default and what it does."""
    from synthtune.project import init_project

    ensure_writable_dir(directory, "project folder")
    path = init_project(directory, corpus=corpus, force=force)
    console.print(f"wrote [bold]{escape(str(path))}[/]")


@app.command()
def ingest(
    ctx: typer.Context,
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Files or folders (recursive). Default: ingest.paths.")
    ] = None,
    password: Annotated[str | None, typer.Option("--password", help="Password for encrypted PDFs.")] = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Parse documents into pages and chunks, embed them and index them for search.

    Incremental: unchanged files are skipped, changed files replace their old version.
    Exit status 1 when any file failed (the others are still stored).
    """
    with _open(ctx, project) as p, progress_bar() as prog:
        task = prog.add_task("ingest", total=None, note="")
        report = p.ingest(
            paths or None,
            password=password,
            progress=lambda total: prog.update(task, total=total),
            on_file=lambda path, status: prog.update(task, advance=1, note=f"{status}: {path.name}"),
        )
    if as_json:
        emit_json(
            {
                k: v
                for k, v in report.to_json().items()
                if k
                in ("added", "updated", "rechunked", "unchanged", "failed", "chunks", "pages", "ocr_pages")
            }
            | {"warnings": report.warnings}
        )
    else:
        console.print(
            f"added {report.added}, updated {report.updated}, re-chunked {report.rechunked}, "
            f"unchanged {report.unchanged}, {report.pages} pages read"
            + (f" ({report.ocr_pages} by OCR)" if report.ocr_pages else "")
            + ", "
            f"failed {len(report.failed)}; {report.chunks} chunks written, {report.embedded} passages embedded"
        )
        for w in report.warnings:
            err_console.print(
                f"[yellow]warning[/] {escape(w['path'])}: {escape(w['warning'])}", soft_wrap=True
            )
    for f in report.failed:
        err_console.print(f"[red]failed[/] {escape(f['path'])}: {escape(f['error'])}", soft_wrap=True)
    if report.failed:
        raise typer.Exit(1)


@app.command()
def search(
    ctx: typer.Context,
    query: Annotated[str | None, typer.Argument(help="What to look for, in plain words.")] = None,
    k: Annotated[int | None, typer.Option("-k", help="Number of results. Default: search.k.")] = None,
    mode: Annotated[
        str | None, typer.Option("--mode", help="hybrid, dense or lexical. Default: search.mode.")
    ] = None,
    queries: Annotated[
        Path | None,
        typer.Option(
            "--queries",
            help="Answer many queries with one model load: a text file with one query per line, or JSON "
            "lines with a 'query' or 'question' field. With --json, one JSON object per line.",
        ),
    ] = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Search the knowledge base; every result cites its document, pages and character span.

    A company (name or ticker) or a period ("Q2 2023", "fiscal 2024") named in the query narrows the
    search to the documents about it or ranks them higher (search.subject_match, search.period_match);
    the line under the results says which."""
    if query is None and queries is None:
        raise UsageError("Missing argument 'query'. Give a QUERY or --queries FILE.", ctx=ctx)
    if query is not None and queries is not None:
        raise UsageError("give a QUERY or --queries FILE, not both", ctx=ctx)
    with _open(ctx, project) as p:
        if queries is not None:
            _search_many(p, read_queries(queries), k, mode, as_json)
            return
        assert query is not None
        hits, scope = p.search_scoped(query, k=k, mode=mode)
        n_docs = p.store.kb_counts().documents
    if as_json:
        emit_json({"query": query, "scope": scope.to_json(), "results": [h.to_json() for h in hits]})
        return
    print_hits(hits, query)
    if line := scope.describe(n_docs):
        err_console.print(escape(line), style="dim", soft_wrap=True)


def read_queries(path: Path) -> list[str]:
    """The queries of a --queries file: one per line, or JSON lines with 'query' or 'question'."""
    import json

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SynthtuneError(
            f"cannot read {path}: {os_reason(exc) if isinstance(exc, OSError) else exc}"
        ) from None
    out = []
    for n, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        if line.startswith("{"):
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise SynthtuneError(f"{path}:{n}: not valid JSON ({exc.msg})") from None
            q = row.get("query") or row.get("question") if isinstance(row, dict) else None
            if not isinstance(q, str) or not q.strip():
                raise SynthtuneError(f"{path}:{n}: no 'query' or 'question' text")
            line = q
        out.append(line)
    if not out:
        raise SynthtuneError(f"{path} holds no queries")
    return out


def _search_many(p, batch: list[str], k: int | None, mode: str | None, as_json: bool) -> None:
    """Each query in turn on one loaded model; a query that fails is reported and the rest go on."""
    import json
    import time

    failed, times = 0, []
    n_docs = p.store.kb_counts().documents
    for q in batch:
        t0 = time.perf_counter()
        try:
            hits, scope = p.search_scoped(q, k=k, mode=mode)
        except SynthtuneError as exc:
            failed += 1
            if as_json:
                sys.stdout.write(json.dumps({"query": q, "error": str(exc)}, ensure_ascii=False) + "\n")
            else:
                print_error(f"{q!r}: {exc}")
            continue
        times.append(time.perf_counter() - t0)
        if as_json:
            row = {"query": q, "scope": scope.to_json(), "results": [h.to_json() for h in hits]}
            sys.stdout.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
        else:
            console.rule(escape(q), style="dim")
            print_hits(hits, q)
            if line := scope.describe(n_docs):
                err_console.print(escape(line), style="dim", soft_wrap=True)
    if times:
        times.sort()
        err_console.print(
            f"{len(times)} queries answered, {failed} failed; median {1000 * times[len(times) // 2]:.0f} ms per query",
            style="dim",
        )
    if failed:
        raise typer.Exit(1)


@app.command()
def status(ctx: typer.Context, project: ProjectOpt = None, as_json: JsonOpt = False) -> None:
    """Counts per stage, embeddings per model, pages without text, failures."""
    from synthtune.pipeline import pipeline_status
    from synthtune.synth.examples import dataset_status

    with _open(ctx, project) as p:
        st = p.status()
        st["dataset"] = dataset_status(p.store)
        st["pipeline"] = pipeline_status(p)
    if as_json:
        emit_json(st)
        return
    print_status(st)


@app.command()
def reembed(ctx: typer.Context, project: ProjectOpt = None, as_json: JsonOpt = False) -> None:
    """Embed every chunk with embedding.model and make it the model that search uses."""
    with _open(ctx, project) as p, progress_bar() as prog:
        task = prog.add_task("embed", total=None, note="")

        def progress(n: int) -> None:
            if n >= 0:
                prog.update(task, total=n)
            else:
                prog.update(task, advance=-n)

        result = p.reembed(progress=progress)
    if as_json:
        emit_json(result)
    else:
        console.print(
            f"{result['chunks']} chunks now searchable with {result['model']} ({result['embedded']} embedded)"
        )


@app.command("export-index")
def export_index(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(help="Folder to write LlamaIndex's persisted layout into.")],
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write the knowledge base as a LlamaIndex persist dir (default__vector_store.json, docstore.json, index_store.json)."""
    from synthtune.interop.llamaindex import export_index as do_export

    with _open(ctx, project) as p, _writing("index folder"):
        result = do_export(p, directory)
    if as_json:
        emit_json(result)
    else:
        console.print(f"wrote {result['nodes']} nodes to {escape(str(directory))}")


@app.command("import-index")
def import_index(
    ctx: typer.Context,
    directory: Annotated[
        Path, typer.Argument(help="A LlamaIndex persist dir (default__vector_store.json, docstore.json).")
    ],
    model: Annotated[
        str | None,
        typer.Option("--model", help="Embedding model that made the vectors, if the files do not say."),
    ] = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Read a LlamaIndex persist dir into this store: text, metadata, embeddings and model name."""
    from synthtune.interop.llamaindex import import_index as do_import

    with _open(ctx, project) as p:
        result = do_import(p, directory, model=model)
    if as_json:
        emit_json(result)
    else:
        console.print(
            f"imported {result['documents']} documents, {result['chunks']} chunks from {escape(str(directory))}"
        )


@app.command()
def generate(
    ctx: typer.Context,
    limit_chunks: Annotated[
        int | None, typer.Option("--limit-chunks", help="Only the first N chunks (document order).")
    ] = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write questions for each chunk with the question_writer model, then answer them from the store with citations.

    Incremental and crash-safe: a re-run with the same inputs and settings adds nothing; an interrupted
    run goes on where it stopped.
    """
    from synthtune.synth.generate import generate as do_generate

    with _open(ctx, project) as p, progress_bar() as prog:
        report = do_generate(p, limit_chunks=limit_chunks, progress=PhaseProgress(prog))
    data = report.to_json()
    if as_json:
        emit_json(
            {k: data[k] for k in ("questions_added", "answers_added", "failed")}
            | {
                "rejected_questions": data["rejected_questions"],
                "by_reason": data["by_reason"],
                "units_skipped": data["units_skipped"],
            }
        )
    else:
        console.print(
            f"questions added {report.questions_added} (rejected {report.rejected_questions}), "
            f"answers added {report.answers_added}, failed {report.failed}, "
            f"already done {report.units_skipped}"
        )
        if report.by_reason:
            console.print(
                "rejected questions by reason: "
                + ", ".join(f"{k} {v}" for k, v in sorted(report.by_reason.items()))
            )


@app.command()
def curate(
    ctx: typer.Context,
    no_coverage: Annotated[
        bool, typer.Option("--no-coverage", help="Do not generate more for uncovered chunks.")
    ] = False,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Check every example (grounded numbers, citations, refusals, length, judges), drop near-duplicates,
    give uncovered chunks more attempts, and split by document into train / val / test."""
    from synthtune.synth.curate import curate as do_curate

    with _open(ctx, project) as p, progress_bar() as prog:
        report = do_curate(p, progress=PhaseProgress(prog), coverage=not no_coverage)
    data = report.to_json()
    if as_json:
        emit_json(data)
        return
    console.print(
        f"accepted {report.accepted}, rejected {report.rejected}; splits "
        + ", ".join(f"{k} {v}" for k, v in report.splits.items())
    )
    if report.by_check:
        console.print(
            "rejected by check: " + ", ".join(f"{k} {v}" for k, v in sorted(report.by_check.items()))
        )
    cov = report.coverage
    if cov:
        console.print(
            f"coverage: {cov['chunks_covered']}/{cov['chunks_attempted']} chunks have an accepted example"
        )
    if report.reviews_kept or report.reviews_orphaned:
        console.print(
            f"reviews: {report.reviews_kept} reviewed examples came back unchanged after a re-ingest and keep "
            f"their reviews; {report.reviews_orphaned} did not come back (their reviews are kept, unused)"
        )


@app.command()
def export(
    ctx: typer.Context,
    format_: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="alpaca, sharegpt, messages or completion (default: export.format).",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Folder to write (default: export.out, relative to the project).",
            show_default=False,
        ),
    ] = None,
    with_context: Annotated[
        bool | None,
        typer.Option(
            "--with-context/--closed-book",
            help="Rows with the question's retrieved passages and a cited answer, or question and answer only (default: export.with_context).",
            show_default=False,
        ),
    ] = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write the accepted examples per split (train/val/test.jsonl) in a trainer format, with a dataset card,
    manifest.json, lineage.jsonl, axolotl.yaml and LLaMA-Factory's dataset_info.json.

    The same store and settings give byte-identical files.
    """
    from synthtune.export import export_dataset

    with _open(ctx, project) as p, progress_bar() as prog:
        task = prog.add_task("export", total=None, note="")

        def progress(total: int | None, advance: int) -> None:
            if total is not None:
                prog.update(task, total=total)
            prog.update(task, advance=advance)

        # a relative --out is relative to the current folder, like every path on the command line
        with _writing("export folder"):
            result = export_dataset(
                p,
                format=format_,
                out=out.resolve() if out else None,
                with_context=with_context,
                progress=progress,
            )
    if as_json:
        emit_json(
            {
                "out": result["out"],
                "rows": result["rows"],
                "format": result["format"],
                "with_context": result["with_context"],
                "files": result["files"],
                "sha256": result["sha256"],
            }
        )
        return
    rows = result["rows"]
    kind = "with context" if result["with_context"] else "closed-book"
    console.print(
        f"exported {sum(rows.values())} rows ({result['format']}, {kind}): train {rows['train']}, "
        f"val {rows['val']}, test {rows['test']} -> {result['out']}"
    )


@app.command()
def train(
    ctx: typer.Context,
    base: Annotated[
        str | None,
        typer.Option(
            "--base",
            help="Base model (default: train.base_model, the bundled SmolLM2-135M-Instruct).",
            show_default=False,
        ),
    ] = None,
    max_steps: Annotated[
        int | None,
        typer.Option(
            "--max-steps",
            help="Stop after N optimizer steps (default: train.max_steps or epochs).",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Adapter folder (default: PROJECT/adapter).", show_default=False),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue from the newest checkpoint in the adapter folder.")
    ] = False,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Train a LoRA (or QLoRA, train.qlora) adapter on the train split; eval loss on the val split.

    Loss is on the assistant answer only, checked on the tokenized rows before training starts.
    """
    from synthtune.train.stage import train_project

    with _open(ctx, project) as p, progress_bar() as prog:
        task = prog.add_task("train", total=None, note="")

        def progress(ev) -> None:  # a synthtune.train.trainer.TrainProgress
            note = f"loss {ev.loss:.4f}" if ev.loss is not None else ""
            if ev.eval_loss is not None:
                note += f" eval {ev.eval_loss:.4f}"
            if ev.tokens_per_s:
                note += f" {ev.tokens_per_s:.0f} tok/s"
            prog.update(task, total=ev.max_steps, completed=ev.step, note=note)

        result = train_project(
            p,
            base_model=base,
            max_steps=max_steps,
            out=out.resolve() if out else None,
            resume=resume,
            progress=progress,
        )
    if as_json:
        emit_json(result)
        return
    console.print(
        f"adapter {result['adapter_dir']}: {result['steps']} steps, train loss {result['train_loss_first']} -> "
        f"{result['train_loss_last']}, val loss {result['eval_loss_before']} -> {result['eval_loss']}, "
        f"{result['tokens_per_s']:.0f} tokens/s, {result['n_rows_dropped']} rows dropped as too long"
    )


@app.command()
def merge(
    ctx: typer.Context,
    adapter: Annotated[
        Path | None,
        typer.Option(
            "--adapter", help="Adapter folder (default: the project's latest training).", show_default=False
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Merged model folder (default: PROJECT/merged).", show_default=False),
    ] = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Merge the adapter into an unquantized copy of its base; saves safetensors, tokenizer and chat template."""
    from synthtune.train.stage import merge_project

    with _open(ctx, project) as p:
        result = merge_project(
            p, adapter=adapter.resolve() if adapter else None, out=out.resolve() if out else None
        )
    if as_json:
        emit_json(result)
    else:
        console.print(f"merged model in {result['merged_dir']}")


@app.command("export-model")
def export_model(
    ctx: typer.Context,
    format_: Annotated[
        str, typer.Option("--format", help="Model file format: gguf (llama.cpp, Ollama, LM Studio).")
    ] = "gguf",
    quant: Annotated[
        str,
        typer.Option(
            "--quant",
            help="f16 (float16 weights), f32 (the merged weights unchanged, twice the size of f16), q8_0 "
            "(about half of f16) or q4_0 (about a third, lossy).",
        ),
    ] = "f16",
    model: Annotated[
        Path | None,
        typer.Option(
            "--model",
            help="Model folder to export (default: the project's latest merge).",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="The .gguf file (default: PROJECT/gguf/QUANT/NAME-QUANT.gguf); Modelfile, README.md and "
            "manifest.json are written beside it.",
            show_default=False,
        ),
    ] = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write the tuned model as one GGUF file with its chat template, an Ollama Modelfile and a manifest."""
    from synthtune.train.gguf import export_model as do_export

    with _open(ctx, project) as p:
        result = do_export(
            p,
            fmt=format_,
            quant=quant,
            model=model.resolve() if model else None,
            out=out.resolve() if out else None,
        )
    if as_json:
        emit_json(result)
        return
    console.print(
        f"{result['path']} ({result['quant']}, {result['size_bytes'] / 2**20:.0f} MiB, "
        f"sha256 {result['sha256'][:12]}) in {result['seconds']:.0f} s"
    )
    for note in result["notes"]:
        console.print(f"note: {note}")
    console.print(
        f"run it: llama-cli -m {result['path']} -cnv   or   ollama create NAME -f {result['files']['Modelfile']}"
    )


@app.command("eval")
def eval_(
    ctx: typer.Context,
    adapter: Annotated[
        Path | None,
        typer.Option("--adapter", help="Tuned system: this LoRA adapter on its base.", show_default=False),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="Tuned system: this model folder or hub id (default: the latest merge, else the latest adapter).",
            show_default=False,
        ),
    ] = None,
    questions: Annotated[
        Path | None,
        typer.Option(
            "--questions",
            help="Gold questions (JSONL: question, answer, optional document, page); default: eval.gold.",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Report folder (default: eval.out, PROJECT/report).", show_default=False),
    ] = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Compare base, tuned, base+rag, tuned+rag (and reference systems) on held-out questions.

    Writes results.json and a self-contained report.html (charts, intervals, every answer with its
    sources) and records the evaluation in the store.
    """
    from synthtune.evaluate.run import evaluate

    with _open(ctx, project) as p, progress_bar() as prog:
        results = evaluate(
            p,
            adapter=adapter,
            model=model,
            questions_file=questions.resolve() if questions else None,
            out=out.resolve() if out else None,
            progress=PhaseProgress(prog),
        )
    if as_json:
        emit_json(
            {k: v for k, v in results.items() if k != "questions"} | {"questions": len(results["questions"])}
        )
        return
    print_eval(results)


@app.command()
def run(
    ctx: typer.Context,
    only: Annotated[
        list[str] | None,
        typer.Option(
            "--only",
            help="Run only this stage (repeatable): ingest, facts, generate, curate, export, train, merge, eval.",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Run every stage even when nothing changed.")
    ] = False,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Every stage in order (ingest, facts, generate, curate, export, train, merge, eval) as synthtune.yaml says.

    Resumable: run it again after an interruption and it goes on where it stopped. A stage whose inputs
    and settings have not changed since it last finished is skipped.
    """
    from synthtune.pipeline import StageFailed, run_pipeline

    def on_stage(r) -> None:
        if not as_json:
            word = {"ran": "[green]done[/]", "skipped": "[dim]skipped[/]", "failed": "[red]failed[/]"}[
                r.status
            ]
            extra = f" ({escape(r.reason)})" if r.reason else ""
            err_console.print(f"{r.stage:<9} {word} {r.seconds:6.1f} s{extra}", highlight=False)

    failed: StageFailed | None = None
    with _open(ctx, project) as p, progress_bar() as prog:
        try:
            results = run_pipeline(p, only=only, force=force, progress=PhaseProgress(prog), on_stage=on_stage)
        except StageFailed as exc:
            failed, results = exc, exc.results
    summary = {
        "ran": [r.stage for r in results if r.status == "ran"],
        "skipped": [r.stage for r in results if r.status == "skipped"],
        "failed": [r.stage for r in results if r.status == "failed"],
        "stages": [r.to_json() for r in results],
    }
    evals = [r for r in results if r.stage == "eval" and r.status != "failed"]
    if evals:
        summary["report"] = evals[0].summary.get("report")
        summary["headline"] = evals[0].summary.get("headline", [])
    warnings = [r.summary["warning"] for r in results if r.summary.get("warning")]
    if as_json:
        emit_json(summary)
    else:
        for r in results:
            if r.stage in ("generate", "curate", "export", "train") and r.status != "failed":
                console.print(f"{r.stage}: {brief(r.summary)}", highlight=False)
        for line in summary.get("headline", []):
            console.print(line)
        if summary.get("report"):
            console.print(f"report: {summary['report']}")
    if failed is not None:
        raise failed
    if warnings:
        err_console.print(f"[yellow]warning:[/] {'; '.join(warnings)}", highlight=False)
        raise typer.Exit(1)


examples_app = typer.Typer(
    help="Look at the dataset: examples with their source, checks and lineage.", no_args_is_help=True
)
app.add_typer(examples_app, name="examples")


@examples_app.command("list")
def examples_list(
    ctx: typer.Context,
    split: Annotated[str | None, typer.Option("--split", help="train, val or test.")] = None,
    status_: Annotated[str | None, typer.Option("--status", help="accepted or rejected.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="At most N rows.")] = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List examples with question, answer, split, status, source page and the models and prompt that made them."""
    from synthtune.synth.examples import list_examples

    with _open(ctx, project) as p:
        rows = list_examples(p.store, split=split, status=status_, limit=limit)
    if as_json:
        emit_json(rows)
        return
    print_examples(rows)


@examples_app.command("show")
def examples_show(
    ctx: typer.Context,
    example_id: Annotated[int, typer.Argument(help="Example id (from `synthtune examples list`).")],
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show one example with its source passage; the answer's numbers are highlighted where they appear."""
    from synthtune.synth.examples import get_example

    with _open(ctx, project) as p:
        ex = get_example(p.store, example_id)
    if as_json:
        emit_json(ex)
        return
    print_example(ex)


@app.command()
def ask(
    ctx: typer.Context,
    question: Annotated[str, typer.Argument(help="The question, in plain words.")],
    k: Annotated[int | None, typer.Option("-k", help="Passages to retrieve. Default: eval.k.")] = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Answer a question from the documents with the tuned model (the base model when none), citing its sources."""
    from synthtune.ask import ask as ask_question

    with _open(ctx, project) as p:
        result = ask_question(p, question, k=k)
    if as_json:
        emit_json(result.to_json())
        return
    console.print(escape(result.answer or "(no answer)"), soft_wrap=True)
    for c in result.citations:
        console.print(
            f"  [{c.n}] {escape(c.title)}, {c.pages}, chars {c.char_start}-{c.char_end}",
            highlight=False,
            soft_wrap=True,
        )
    err_console.print(f"answered by the {escape(result.model.describe())}", style="dim", soft_wrap=True)


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[
        str, typer.Option("--host", help="Address to bind. Anything but loopback needs a token.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8000,
    project: ProjectOpt = None,
) -> None:
    """Ask, see cited pages, review the dataset and follow the runs in a browser."""
    import uvicorn

    from synthtune.web import Guard, create_app

    guard = Guard.for_host(host, os.environ.get("SYNTHTUNE_TOKEN") or None)
    with _open(ctx, project) as p:
        web = create_app(p, guard)
        shown = f"[{host}]" if ":" in host else host
        url = f"http://{shown}:{port}/"
        if guard.token is not None:
            url += f"?token={guard.token}"
            err_console.print(
                "bound beyond this machine: every request needs the token in this link", soft_wrap=True
            )
        console.print(
            f"synthtune is serving {escape(str(p.dir.resolve()))} at {url}", highlight=False, soft_wrap=True
        )
        uvicorn.run(web, host=host, port=port, log_level="warning")


facts_app = typer.Typer(
    help="Look at the facts: each figure with its subject, metric, period and place.", no_args_is_help=True
)
app.add_typer(facts_app, name="facts")


@facts_app.command("list")
def facts_list(
    ctx: typer.Context,
    document: Annotated[
        str | None, typer.Option("--document", help="Only this document: a file name, glob or id.")
    ] = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List facts: metric, period, value and unit, where each is written, and any problems that keep it
    from becoming a question."""
    from rich.table import Table

    from synthtune.synth.facts_stage import list_facts

    with _open(ctx, project) as p:
        rows = list_facts(p, document)
    if as_json:
        emit_json(rows)
        return
    table = Table("id", "document", "metric", "period", "value", "page", "problems")
    for r in rows:
        table.add_row(
            str(r["id"]), escape(r["document"]), escape(r["metric"]), escape(r["period_label"] or "-"),
            escape(r["raw"]), str(r["page"]), escape("; ".join(r["problems"])),
        )  # fmt: skip
    console.print(table)
    console.print(f"{len(rows)} facts")


@facts_app.command("show")
def facts_show(
    ctx: typer.Context,
    fact_id: Annotated[int, typer.Argument(help="Fact id (from `synthtune facts list`).")],
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show one fact with its document's identity and the text around it."""
    from synthtune.synth.facts_stage import show_fact

    with _open(ctx, project) as p:
        row = show_fact(p, fact_id)
    if as_json:
        emit_json(row)
        return
    for key, value in row.items():
        console.print(f"[bold]{key}[/bold]: {escape(str(value))}")


store_app = typer.Typer(help="Move a project's store between SQLite and PostgreSQL.", no_args_is_help=True)
app.add_typer(store_app, name="store")


@store_app.command("copy")
def store_copy(
    ctx: typer.Context,
    src: Annotated[str, typer.Argument(help="Project folder, .db file or postgresql://user@host:port/db.")],
    dst: Annotated[str, typer.Argument(help="An empty store: a new folder or .db file, or postgresql://...")],
    as_json: JsonOpt = False,
) -> None:
    """Copy every table of SRC into the empty store DST and verify row counts and checksums per table.
    PostgreSQL passwords come from the variable named by store.password_env (default SYNTHTUNE_PG_PASSWORD)."""
    from synthtune.config import load_settings
    from synthtune.store.transfer import copy_urls

    settings = load_settings(_project_dir(ctx, None)).store
    copied = copy_urls(src, dst, settings)
    if as_json:
        emit_json([{"table": c.table, "rows": c.rows, "checksum": c.checksum} for c in copied])
        return
    for c in copied:
        console.print(f"{c.table:<18} {c.rows:>9} rows  sha256 {c.checksum[:16]}", highlight=False)
    console.print(f"copied and verified {sum(c.rows for c in copied)} rows", highlight=False)


def _quiet_libraries() -> None:
    """Library chatter (weight-loading bars, tokenizer length notes) is not for our users."""
    import logging
    import warnings

    # environment, not imports: importing transformers here would cost every command a few seconds
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    for name in (
        "transformers",
        "sentence_transformers",
        "huggingface_hub",
        "datasets",
        "accelerate",
        "peft",
        "trl",
    ):
        logging.getLogger(name).setLevel(logging.ERROR)


def _usage_error(exc: UsageError) -> NoReturn:
    """A command-line mistake as one line and a pointer to the help, exit status 2 (click's own
    rendering prints the whole usage block)."""
    if isinstance(exc, NoArgsIsHelpError):  # `synthtune` or a group alone: the help is the answer
        exc.show()
        sys.exit(exc.exit_code)
    print_error(exc.format_message())
    if exc.ctx is not None:
        err_console.print(f"Try '{exc.ctx.command_path} --help'", highlight=False, soft_wrap=True)
    sys.exit(exc.exit_code)


def main() -> None:
    _quiet_libraries()
    try:
        # without standalone mode, click returns the exit status of typer.Exit instead of raising it
        code = app(prog_name="synthtune", standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except SynthtuneError as exc:
        print_error(str(exc))
        sys.exit(exc.exit_code)
    except UsageError as exc:
        _usage_error(exc)
    except ClickException as exc:
        print_error(exc.format_message())
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        err_console.print("interrupted; finished work is stored, run the command again to go on")
        sys.exit(130)


if __name__ == "__main__":
    main()
