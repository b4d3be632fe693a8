"""Settings: the pydantic models behind ``synthtune.yaml``, the single source of defaults.

``synthtune init`` writes the file from these models (one comment per setting, taken from the field
descriptions), so the documentation cannot drift from the code. Unknown keys are errors that name the
key and the nearest valid one.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from synthtune.errors import ConfigError

CONFIG_NAME = "synthtune.yaml"
DB_NAME = "synthtune.db"

BUNDLED_EMBEDDER = "sentence-transformers/all-MiniLM-L6-v2"
BUNDLED_GENERATOR = "HuggingFaceTB/SmolLM2-135M-Instruct"


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class IngestSettings(Section):
    paths: list[str] = Field(
        default_factory=list,
        description="Files or folders that `synthtune ingest` (with no PATH) and `synthtune run` read; "
        "relative paths are relative to the project folder.",
    )
    include: list[str] = Field(
        default_factory=lambda: ["*.pdf", "*.html", "*.htm", "*.md", "*.markdown", "*.txt", "*.docx"],
        description="Glob patterns (matched against file names) of files to ingest when walking a folder.",
    )
    exclude: list[str] = Field(
        default_factory=lambda: [".*", "~$*", "*.tmp"],
        description="Glob patterns of files and folders to skip when walking a folder.",
    )
    password: str | None = Field(
        default=None, description="Password for encrypted PDFs (the --password option overrides it)."
    )
    chunk_size: int = Field(
        default=200,
        ge=16,
        description="Target chunk length in embedder tokens; never more than the embedder's maximum "
        "sequence length (minus the contextual header).",
    )
    chunk_overlap: int = Field(
        default=32, ge=0, description="Tokens of overlap between consecutive chunks of a document."
    )
    keep_tables: bool = Field(
        default=False,
        description="Never cut a table that fits in one chunk: a cut that would fall among its rows moves to "
        "where the table starts, so its column headers and rows stay together (tables too long for a chunk "
        "are cut as any text). Off by default: on the search dev set it moved R@5 from 0.810 to 0.829 and the "
        "report half's MRR from 0.594 to 0.587, no clear gain (benchmarks/RESULTS.md, search_dev).",
    )
    max_file_mb: float = Field(
        default=200.0, gt=0, description="Files larger than this many MiB are refused with an error."
    )
    ocr: Literal["auto", "always", "never"] = Field(
        default="auto",
        description="OCR of PDF pages (Tesseract, the tesseract-ocr package): auto reads the pages "
        "without a usable text layer (none, or garbage such as unmapped glyphs); always reads every "
        "page that is not blank, in place of its text layer; never keeps such pages empty.",
    )
    ocr_dpi: int = Field(
        default=225,
        ge=72,
        le=600,
        description="Resolution pages are rendered at for OCR (225 beat 150 and 300 on the earnings "
        "releases' pages: benchmarks/RESULTS.md, ocr).",
    )
    ocr_language: str = Field(
        default="eng", description="Tesseract language(s) for OCR, e.g. 'eng' or 'eng+deu' (installed packs)."
    )
    ocr_timeout_s: float = Field(
        default=120.0,
        gt=0,
        description="Seconds OCR may take on one page; a page over it is kept empty and named in the "
        "ingest warnings, and the document's other pages are stored.",
    )
    workers: int = Field(
        default=0,
        ge=0,
        description="Processes that read files (and OCR pages) while the embedder runs; 0: one per CPU "
        "core, at most 4.",
    )

    @model_validator(mode="after")
    def _overlap_below_size(self) -> IngestSettings:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError(
                f"ingest.chunk_overlap ({self.chunk_overlap}) must be smaller than "
                f"ingest.chunk_size ({self.chunk_size})"
            )
        return self


class EmbeddingSettings(Section):
    model: str = Field(
        default=BUNDLED_EMBEDDER,
        description="sentence-transformers model: the bundled all-MiniLM-L6-v2 (default, offline), "
        "a local folder, or a hub id (downloaded only when the network allows).",
    )
    query_prefix: str | None = Field(
        default=None,
        description="Text put before every query. Empty (null) picks the model family's convention: "
        "'query: ' for e5, the retrieval instruction for bge, nothing otherwise.",
    )
    passage_prefix: str | None = Field(
        default=None,
        description="Text put before every passage. Empty (null) picks the family's convention: "
        "'passage: ' for e5, nothing otherwise.",
    )
    contextual_header: bool = Field(
        default=True,
        description="Embed and index each chunk with a short header (document title and section heading) so "
        "similar passages from different documents stay distinguishable.",
    )
    header_identity: bool = Field(
        default=True,
        description="Start each contextual header with what the document is about: its company, form and "
        "period ('Best Buy Co., Inc. earnings release, Q4 FY2023, fourth quarter of fiscal 2023'), found "
        "in its title, first page and file name or set in `documents:`; search then finds the right "
        "filing for questions that name them (benchmarks/RESULTS.md, search-dev).",
    )
    table_header: bool = Field(
        default=False,
        description="Add a table's title and column headers ('Three Months Ended June 30, 2023 2022') to the "
        "header of each chunk cut from its rows. Off by default: on the search dev set it did not help and "
        "costs chunk room (benchmarks/RESULTS.md, search_dev).",
    )
    batch_size: int = Field(default=32, ge=1, description="Passages per embedding batch.")
    device: str = Field(default="cpu", description="Torch device for the embedder: cpu, cuda, mps.")
    runtime: Literal["auto", "torch", "torch-bf16", "onnx", "onnx-int8"] = Field(
        default="auto",
        description="How the embedder runs: torch (sentence-transformers, float32); torch-bf16 (the same with "
        "matrix products in bfloat16 through torch's autocast; about 2.7x torch on a 2-core CPU with Intel AMX, "
        "benchmarks/RESULTS.md, embed; on a CPU without AMX it is emulated and no faster); onnx (the model "
        "exported to ONNX Runtime from its local weights, cached per weights sha256, CPU; a BERT-family "
        "model's graph fused by ONNX Runtime's transformer optimizer); onnx-int8 (that export with int8 "
        "per-channel dynamic quantization: about 1.6x torch). auto (default): torch-bf16 on a CPU with AMX, "
        "torch elsewhere. Their vectors agree with torch's (onnx exactly, torch-bf16 to cosine 0.9999, onnx-int8 "
        "to 0.99 on average), so a store keeps its vectors when this changes. onnx-int8 keeps TAT-QA retrieval "
        "within a point but ranked the search dev set's evidence lower (dense MRR 0.538 against 0.564; the "
        "search_dev sections of benchmarks/RESULTS.md at commits 6b15d06 and 30c649e).",
    )


class SearchSettings(Section):
    """Defaults chosen on the search dev set (benchmarks/devsets/search_dev.jsonl: 201 analyst questions over
    real earnings releases and call transcripts; benchmarks/RESULTS.md, section search_dev), never on the
    demo's gold questions, which evaluate."""

    mode: Literal["hybrid", "dense", "lexical"] = Field(
        default="hybrid",
        description="Default retrieval mode: hybrid fuses BM25 and dense rankings (chosen on the search dev "
        "set, benchmarks/RESULTS.md section search_dev).",
    )
    k: int = Field(default=5, ge=1, description="Results returned by default.")
    fusion: Literal["scores", "rrf"] = Field(
        default="scores",
        description="How hybrid fuses its rankings: scores (default: the weighted sum of each ranking's scores "
        "scaled to [0, 1] between its best candidate and the first one it left out, so a margin on one "
        "ranking counts) or rrf (weighted reciprocal rank, sum w / (rrf_k + rank)). On the search dev set "
        "scores 0.5/0.5 ranked the evidence higher than the best rrf weights (selection-half MRR 0.672 against "
        "0.658).",
    )
    rrf_k: int = Field(default=60, ge=1, description="Reciprocal-rank-fusion constant k in 1/(k + rank).")
    dense_weight: float = Field(
        default=0.5,
        ge=0,
        description="Weight of the dense ranking in fusion (chosen on the search dev set).",
    )
    lexical_weight: float = Field(default=0.5, ge=0, description="Weight of the BM25 ranking in fusion.")
    candidates: int = Field(default=50, ge=1, description="Candidates taken from each ranking before fusion.")
    per_page: int = Field(
        default=1,
        ge=0,
        description="At most this many results from one page of a PDF (0: no limit). A page's next chunk "
        "mostly repeats the first, and a page further down the list is likelier to hold what it lacks. "
        "Text, HTML and Markdown files have no pages and are not limited.",
    )
    subject_match: Literal["filter", "boost", "off"] = Field(
        default="filter",
        description="When a query names the company of some documents (name or ticker, as found at ingest "
        "or set in `documents:`): search only those documents (filter), rank them higher (boost), or "
        "ignore it (off). A name no document's identity gives, but that the text of a few documents says (at "
        "most a tenth of them: a call transcript that never states its company's legal name), ranks those "
        "documents higher unless this is off. A query that names none searches everything. Dense search "
        "ranks the documents a query's names chose by the query without those names and its period (they "
        "tell those documents apart no more), the whole store by all of it.",
    )
    period_match: Literal["filter", "boost", "off"] = Field(
        default="boost",
        description="When a query names a company and a period ('Q2 2023', 'fiscal 2024', 'the quarter ended "
        "April 29, 2023'): search only that company's documents of that period (filter), rank them higher "
        "(boost), or ignore the period (off). A year alone prefers the year's annual report or fourth "
        "quarter. Among documents chosen only because their text says a name (see subject_match), the "
        "period ranks higher, never filters.",
    )
    match_boost: float = Field(
        default=1.0,
        ge=0,
        description="A boost fuses a second ranking of only the matched documents, weighted this many times "
        "the ranking it repeats; 0 turns boosts off.",
    )
    expand_terms: bool = Field(
        default=True,
        description="Lexical search also looks for what filings write when a query uses an analyst's words: "
        "'top line' -> revenue, net sales; 'capex' -> capital expenditures, purchases of property and "
        "equipment; 'borrowing costs' -> interest expense; a ratio asked by name ('quick ratio') -> the "
        "statement lines it is computed from; 'P&L' -> statements of operations (text/vocabulary.py). `search` shows what it added.",
    )
    synonyms: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Your own: a phrase a query may use -> what your documents write for it, looked for as "
        "well (e.g. {'ARR': ['annual recurring revenue']}). Applies with or without expand_terms.",
    )


