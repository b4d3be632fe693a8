"""``synthtune export``: accepted examples -> per-split files in a trainer format, with the files that describe
them and the trainer configs that read them.

The export folder holds:

- ``train.jsonl``, ``val.jsonl``, ``test.jsonl``: the accepted examples of each split, ordered by example
  id, one JSON object per line (UTF-8, ``\\n``), with only the columns of the format (trainers may refuse
  unknown columns).
- ``lineage.jsonl``: one line per data row (split, row number) with its example, question, answer,
  document, pages, chunks, models and prompt hashes; the training files stay clean.
- ``dataset_card.md``: sources, counts, models, prompt hashes, checks and acceptance rates, license, how the
  data was made and how to load it.
- ``axolotl.yaml``: a QLoRA run of ``train.base_model`` on these files (run from the folder).
- ``dataset_info.json``: LLaMA-Factory's dataset registry for the three files.
- ``manifest.json``: sha256, size and row count of every other file, the settings used, versions.

Everything is a function of the store and the settings: no timestamps and no absolute paths, so the same
store and settings give byte-identical files wherever they are written. Context rows show the passages
frozen with each example when it was curated: export never searches, so ingesting other documents or
changing search settings does not change an exported row.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from synthtune.chat import Conversation, Passage, renumber_markers, strip_markers
from synthtune.config import Settings
from synthtune.errors import ConfigError, SynthtuneError
from synthtune.export.formats import (
    FORMATS,
    ChatTemplateRenderer,
    axolotl_dataset,
    llamafactory_entry,
    load_tokenizer,
    to_row,
)
from synthtune.project import Project
from synthtune.stages import Stage, StageProgress
from synthtune.store import Example, Store

SPLITS = ("train", "val", "test")
LINEAGE = "lineage.jsonl"
CARD = "dataset_card.md"
MANIFEST = "manifest.json"
AXOLOTL = "axolotl.yaml"
LLAMAFACTORY = "dataset_info.json"
MANIFEST_SCHEMA = "synthtune-export/1"

Progress = Callable[[int | None, int], None]  # (total or None, advance)


def export_dataset(
    project: Project,
    format: str | None = None,
    out: str | Path | None = None,
    with_context: bool | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Write the accepted examples of every split in ``format`` to ``out`` (default: ``export.*`` settings).

    Returns ``{"out", "format", "with_context", "rows": {"train", "val", "test"}, "files", "sha256"}``
    where ``sha256`` is the manifest's (which hashes every other file).
    """
    cfg = project.settings.export
    fmt = format or cfg.format
    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format '{fmt}': use {', '.join(FORMATS)}")
    context = cfg.with_context if with_context is None else with_context
    out_dir = project.resolve_path(out if out is not None else cfg.out)
    store = project.store

    examples = {split: store.reviewed_examples(status="accepted", split=split) for split in SPLITS}
    n_total = sum(len(v) for v in examples.values())
    if n_total == 0:
        raise SynthtuneError(
            "no accepted examples to export: run `synthtune generate` and then `synthtune curate` first"
        )
    if context and any(ex.answer_id is not None and not ex.passages for v in examples.values() for ex in v):
        raise SynthtuneError(
            "these examples were curated before their passages were stored with them: run `synthtune curate` "
            "again, then export with context"
        )
    renderer = (
        ChatTemplateRenderer(load_tokenizer(project.settings.train.base_model))
        if fmt == "completion"
        else None
    )
    if progress:
        progress(n_total, 0)

    files: dict[str, bytes] = {}
    lineage: list[str] = []
    rows: dict[str, int] = {}
    for split in SPLITS:
        lines = []
        for i, ex in enumerate(examples[split]):
            conv, shown = conversation(project.settings, ex, context)
            lines.append(_jsonl(to_row(fmt, conv, renderer)))
            lineage.append(_jsonl(_lineage(split, i, ex, shown if context else None)))
            if progress:
                progress(None, 1)
        files[f"{split}.jsonl"] = "".join(lines).encode("utf-8")
        rows[split] = len(lines)
    files[LINEAGE] = "".join(lineage).encode("utf-8")

    has_system = bool(cfg.system_prompt)
    all_examples = store.reviewed_examples()
    files[CARD] = render_card(project, fmt, context, examples, all_examples, renderer).encode("utf-8")
    files[AXOLOTL] = render_axolotl(project, fmt, rows, has_system).encode("utf-8")
    files[LLAMAFACTORY] = _json(llamafactory_info(cfg.dataset_name, fmt, rows, has_system)).encode("utf-8")
    manifest = build_manifest(project, fmt, context, rows, files, examples, all_examples, renderer)
    files[MANIFEST] = _json(manifest).encode("utf-8")

    out_dir.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        _write_atomic(out_dir / name, data)
    sha = hashlib.sha256(files[MANIFEST]).hexdigest()
    store.record_export(fmt, str(out_dir.resolve()), sha, sum(rows.values()))
    return {
        "out": str(out_dir),
        "format": fmt,
        "with_context": context,
        "rows": rows,
        "files": sorted(files),
        "sha256": sha,
    }