class BackendSettings(Section):
    backend: Literal["transformers", "openai", "vllm"] = Field(
        default="transformers",
        description="transformers: in process (local path, hub id or the bundled model); "
        "openai: any OpenAI-compatible server (vLLM, llama.cpp, Ollama, transformers serve, hosted); "
        "vllm: vLLM's offline engine in process, CUDA GPU only (`pip install vllm`; with executor: ray, on "
        "GPU actors: set ray.gpus_per_worker). It takes 90% of the GPU's memory: one vllm model per GPU. Not "
        "yet run on a GPU (benchmarks/gpu_check.sh is its prepared check).",
    )
    model: str = Field(
        default=BUNDLED_GENERATOR,
        description="Model id. For transformers and vllm, a local folder, a hub id, or the default id, which "
        "loads the bundled GGUF (SmolLM2-135M-Instruct) offline; for openai, the server's model name.",
    )
    base_url: str | None = Field(
        default=None, description="Server URL for the openai backend, e.g. http://127.0.0.1:8000/v1."
    )
    api_key_env: str = Field(
        default="OPENAI_API_KEY",
        description="Name of the environment variable that holds the API key (openai backend).",
    )
    temperature: float = Field(default=0.0, ge=0, description="Sampling temperature; 0 is greedy.")
    top_p: float = Field(default=1.0, gt=0, le=1, description="Nucleus sampling mass.")
    max_new_tokens: int = Field(default=96, ge=1, description="Most tokens generated per call.")
    repetition_penalty: float = Field(
        default=1.0,
        ge=1.0,
        description="Penalty on repeated tokens (transformers and vllm backends). 1.0 is off: with the "
        "bundled 135M model, 1.3 turned replies into fluent nonsense and invented numbers.",
    )
    batch_size: int = Field(default=16, ge=1, description="Prompts per batch (transformers backend).")
    concurrency: int = Field(default=4, ge=1, description="Requests in flight (openai backend).")
    timeout_s: float = Field(default=120.0, gt=0, description="Per-request timeout (openai backend).")
    max_retries: int = Field(
        default=4, ge=0, description="Retries on 429/5xx/connection errors, with backoff (openai)."
    )
    seed: int = Field(default=0, description="Random seed for sampling.")
    device: str = Field(
        default="cpu",
        description="Torch device (transformers backend). vllm takes the GPU(s) CUDA_VISIBLE_DEVICES shows.",
    )
    no_repeat_ngram_size: int = Field(
        default=0,
        ge=0,
        description="Never repeat an n-gram of this many tokens in one reply; 0 is off "
        "(transformers backend; vllm refuses anything but 0). Curbs the repetition loops of small models.",
    )
    backoff_s: float = Field(
        default=1.0,
        gt=0,
        description="First retry delay in seconds, doubled on each retry up to 8 s, with jitter (openai).",
    )
    extra_body: dict[str, Any] = Field(
        default_factory=dict,
        description="Extra JSON fields sent with every request (openai backend), for server-specific "
        "options such as vLLM's repetition_penalty. transformers serve rejects unknown fields.",
    )


class LLMSettings(Section):
    question_writer: BackendSettings = Field(
        default_factory=BackendSettings, description="Backend that writes questions from chunks."
    )
    answerer: BackendSettings = Field(
        default_factory=BackendSettings, description="Backend that answers questions from retrieved passages."
    )
    judge: BackendSettings | None = Field(
        default=None,
        description="Backend for LLM judges (question quality, faithfulness). Null: judges are off.",
    )


class TrainSettings(Section):
    base_model: str = Field(
        default=BUNDLED_GENERATOR,
        description="Model to fine-tune: the bundled SmolLM2-135M-Instruct (default, float32 weights from its "
        "GGUF, runs on a CPU), a local folder, or a hub id. Its tokenizer's chat template is the one template "
        "used for training, evaluation and export.",
    )
    qlora: bool = Field(
        default=False,
        description="Load the base in 4-bit (bitsandbytes nf4, double quantization) and train a LoRA adapter "
        "on it (QLoRA). Needs a CUDA GPU and `pip install bitsandbytes`.",
    )
    target_modules: Literal["all-linear"] | list[str] = Field(
        default="all-linear",
        description="Modules that get LoRA adapters: 'all-linear' (every linear layer but the output head) "
        "or a list of module names such as [q_proj, k_proj, v_proj, o_proj].",
    )
    lora_r: int = Field(default=16, ge=1, description="LoRA rank.")
    lora_alpha: int = Field(
        default=32, ge=1, description="LoRA scaling numerator: updates are scaled by alpha / r."
    )
    lora_dropout: float = Field(default=0.05, ge=0, lt=1, description="Dropout on the LoRA input.")
    lora_top_layers: int | None = Field(
        default=None,
        ge=1,
        description="Adapters only in the model's top this many transformer layers (null: every layer). "
        "Backpropagation then stops below them, so a step costs less.",
    )
    cache_frozen_layers: bool = Field(
        default=True,
        description="With lora_top_layers: keep each row's hidden states below the adapters after its first "
        "pass and run only the top layers on it afterwards: the same loss, faster steps after the first epoch "
        "(benchmarks/RESULTS.md, training); memory rows x tokens x hidden size x 4 bytes, at most 2 GiB. Off by "
        "itself with gradient_checkpointing, dropout in the model, or a model where the first batch's check fails.",
    )
    learning_rate: float = Field(default=2e-4, gt=0, description="Peak learning rate (AdamW).")
    lr_scheduler: Literal["cosine", "linear", "constant"] = Field(
        default="cosine", description="Learning-rate schedule after warm-up."
    )
    warmup_ratio: float = Field(
        default=0.03,
        ge=0,
        lt=1,
        description="Fraction of the optimizer steps spent warming the learning rate up.",
    )
    weight_decay: float = Field(default=0.0, ge=0, description="AdamW weight decay on the adapter weights.")
    max_grad_norm: float = Field(default=1.0, gt=0, description="Gradient-norm clipping threshold.")
    epochs: float = Field(
        default=2.0, gt=0, description="Passes over the train split (ignored when max_steps is set)."
    )
    max_steps: int | None = Field(
        default=None,
        ge=1,
        description="Stop after this many optimizer steps (overrides epochs); null: use epochs.",
    )
    max_minutes: float | None = Field(
        default=None,
        gt=0,
        description="Train for about this many minutes at most: after the first steps are timed, the step count "
        "(and the learning-rate schedule with it) is cut to what fits, so a slower machine trains fewer steps "
        "instead of longer. The result says when it did. Null: no time limit.",
    )
    batch_size: int = Field(default=4, ge=1, description="Rows per micro-batch (per device).")
    grad_accum: int = Field(
        default=4,
        ge=1,
        description="Micro-batches accumulated per optimizer step (effective batch = batch_size x grad_accum).",
    )
    max_length: int = Field(
        default=512,
        ge=8,
        description="Longest tokenized row, prompt and answer together. Longer rows are dropped and counted, "
        "never cut, so no answer loses its end-of-turn token.",
    )
    group_by_length: bool = Field(
        default=True,
        description="Batch rows of similar length together (batches in random order) to waste less compute on "
        "padding; off: rows in random order.",
    )
    eval_steps: int = Field(default=50, ge=1, description="Compute the val-split loss every this many steps.")
    save_steps: int = Field(
        default=50,
        ge=1,
        description="Write a checkpoint every this many steps (what `--resume` restarts from).",
    )
    save_total_limit: int = Field(default=2, ge=1, description="Checkpoints kept; older ones are deleted.")
    logging_steps: int = Field(default=1, ge=1, description="Record the train loss every this many steps.")
    cpu_precision: Literal["auto", "bf16", "fp32"] = Field(
        default="auto",
        description="Arithmetic of training on a CPU: bf16 (torch's autocast: matrix products in bfloat16, the "
        "adapter's weights and the optimizer in float32; about 1.5x faster per step on a CPU with Intel AMX, "
        "benchmarks/RESULTS.md, training), fp32, or auto (default): bf16 where the CPU has AMX, fp32 "
        "elsewhere, where bfloat16 is emulated and no faster. On a GPU the model trains in 16-bit whatever "
        "this says.",
    )
    gradient_checkpointing: bool = Field(
        default=False,
        description="Recompute activations in the backward pass: less memory, about a third more compute. "
        "Worth it for large models on a GPU.",
    )
    seed: int = Field(default=0, description="Random seed (adapter initialisation, data order, dropout).")

    @model_validator(mode="before")
    @classmethod
    def _target_modules_shape(cls, data: Any) -> Any:
        value = data.get("target_modules") if isinstance(data, dict) else None
        if isinstance(value, str) and value != "all-linear":
            raise ValueError(f"target_modules must be 'all-linear' or a list of module names, got {value!r}")
        if isinstance(value, list) and not value:
            raise ValueError("target_modules is empty: name modules or use 'all-linear'")
        return data