# ---------------------------------------------------------------------------------------------------
# Rows


def conversation(settings: Settings, ex: Example, with_context: bool) -> tuple[Conversation, list[int]]:
    """An example as a :class:`Conversation` and the chunk ids of the passages it shows (context rows)."""
    system = settings.export.system_prompt or None
    answer = ex.answer or ""
    if not with_context:
        return Conversation(question=ex.question, answer=strip_markers(answer), system=system), []
    cited = [] if ex.kind == "unanswerable" else list(dict.fromkeys(ex.citations))
    passages = context_passages(ex, cited, settings.export.context_k)
    shown = [p.chunk_id for p in passages]
    seen = [p.chunk_id for p in ex.passages]
    answer = renumber_markers(answer, seen, shown, cited)
    return Conversation(question=ex.question, answer=answer, system=system, passages=tuple(passages)), shown


def context_passages(ex: Example, cited: list[int], k: int) -> list[Passage]:
    """Up to ``k`` passages for a context row, from those frozen with the example (the ones its answer was
    given): every cited one, then the others as distractors in the order they were shown; listed in
    that order too, so the cited passage sits where the answerer saw it, not always first."""
    frozen = [p.chunk_id for p in ex.passages]
    distractors = [c for c in frozen if c not in cited][: max(k - len(cited), 0)]
    keep = set(cited) | set(distractors)
    return [p for p in ex.passages if p.chunk_id in keep]


def _lineage(split: str, row: int, ex: Example, shown: list[int] | None) -> dict[str, Any]:
    out = {
        "split": split,
        "row": row,
        "example_id": ex.id,
        "question_id": ex.question_id,
        "answer_id": ex.answer_id,
        "kind": ex.kind,
        "document_id": ex.document_id,
        "document": Path(ex.source_path).name,
        "title": ex.title,
        "page_start": ex.page_start,
        "page_end": ex.page_end,
        "chunk_id": ex.chunk_id,
        "chunk2_id": ex.chunk2_id,
        "cited_chunk_ids": list(ex.citations),
        "question_generator": ex.question_generator,
        "question_prompt_sha": ex.question_prompt_sha,
        "answer_generator": ex.answer_generator,
        "answer_prompt_sha": ex.answer_prompt_sha,
    }
    if shown is not None:
        out["context_chunk_ids"] = shown
    return out


# ---------------------------------------------------------------------------------------------------
# Trainer configs


def llamafactory_info(name: str, fmt: str, rows: dict[str, int], has_system: bool) -> dict[str, Any]:
    """LLaMA-Factory's ``dataset_info.json``: one dataset per non-empty split, ``<name>_<split>``."""
    return {
        f"{name}_{split}": llamafactory_entry(fmt, f"{split}.jsonl", has_system)
        for split in SPLITS
        if rows[split]
    }


def axolotl_config(project: Project, fmt: str, rows: dict[str, int], has_system: bool) -> dict[str, Any]:
    """A QLoRA Axolotl config for ``train.base_model`` on the exported files (keys from Axolotl's schema,
    ``axolotl.utils.schemas``); relative paths, so it runs from the export folder."""
    t = project.settings.train
    cfg: dict[str, Any] = {"base_model": t.base_model}
    if fmt in ("messages", "sharegpt"):
        cfg["chat_template"] = "tokenizer_default"
    cfg |= {"load_in_4bit": True, "adapter": "qlora", "lora_r": t.lora_r, "lora_alpha": t.lora_alpha,
            "lora_dropout": t.lora_dropout}  # fmt: skip
    if t.target_modules == "all-linear":
        cfg["lora_target_linear"] = True
    else:
        cfg["lora_target_modules"] = list(t.target_modules)
    cfg["datasets"] = [axolotl_dataset(fmt, "train.jsonl", has_system)]
    if rows["val"]:
        cfg["test_datasets"] = [axolotl_dataset(fmt, "val.jsonl", has_system)]
        cfg["eval_steps"] = t.eval_steps
    cfg["val_set_size"] = 0.0
    cfg["dataset_prepared_path"] = "last_run_prepared"
    cfg |= {
        "sequence_len": t.max_length,
        "sample_packing": False,
        "train_on_inputs": False,
        "group_by_length": t.group_by_length,
        "micro_batch_size": t.batch_size,
        "gradient_accumulation_steps": t.grad_accum,
    }
    if t.max_steps is not None:
        cfg["max_steps"] = t.max_steps
    else:
        cfg["num_epochs"] = t.epochs
    cfg |= {
        "optimizer": "adamw_torch",
        "learning_rate": t.learning_rate,
        "lr_scheduler": t.lr_scheduler,
        "warmup_ratio": t.warmup_ratio,
        "weight_decay": t.weight_decay,
        "max_grad_norm": t.max_grad_norm,
        "bf16": "auto",
        "gradient_checkpointing": t.gradient_checkpointing,
        "logging_steps": t.logging_steps,
        "save_steps": t.save_steps,
        "save_total_limit": t.save_total_limit,
        "seed": t.seed,
        "output_dir": "./outputs/qlora",
    }
    return cfg