class GenerateSettings(Section):
    questions_per_chunk: int = Field(
        default=3,
        ge=1,
        le=20,
        description="Questions asked of each chunk per attempt, spread over the kinds.",
    )
    kinds: dict[Literal["factual", "numeric", "reasoning", "unanswerable"], float] = Field(
        default_factory=lambda: {"factual": 0.45, "numeric": 0.35, "reasoning": 0.1, "unanswerable": 0.1},
        description="Mix of question kinds (weights). factual: stated in the chunk; numeric: the answer is a "
        "number stated in the text; reasoning: across two chunks of the same document; unanswerable: "
        "plausible but not answered by the documents (the expected answer says so).",
    )
    max_retries: int = Field(
        default=2, ge=0, description="Re-asks (new seed) when a reply yields no usable question."
    )
    answer_k: int = Field(default=3, ge=1, description="Passages retrieved to answer each question.")
    max_chunks_per_document: int | None = Field(
        default=None,
        ge=1,
        description="Sample at most N chunks of each document, evenly spread from its start to its end; "
        "null: every chunk.",
    )
    max_chunks: int | None = Field(
        default=None,
        ge=1,
        description="Only the first N chunks (in document order); null: all. --limit-chunks overrides it.",
    )
    seed: int = Field(default=0, description="Seed for kind assignment, pairing and sampling.")
    phrasings_per_fact: int = Field(
        default=3,
        ge=0,
        le=8,
        description="Template questions (kind fact, no LLM) per fact, each a different phrasing naming the "
        "subject and period, answered by the fact's value, unit and period; 0: no fact questions. Each "
        "fact takes the first of its 6 to 8 phrasings and others from a place a hash of the fact sets, so "
        "that a document's facts spread over all of them.",
    )
    max_facts_per_document: int | None = Field(
        default=20,
        ge=1,
        description="Facts of each document made into questions, headline figures first (stated in prose "
        "and in a table, then table facts of the document's own period); null: every fact without problems.",
    )
    prompts: dict[str, str] = Field(
        default_factory=dict,
        description="Override a shipped prompt template by name (question_factual, question_numeric, "
        "question_reasoning, question_unanswerable, answer, judge_question, judge_answer, judge_correctness) "
        "with a path to a Jinja file.",
    )