def render_axolotl(project: Project, fmt: str, rows: dict[str, int], has_system: bool) -> str:
    header = (
        f"# Axolotl QLoRA config written by `synthtune export --format {fmt}` for the files beside it.\n"
        "# Run it from this folder (paths are relative):  axolotl train axolotl.yaml\n"
        "# Settings come from the train section of synthtune.yaml; QLoRA needs a CUDA GPU.\n"
    )
    body = yaml.safe_dump(axolotl_config(project, fmt, rows, has_system), sort_keys=False, allow_unicode=True,
                          width=10_000)  # fmt: skip
    return header + body


# ---------------------------------------------------------------------------------------------------
# Card and manifest


def _generators(examples: list[Example]) -> dict[str, dict[str, dict[str, int]]]:
    """{role: {model: {prompt_sha: n}}} over the exported examples."""
    out: dict[str, dict[str, dict[str, int]]] = {"question_writer": {}, "answerer": {}}
    for ex in examples:
        for role, model, sha in (
            ("question_writer", ex.question_generator, ex.question_prompt_sha),
            ("answerer", ex.answer_generator, ex.answer_prompt_sha),
        ):
            per = out[role].setdefault(model or "", {})
            per[sha or ""] = per.get(sha or "", 0) + 1
    return {role: {m: dict(sorted(s.items())) for m, s in sorted(v.items())} for role, v in out.items()}


def check_stats(all_examples: list[Example]) -> dict[str, dict[str, Any]]:
    """Per check: examples it was run on, passed, pass rate, and examples it rejected (duplicate and
    test_leak are applied after the checks and only appear as rejections)."""
    stats: dict[str, dict[str, Any]] = {}
    for ex in all_examples:
        for name, ok in ex.checks.items():
            s = stats.setdefault(name, {"evaluated": 0, "passed": 0, "rejected": 0})
            s["evaluated"] += 1
            s["passed"] += 1 if ok else 0
        for name in ex.reasons:
            stats.setdefault(name, {"evaluated": 0, "passed": 0, "rejected": 0})["rejected"] += 1
    for s in stats.values():
        s["pass_rate"] = round(s["passed"] / s["evaluated"], 4) if s["evaluated"] else None
    return dict(sorted(stats.items()))


def _documents(store: Store, examples: dict[str, list[Example]]) -> list[dict[str, Any]]:
    per: dict[int, Counter[str]] = {}
    for split, exs in examples.items():
        for ex in exs:
            per.setdefault(ex.document_id, Counter())[split] += 1
    return [
        {
            "id": d.id,
            "title": d.title,
            "file": Path(d.source_path).name,
            "pages": d.n_pages,
            "sha256": d.sha256,
            "examples": {s: per[d.id][s] for s in SPLITS},
        }  # fmt: skip
        for d in store.documents_info(per)
    ]