class DocumentOverride(Section):
    subject: str | None = Field(
        default=None, description="Whom the document is about: 'Acme Robotics, Inc.'."
    )
    period: str | None = Field(
        default=None, description="The period it reports: 'third quarter of fiscal 2025', 'Q3 FY2025'."
    )


class CurateSettings(Section):
    min_answer_words: int = Field(default=1, ge=0, description="Shortest acceptable answer, in words.")
    max_answer_words: int = Field(default=120, ge=1, description="Longest acceptable answer, in words.")
    judge_min_question: int = Field(
        default=3, ge=1, le=5, description="Minimum judged question quality (1-5) when a judge is set."
    )
    judge_min_faithfulness: int = Field(
        default=3, ge=1, le=5, description="Minimum judged answer faithfulness (1-5) when a judge is set."
    )
    dedup_threshold: float = Field(
        default=0.92,
        gt=0,
        le=1,
        description="Questions whose embeddings have cosine at least this are "
        "near-duplicates; only the best-scored one is kept.",
    )
    min_examples_per_chunk: int = Field(
        default=1, ge=0, description="Chunks with fewer accepted examples get more generation attempts."
    )
    max_attempts_per_chunk: int = Field(
        default=2, ge=1, description="Cap on generation attempts (new seed each) per chunk for coverage."
    )
    extra_chunks_per_document: int = Field(
        default=2,
        ge=0,
        description="A document with no accepted example after those attempts gets up to this many more of "
        "its chunks (ones not yet used, one per round) tried, so every document feeds the dataset; 0: off.",
    )
    split_ratios: dict[Literal["train", "val", "test"], float] = Field(
        default_factory=lambda: {"train": 0.7, "val": 0.15, "test": 0.15},
        description="Share of documents per split (splits are by document, never by question).",
    )
    test_documents: list[str] = Field(
        default_factory=list,
        description="File names or glob patterns of documents forced into the test split.",
    )
    seed: int = Field(default=0, description="Seed for the document split.")


class ExportSettings(Section):
    format: Literal["alpaca", "sharegpt", "messages", "completion"] = Field(
        default="messages",
        description="Row format of the exported dataset: messages ({messages: [{role, content}]}, OpenAI / TRL), "
        "sharegpt ({conversations: [{from, value}]}), alpaca ({instruction, input, output, system}) or "
        "completion (prompt, completion and text rendered with train.base_model's chat template).",
    )
    out: str = Field(
        default="export",
        description="Folder the export is written to; relative paths are relative to the project folder.",
    )
    with_context: bool = Field(
        default=False,
        description="Retrieval-augmented rows: the question with numbered retrieved passages (the cited ones and "
        "distractors) and an answer citing them as [n]. Off: closed-book rows, question and answer only.",
    )
    context_k: int = Field(
        default=3,
        ge=1,
        description="Passages shown in each context row, the cited ones and distractors together (with_context).",
    )
    system_prompt: str | None = Field(
        default="You are a financial analyst assistant. Answer questions about the company's reports "
        "accurately and concisely.",
        description="System message of every exported row; null: rows have no system message.",
    )
    license: str = Field(
        default="unspecified",
        description="License of the exported dataset, written into its dataset card (an SPDX id such as "
        "cc-by-4.0, or 'unspecified').",
    )
    dataset_name: str = Field(
        default="synthtune",
        description="Name of the dataset in its card, in LLaMA-Factory's dataset_info.json and in axolotl.yaml.",
    )


SYSTEM_NAMES = ("base", "tuned", "base+rag", "tuned+rag")


class ReferenceSystem(Section):
    name: str = Field(description="Name of the system in the report, e.g. gpt-4o+rag.")
    rag: bool = Field(default=False, description="Answer from retrieved passages (with citations).")
    backend: BackendSettings = Field(
        default_factory=BackendSettings,
        description="The model behind it: a local path or hub id (transformers) or an OpenAI-compatible server.",
    )