def build_manifest(
    project: Project,
    fmt: str,
    with_context: bool,
    rows: dict[str, int],
    files: dict[str, bytes],
    examples: dict[str, list[Example]],
    all_examples: list[Example],
    renderer: ChatTemplateRenderer | None,
) -> dict[str, Any]:
    from synthtune import __version__

    s = project.settings
    export = s.export.model_dump(mode="json", exclude={"out"}) | {"format": fmt, "with_context": with_context}
    settings: dict[str, Any] = {"export": export, "train": s.train.model_dump(mode="json")}
    flat = [ex for split in SPLITS for ex in examples[split]]
    return {
        "schema": MANIFEST_SCHEMA,
        "dataset_name": s.export.dataset_name,
        "format": fmt,
        "with_context": with_context,
        "rows": rows,
        "files": {
            name: {
                "sha256": hashlib.sha256(data).hexdigest(),
                "bytes": len(data),
                "rows": data.count(b"\n") if name.endswith(".jsonl") else None,
            }
            for name, data in sorted(files.items())
        },
        "base_model": s.train.base_model,
        "chat_template_sha256": renderer.template_sha256 if renderer else None,
        "source": {
            "documents": len({ex.document_id for ex in flat}),
            "examples_accepted": len(flat),
            "examples_rejected": sum(1 for ex in all_examples if ex.status == "rejected"),
        },
        "generators": _generators(flat),
        "judges": project.store.judges(),
        "settings": settings,
        "settings_sha256": hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest(),
        "synthtune_version": __version__,
    }


def _size_category(n: int) -> str:
    for limit, name in (
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
    ):
        if n < limit:
            return name
    return "n>1M"


def _load_snippet(fmt: str, name: str) -> str:
    files = '{"train": "train.jsonl", "validation": "val.jsonl", "test": "test.jsonl"}'
    trl = {
        "messages": "conversational rows; SFTTrainer applies the model's chat template itself",
        "sharegpt": "SFTTrainer converts the from/value turns to role/content itself",
        "alpaca": "convert the rows to messages first; TRL does not read alpaca columns",
        "completion": "prompt-completion rows; the loss is on the completion only",
    }[fmt]
    axolotl = {
        "messages": "the model's chat template, loss on the answers",
        "sharegpt": "the model's chat template, loss on the answers",
        "alpaca": "Axolotl's Alpaca prompt, not the model's chat template; prefer the messages format",
        "completion": "the pre-rendered text, loss on every token",
    }[fmt]
    lf = (
        "read as pre-training text (`stage: pt`); for supervised tuning export the messages format"
        if fmt == "completion"
        else "rendered with LLaMA-Factory's `template` for the model"
    )
    return (
        "```python\n"
        "from datasets import load_dataset\n\n"
        f'ds = load_dataset("json", data_files={files})\n'
        "```\n\n"
        f'- TRL: `SFTTrainer(train_dataset=ds["train"], ...)`: {trl}.\n'
        f"- Axolotl: `axolotl train axolotl.yaml`, run from this folder (QLoRA; {axolotl}).\n"
        f"- LLaMA-Factory: `dataset_dir: <this folder>`, `dataset: {name}_train`, `eval_dataset: {name}_val` "
        f"({lf}).\n"
    )


def _table(header: list[str], body: list[list[Any]]) -> str:
    def cell(v: Any) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in body]
    return "\n".join(lines) + "\n"