class EvalSettings(Section):
    systems: list[Literal["base", "tuned", "base+rag", "tuned+rag"]] = Field(
        default_factory=lambda: list(SYSTEM_NAMES),
        description="Systems to compare: base and tuned answer closed-book, the +rag ones from retrieved "
        "passages. tuned is the merged model (or --adapter / --model).",
    )
    references: list[ReferenceSystem] = Field(
        default_factory=list,
        description="More systems on any backend, e.g. [{name: big+rag, rag: true, backend: {backend: openai, "
        "model: gpt-4o, base_url: ...}}].",
    )
    gold: str | None = Field(
        default=None,
        description="Gold questions, JSONL with question, answer and optional document and page; relative "
        "paths are relative to the project folder. Null: only the test split.",
    )
    test_split: bool = Field(default=True, description="Evaluate on the test split of the synthetic dataset.")
    max_questions: int | None = Field(
        default=None, ge=1, description="At most this many questions from each question set (null: all)."
    )
    max_test_questions: int | None = Field(
        default=None,
        ge=1,
        description="At most this many questions from the test split (null: max_questions), sampled evenly "
        "across it; the gold file keeps max_questions.",
    )
    answer_every_question: bool = Field(
        default=True,
        description="Every system answers every question, so the summary compares all of them on the same "
        "questions. false: closed-book systems answer only the knowledge questions (about documents trained "
        "on) and +rag systems only the skill questions (the others): half the model calls, and the report's "
        "knowledge and skill sections are unchanged.",
    )
    k: int = Field(default=3, ge=1, description="Passages retrieved for the +rag systems (and recall@k).")
    max_new_tokens: int = Field(default=64, ge=1, description="Most tokens in each system's answer.")
    batch_size: int = Field(default=16, ge=1, description="Prompts per batch for in-process models.")
    judge: BackendSettings | None = Field(
        default=None, description="Backend that grades correctness 1-5 against the reference. Null: off."
    )
    bootstrap_resamples: int = Field(
        default=2000, ge=100, description="Bootstrap resamples for the confidence intervals."
    )
    confidence: float = Field(default=0.95, gt=0.5, lt=1.0, description="Confidence level of the intervals.")
    seed: int = Field(default=0, description="Seed of the bootstrap.")
    out: str = Field(
        default="report",
        description="Folder for report.html and results.json; relative paths are relative to the project.",
    )

    @model_validator(mode="after")
    def _unique_names(self) -> EvalSettings:
        names = list(self.systems) + [r.name for r in self.references]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"system names must be unique; repeated: {', '.join(dupes)}")
        return self


class StoreSettings(Section):
    url: str | None = Field(
        default=None,
        description="Where the store lives. Null: synthtune.db in the project folder (SQLite, one machine). "
        "postgresql://user@host:port/db: a PostgreSQL server with pgvector (writers on many machines, HNSW "
        "search); the password is read from password_env, never from this file.",
    )
    password_env: str = Field(
        default="SYNTHTUNE_PG_PASSWORD",
        description="Environment variable holding the PostgreSQL password (unset: none, or ~/.pgpass).",
    )
    ef_search: int = Field(
        default=200,
        ge=1,
        le=1000,
        description="PostgreSQL: HNSW search breadth (pgvector hnsw.ef_search); higher is closer to exact "
        "search and slower. Never below the candidates asked for. 100 gave recall@10 0.978 of exact on the "
        "earnings releases' real vectors, under the 0.98 target (benchmarks/RESULTS.md, postgres).",
    )
    index_memory: str = Field(
        default="1GB",
        pattern=r"^[1-9][0-9]*(MB|GB)$",
        description="PostgreSQL: memory for building an HNSW index (maintenance_work_mem while synthtune "
        "builds one: store copy, a new embedding model over stored vectors), as 512MB or 4GB. The build is "
        "several times faster while the graph fits: about 2 KB per 384-dimension vector, so 4GB for 1,000,000 "
        "chunks (benchmarks/RESULTS.md, postgres). The server must have that memory free.",
    )


class RaySettings(Section):
    address: str = Field(
        default="local",
        description="local: start Ray on this machine; auto: join the cluster this machine belongs to (ray "
        "start, KubeRay); or ray://head:10001.",
    )
    workers: int = Field(default=2, ge=1, description="Actors, each holding its own copy of the model.")
    cpus_per_worker: float = Field(default=1.0, gt=0, description="CPUs reserved for each actor.")
    gpus_per_worker: float = Field(default=0.0, ge=0, description="GPUs reserved for each actor.")
    batch_size: int = Field(default=64, ge=1, description="Work units handed to an actor at a time.")