def render_card(
    project: Project,
    fmt: str,
    with_context: bool,
    examples: dict[str, list[Example]],
    all_examples: list[Example],
    renderer: ChatTemplateRenderer | None,
) -> str:
    """The dataset card: a Hugging Face style front matter, then what the data is and where it came from."""
    s = project.settings
    cfg = s.export
    name = cfg.dataset_name
    flat = [ex for split in SPLITS for ex in examples[split]]
    docs = _documents(project.store, examples)
    judges = project.store.judges()
    front = {
        "pretty_name": name,
        "license": cfg.license,
        "task_categories": ["question-answering", "text-generation"],
        "size_categories": [_size_category(len(flat))],
        "tags": ["synthetic", "synthtune"],
        "configs": [
            {
                "config_name": "default",
                "data_files": [
                    {"split": "train", "path": "train.jsonl"},
                    {"split": "validation", "path": "val.jsonl"},
                    {"split": "test", "path": "test.jsonl"},
                ],
            }
        ],
    }
    blocks = ["---\n" + yaml.safe_dump(front, sort_keys=False, allow_unicode=True, width=10_000) + "---\n"]
    blocks.append(f"# {name}\n")
    blocks.append(
        f"A synthetic question-answering dataset made by synthtune from {len(docs)} documents: questions written "
        "from passages of the documents, answered from the knowledge base with citations, filtered by "
        "deterministic checks"
        + (" and LLM judges" if judges else "")
        + ", deduplicated, and split by document "
        "(no document is in two splits).\n"
    )
    rows_kind = (
        f"retrieval-augmented: the question with {cfg.context_k} numbered passages, the answer citing them"
        if with_context
        else "closed-book: the question and its answer"
    )
    facts = [
        f"- Format: `{fmt}`",
        f"- Rows: {rows_kind}",
        f"- Rows per split: train {len(examples['train'])}, val {len(examples['val'])}, "
        f"test {len(examples['test'])}",
        f"- System prompt: `{cfg.system_prompt}`" if cfg.system_prompt else "- System prompt: none",
        f"- License: {cfg.license}",
    ]
    if fmt == "completion" and renderer is not None:
        facts.append(
            f"- Rendered with the chat template of `{s.train.base_model}` (sha256 "
            f"`{renderer.template_sha256[:16]}`); each completion ends with its end-of-turn token "
            f"`{renderer.format.end_of_turn}`"
        )
    blocks.append("\n".join(facts) + "\n")

    blocks.append("## Load it\n")
    blocks.append(_load_snippet(fmt, name))
    if with_context:
        blocks.append(
            "Each user turn is the question, then `Passages:` and the numbered passages (`[n] title, page p:` "
            "and the text): the cited ones and, as distractors, the other passages the answer was written "
            "from. The answer cites them as `[n]`. Ask a model tuned on it the same way (`synthtune.export.user_content`).\n"
        )

    blocks.append("## Sources\n")
    blocks.append(
        _table(
            ["document", "file", "pages", "train", "val", "test"],
            [[d["title"], d["file"], d["pages"], *(d["examples"][sp] for sp in SPLITS)] for d in docs],
        )
    )

    kinds = Counter(ex.kind for ex in flat)
    blocks.append("## Questions\n")
    blocks.append(_table(["kind", "rows"], [[k, kinds[k]] for k in sorted(kinds)]))

    blocks.append("## Models and prompts\n")
    body = []
    for role, by_model in _generators(flat).items():
        for model, shas in by_model.items():
            for sha, count in shas.items():
                body.append([role, f"`{model}`", f"`{sha[:16]}`", count])
    body += [["judge", f"`{judge}`", "", ""] for judge in judges]
    blocks.append(_table(["role", "model", "prompt sha256 (first 16)", "rows"], body))
    blocks.append("The full prompt hashes of every row are in `lineage.jsonl`.\n")

    stats = check_stats(all_examples)
    accepted = sum(1 for ex in all_examples if ex.status == "accepted")
    blocks.append("## Checks\n")
    blocks.append(
        f"{len(all_examples)} candidate examples: {accepted} accepted ({accepted / len(all_examples):.1%}), "
        f"{len(all_examples) - accepted} rejected. A check runs only where it applies (numbers on answers "
        "that are not refusals, for example); a rejected example may fail several.\n"
    )
    blocks.append(
        _table(
            ["check", "evaluated", "passed", "pass rate", "rejected"],
            [
                [
                    k,
                    v["evaluated"],
                    v["passed"],
                    f"{v['pass_rate']:.1%}" if v["pass_rate"] is not None else "-",
                    v["rejected"],
                ]  # fmt: skip
                for k, v in stats.items()
            ],
        )
    )

    blocks.append("## How it was made\n")
    blocks.append(
        "1. Documents were parsed into pages and chunks, embedded, and indexed for BM25 (`synthtune ingest`).\n"
        "2. A question-writer model wrote questions from each chunk: factual, numeric, reasoning across two "
        "chunks, and unanswerable ones whose expected answer is a refusal (`synthtune generate`).\n"
        "3. An answerer model answered each question from retrieved passages, with citations.\n"
        "4. Deterministic checks (numbers grounded in the cited text, citations among the retrieved passages, "
        "length, refusals) and optional LLM judges filtered the pairs; near-duplicate questions were collapsed, "
        "and the documents were split into train, val and test (`synthtune curate`).\n"
        f"5. `synthtune export --format {fmt}{' --with-context' if with_context else ''}` wrote these files; "
        "`manifest.json` holds the sha256 of each file and the settings used.\n"
    )
    blocks.append("## Limitations\n")
    blocks.append(
        "The questions and answers were written by language models and checked automatically, not by people. "
        "The answers are only as right as the source documents.\n"
    )
    return "\n".join(blocks)


# ---------------------------------------------------------------------------------------------------
# Files and the store


def _jsonl(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(", ", ": ")) + "\n"


def _json(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def _write_atomic(path: Path, data: bytes) -> None:
    """Write beside the target, then rename: a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _run(project: Project, progress: StageProgress | None) -> dict[str, Any]:
    result = export_dataset(project)
    return {k: result[k] for k in ("out", "format", "with_context", "rows")}


STAGE = Stage(
    name="export",
    # export: format, context rows, card; train: axolotl.yaml and the completion format's tokenizer. No
    # search: context rows show the passages frozen at curate.
    settings=("export", "train"),
    inputs=lambda project: project.store.dataset_fingerprint(),
    run=_run,
    output_key="out",
)