class Settings(Section):
    ingest: IngestSettings = Field(default_factory=IngestSettings, description="Reading documents.")
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings, description="The embedder.")
    search: SearchSettings = Field(default_factory=SearchSettings, description="Retrieval.")
    llm: LLMSettings = Field(default_factory=LLMSettings, description="Generation backends, one per role.")
    generate: GenerateSettings = Field(
        default_factory=GenerateSettings, description="Synthetic questions and answers."
    )
    curate: CurateSettings = Field(
        default_factory=CurateSettings, description="Checks, judges, dedup and splits."
    )
    documents: dict[str, DocumentOverride] = Field(
        default_factory=dict,
        description="Per-document corrections of subject and period, by file name or glob: "
        "{'acme_q3*.pdf': {subject: 'Acme Robotics, Inc.', period: 'Q3 FY2025'}}. Re-derives only the facts "
        "and questions of the documents it matches.",
    )
    export: ExportSettings = Field(default_factory=ExportSettings, description="Exported dataset files.")
    train: TrainSettings = Field(default_factory=TrainSettings, description="Fine-tuning (LoRA / QLoRA).")
    eval: EvalSettings = Field(
        default_factory=EvalSettings, description="Evaluation: systems, question sets, metrics, report."
    )
    store: StoreSettings = Field(
        default_factory=StoreSettings, description="The database: SQLite in the folder, or PostgreSQL."
    )
    executor: Literal["local", "ray"] = Field(
        default="local",
        description="Where embedding runs: local (this process) or ray (actors on a Ray cluster, see ray).",
    )
    ray: RaySettings = Field(default_factory=RaySettings, description="The Ray cluster (executor: ray).")

    def sha(self, *sections: str) -> str:
        """Stable hash of the given sections (all when none), for 'have the settings changed?'."""
        data = self.model_dump(mode="json")
        if sections:
            data = {s: data[s] for s in sections}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


# ---------------------------------------------------------------------------------------------------
# Reading


def _unknown_key_error(key: str, valid: list[str], where: str, source: str) -> ConfigError:
    near = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
    hint = f"; did you mean '{where}{near[0]}'?" if near else f"; valid keys: {', '.join(valid)}"
    return ConfigError(f"{source}: unknown setting '{where}{key}'{hint}")


def _check_keys(model: type[BaseModel], data: Any, where: str, source: str) -> None:
    if not isinstance(data, dict):
        return
    fields = model.model_fields
    for key, value in data.items():
        if key not in fields:
            raise _unknown_key_error(str(key), list(fields), where, source)
        annotation = fields[key].annotation
        sub = _section_type(annotation)
        if sub is not None and getattr(annotation, "__origin__", None) is dict and isinstance(value, dict):
            for name, entry in value.items():  # a mapping of sections (documents: {glob: {...}})
                _check_keys(sub, entry, f"{where}{key}.{name}.", source)
        elif sub is not None and isinstance(value, dict):
            _check_keys(sub, value, f"{where}{key}.", source)


def _section_type(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return None


def parse_settings(data: dict[str, Any] | None, source: str = CONFIG_NAME) -> Settings:
    data = data or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of settings at the top level")
    _check_keys(Settings, data, "", source)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        raise ConfigError(f"{source}: {loc}: {msg}" if loc else f"{source}: {msg}") from None


def load_settings(project: Path) -> Settings:
    """Settings of a project folder; defaults when it has no synthtune.yaml."""
    path = Path(project) / CONFIG_NAME
    if not path.exists():
        return Settings()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}:{where} is not valid YAML ({getattr(exc, 'problem', exc)})") from None
    return parse_settings(data, str(path))


# ---------------------------------------------------------------------------------------------------
# Writing (synthtune init)


def _yaml_scalar(value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
    return text.removesuffix("\n...").removesuffix("...").strip()


def _render(model: BaseModel | None, cls: type[BaseModel], indent: int) -> list[str]:
    lines: list[str] = []
    pad = "  " * indent
    for name, field in cls.model_fields.items():
        value = getattr(model, name) if model is not None else field.get_default(call_default_factory=True)
        sub = _section_type(field.annotation)
        if lines and indent == 0:
            lines.append("")
        if field.description:
            for chunk in _wrap(field.description, 100 - len(pad)):
                lines.append(f"{pad}# {chunk}")
        if sub is not None and isinstance(value, BaseModel):
            lines.append(f"{pad}{name}:")
            lines.extend(_render(value, sub, indent + 1))
        elif sub is not None and value is None:
            lines.append(f"{pad}{name}: null   # set a mapping with the fields of {sub.__name__}")
        else:
            dumped = getattr(model, "model_dump", None)
            plain = dumped(mode="json", include={name})[name] if dumped is not None else value
            lines.append(f"{pad}{name}: {_yaml_scalar(plain)}")
    return lines


def _wrap(text: str, width: int) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width=max(40, width)) or [text]


def render_settings(settings: Settings | None = None) -> str:
    settings = settings or Settings()
    header = [
        "# synthtune settings. Every setting is listed with its default; delete what you do not change.",
        "# Reference: `synthtune init --help`, README.md. Unknown keys are errors.",
        "",
    ]
    return "\n".join(header + _render(settings, Settings, 0)) + "\n"
