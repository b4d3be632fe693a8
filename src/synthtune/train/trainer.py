"""LoRA / QLoRA fine-tuning through TRL's ``SFTTrainer``.

:func:`train` takes conversations (``{"messages": [...]}``), tokenizes them with the base model's own
chat template (:mod:`synthtune.train.tokenize`, which asserts the masks before any step), and hands TRL a
pre-tokenized dataset with ``input_ids`` and ``labels``. TRL 1.x uses a ``labels`` column as is, so the
masks trained on are exactly the ones asserted; rows longer than ``max_length`` were already dropped and
counted, so TRL's own truncation never cuts an answer.

The output folder holds the adapter, the tokenizer, ``chat_template.jinja`` (the exact template used),
``synthtune_meta.json`` (base model, data hashes, settings, versions, metrics), ``metrics.json`` (the loss
history), ``loss_curve.png`` and ``checkpoints/`` (what ``resume=True`` restarts from).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import math
import platform
import resource
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from synthtune.chat import ChatFormat, chat_format
from synthtune.config import TrainSettings
from synthtune.errors import (
    CheckpointMismatch,
    ConfigError,
    DependencyMissing,
    ModelNotFoundError,
    TrainingDataError,
)
from synthtune.hardware import cpu_has_amx
from synthtune.paths import ensure_writable_dir
from synthtune.train.frozen import FrozenLayerCache, frozen_cache
from synthtune.train.tokenize import IGNORE_INDEX, TokenizedSplit, tokenize_rows

META_NAME = "synthtune_meta.json"
METRICS_NAME = "metrics.json"
CURVE_NAME = "loss_curve.png"
TEMPLATE_NAME = "chat_template.jinja"
CHECKPOINTS = "checkpoints"
RUN_NAME = "synthtune_run.json"  # beside the checkpoints: what they were trained on


@dataclass
class TrainProgress:
    """What the progress callback is told after each logged step (and each evaluation)."""

    step: int
    max_steps: int
    loss: float | None = None
    eval_loss: float | None = None
    learning_rate: float | None = None
    tokens_per_s: float | None = None
    epoch: float | None = None


@dataclass
class TrainResult:
    adapter_dir: str
    base_model: str
    steps: int
    epochs: float
    train_loss_first: float | None
    train_loss_last: float | None
    eval_loss_before: float | None
    eval_loss: float | None
    tokens_per_s: float
    train_tokens: int
    train_padded_tokens: int
    train_seconds: float
    train_cpu_seconds: float
    peak_mem_mb: float
    n_train_rows: int
    n_val_rows: int
    n_train_dropped: int
    n_val_dropped: int
    resumed_from_step: int | None
    data_sha256: str
    device: str
    cpu_bf16: bool = False  # trained on the CPU under bfloat16 autocast (train.cpu_precision)
    planned_steps: int | None = None  # the steps planned, when train.max_minutes cut them to ``steps``
    # train.cache_frozen_layers: whose outputs were kept and how often they were used, or why not
    frozen_cache: str | None = None
    loss_history: list[dict[str, float]] = field(default_factory=list, repr=False)

    @property
    def n_rows_dropped(self) -> int:
        return self.n_train_dropped + self.n_val_dropped

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("loss_history")
        data["n_rows_dropped"] = self.n_rows_dropped
        return data


# ---------------------------------------------------------------------------------------------------
# Optional dependencies


def answer_loss(
    model: Any,
    inputs: dict[str, Any],
    num_items: Any = None,
    return_outputs: bool = False,
    frozen: Any = None,
) -> Any:
    """Cross-entropy on the trained (answer) tokens, with logits computed only from the first position
    that predicts one: the LM head of a small model is a large share of its compute (a fifth of
    SmolLM2-135M's weights, 49,152 outputs per position), and the prompt's positions need none.

    This replaces TRL's fused head, which scores every position in float32 and recomputes the logits in
    the backward pass (half of each step on a CPU); its token-accuracy and entropy metrics are not used.
    The sum is divided by ``num_items`` (the batch's trained tokens over all accumulated micro-batches,
    as the trainer counts them), or averaged when that is unknown. ``frozen`` (a
    :class:`synthtune.train.frozen.FrozenLayerCache`) runs only the layers above its boundary for rows
    it has seen."""
    import torch

    labels = inputs["labels"]
    targets = labels[:, 1:]
    trained = (targets != IGNORE_INDEX).any(dim=0).nonzero()
    first = int(trained[0]) if len(trained) else targets.shape[1] - 1
    keep = torch.arange(first, targets.shape[1], device=labels.device)
    if frozen is not None:
        outputs = frozen.forward(inputs["input_ids"], inputs.get("attention_mask"), keep, model)
    else:
        outputs = model(
            input_ids=inputs["input_ids"],
            attention_mask=inputs.get("attention_mask"),
            logits_to_keep=keep,
            use_cache=False,
        )
    logits = outputs.logits.float()
    loss = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]),
        targets[:, first:].reshape(-1),
        ignore_index=IGNORE_INDEX,
        reduction="sum",
    )
    denominator = num_items if num_items is not None else (targets != IGNORE_INDEX).sum()
    loss = loss / torch.as_tensor(denominator, device=loss.device).clamp(min=1)
    return (loss, outputs) if return_outputs else loss


def cpu_bf16(settings: TrainSettings) -> bool:
    """Whether training on the CPU runs under bfloat16 autocast (``train.cpu_precision``)."""
    if settings.cpu_precision == "auto":
        return cpu_has_amx()
    return settings.cpu_precision == "bf16"


def is_cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def is_bitsandbytes_available() -> bool:
    return importlib.util.find_spec("bitsandbytes") is not None


def require_qlora() -> None:
    """QLoRA needs a CUDA GPU and bitsandbytes; say so before anything is loaded."""
    missing = []
    if not is_cuda_available():
        missing.append("a CUDA GPU (none is visible to torch)")
    if not is_bitsandbytes_available():
        missing.append("bitsandbytes (`pip install bitsandbytes`)")
    if missing:
        raise DependencyMissing(
            "train.qlora needs " + " and ".join(missing) + "; set train.qlora: false to train a LoRA "
            "adapter on the full-precision base instead (it runs on a CPU)"
        )


# ---------------------------------------------------------------------------------------------------
# Pieces


def resolve_base(base_model: str) -> str:
    from synthtune.llm.bundled import resolve_generator

    return resolve_generator(base_model)


def linear_module_names(model: Any) -> list[str]:
    """Short names of the model's linear layers (what ``target_modules`` may name)."""
    import torch

    return sorted(
        {name.rsplit(".", 1)[-1] for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    )


def check_target_modules(settings: TrainSettings, model: Any, base_model: str) -> None:
    """A ConfigError naming any target module the model does not have, with the names it does have."""
    if settings.target_modules == "all-linear":
        return
    import torch

    linear = {name for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    unknown = [t for t in settings.target_modules if not any(n == t or n.endswith("." + t) for n in linear)]
    if unknown:
        raise ConfigError(
            f"train.target_modules: {', '.join(repr(u) for u in unknown)} "
            f"{'is not a linear module' if len(unknown) == 1 else 'are not linear modules'} of {base_model}; "
            f"its linear modules are: {', '.join(linear_module_names(model))} (or use 'all-linear')"
        )


def _empty_model(model_path: str, base_model: str) -> Any:
    """The base's architecture with no weights (meta device): cheap checks before loading anything."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    try:
        config = AutoConfig.from_pretrained(model_path)
    except (OSError, ValueError) as exc:
        raise ModelNotFoundError(f"cannot load base model {base_model!r}: {exc}") from None
    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config)


def lora_config(settings: TrainSettings, model: Any = None) -> Any:
    """PEFT's LoRA settings; with ``train.lora_top_layers``, adapters in the top layers of ``model``."""
    from peft import LoraConfig

    target = settings.target_modules
    layers = None
    n_layers = getattr(getattr(model, "config", None), "num_hidden_layers", None)
    if settings.lora_top_layers and n_layers and settings.lora_top_layers < n_layers:
        layers = list(range(n_layers - settings.lora_top_layers, n_layers))
        if target == "all-linear":  # PEFT picks layers only from named modules: every linear but the head
            target = [n for n in linear_module_names(model) if n != "lm_head"]
    return LoraConfig(
        r=settings.lora_r,
        lora_alpha=settings.lora_alpha,
        lora_dropout=settings.lora_dropout,
        target_modules=target if target == "all-linear" else list(target),
        layers_to_transform=layers,
        bias="none",
        task_type="CAUSAL_LM",
    )


def load_base_model(model_path: str, settings: TrainSettings) -> Any:
    """The base model, 4-bit (QLoRA, CUDA) or unquantized: float32 on a CPU, 16-bit on a GPU."""
    import torch
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {}
    if settings.qlora:
        from transformers import BitsAndBytesConfig

        compute = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=compute,
        )
        kwargs["dtype"] = compute
        kwargs["device_map"] = {"": torch.cuda.current_device()}
    elif torch.cuda.is_available():
        kwargs["dtype"] = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    else:
        kwargs["dtype"] = torch.float32
    model = AutoModelForCausalLM.from_pretrained(model_path, **kwargs)
    if settings.qlora:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=settings.gradient_checkpointing
        )
    return model


class LengthGroupedSampler:
    """Row order for length-grouped batches: rows are shuffled, cut into mega-batches of
    ``batch_size * mega_batches`` rows, each sorted by length and cut into batches of ``batch_size``;
    the batches are then shuffled. Every batch but the last is full, so the data loader's batches are
    exactly these. Seeded by ``seed`` and the epoch, so a resumed run sees the same order."""

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int, mega_batches: int = 64):
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.seed = seed
        self.mega = batch_size * mega_batches
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.lengths)

    def batches(self) -> list[list[int]]:
        import torch

        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(len(self.lengths), generator=g).tolist()
        batches: list[list[int]] = []
        for start in range(0, len(order), self.mega):
            mega = sorted(order[start : start + self.mega], key=lambda i: self.lengths[i], reverse=True)
            batches.extend(mega[k : k + self.batch_size] for k in range(0, len(mega), self.batch_size))
        partial = [b for b in batches if len(b) < self.batch_size]
        full = [b for b in batches if len(b) == self.batch_size]
        shuffled = [full[i] for i in torch.randperm(len(full), generator=g).tolist()]
        if partial:  # one short batch at most would break the batch boundaries: merge, put last
            shuffled.append(
                sorted((i for b in partial for i in b), key=lambda i: self.lengths[i], reverse=True)
            )
        return shuffled

    def __iter__(self) -> Iterator[int]:
        return iter([i for batch in self.batches() for i in batch])


def _sha256_json(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _versions() -> dict[str, str]:
    import datasets
    import peft
    import torch
    import transformers
    import trl

    from synthtune import __version__ as synthtune_version

    return {
        "synthtune": synthtune_version,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peft": peft.__version__,
        "trl": trl.__version__,
        "datasets": datasets.__version__,
    }


def _peak_mem_mb() -> float:
    """Peak memory: CUDA allocations on a GPU, else the process's peak resident set size."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def _last_checkpoint(folder: Path) -> Path | None:
    """The newest complete checkpoint (one whose trainer state was written)."""
    done = [
        p
        for p in folder.glob("checkpoint-*")
        if p.is_dir() and p.name.split("-")[-1].isdigit() and (p / "trainer_state.json").exists()
    ]
    return max(done, key=lambda p: int(p.name.split("-")[-1])) if done else None


def _run_fingerprint(settings: TrainSettings, base_model: str, data_sha: str) -> dict[str, Any]:
    """What a checkpoint must share with the run that resumes it (steps and epochs may change)."""
    keep = settings.model_dump(
        mode="json",
        exclude={
            "max_steps",
            "epochs",
            "eval_steps",
            "save_steps",
            "save_total_limit",
            "logging_steps",
            "cache_frozen_layers",  # the same steps either way
        },
    )
    return {"base_model": base_model, "data_sha256": data_sha, "settings": keep}


def _total_steps(settings: TrainSettings, n_rows: int, max_steps: int | None) -> int:
    """Optimizer steps the run will take (as transformers counts them)."""
    if max_steps is not None:
        return max_steps
    batches = math.ceil(n_rows / settings.batch_size)
    per_epoch = max(batches // settings.grad_accum + int(batches % settings.grad_accum > 0), 1)
    return math.ceil(settings.epochs * per_epoch)


def _all_dropped_error(split: TokenizedSplit, settings: TrainSettings, n_in: int) -> TrainingDataError:
    return TrainingDataError(
        f"all {n_in} {split.name} rows are longer than train.max_length={settings.max_length} tokens "
        f"(the shortest is {min(split.lengths_dropped)} tokens, prompt and answer together); "
        "raise train.max_length or shorten the prompts"
    )


# ---------------------------------------------------------------------------------------------------
# Training


def train(
    train_rows: Sequence[dict[str, Any]],
    val_rows: Sequence[dict[str, Any]],
    settings: TrainSettings,
    out_dir: str | Path,
    base_model: str | None = None,
    max_steps: int | None = None,
    resume: bool = False,
    progress: Callable[[TrainProgress], None] | None = None,
    callbacks: Sequence[Any] = (),
) -> TrainResult:
    """Train a LoRA (or QLoRA) adapter on ``train_rows`` and write it to ``out_dir``.

    ``base_model`` and ``max_steps`` override the settings. ``resume`` continues from the newest
    checkpoint in ``out_dir/checkpoints`` (made with the same data and settings); without one it starts
    afresh. ``progress`` is called with a :class:`TrainProgress` after each logged step and evaluation;
    ``callbacks`` are extra ``transformers.TrainerCallback`` objects.
    """
    if settings.qlora:
        require_qlora()  # before anything is loaded
    out = ensure_writable_dir(out_dir, "adapter folder")  # before anything is loaded, too
    base = base_model or settings.base_model
    steps_cap = max_steps if max_steps is not None else settings.max_steps

    import torch
    from transformers import AutoTokenizer

    model_path = resolve_base(base)
    check_target_modules(settings, _empty_model(model_path, base), base)
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_path)
    except (OSError, ValueError) as exc:
        raise ModelNotFoundError(f"cannot load the tokenizer of {base!r}: {exc}") from None
    fmt = chat_format(tokenizer)

    if not train_rows:
        raise TrainingDataError("no train rows: export the dataset first (synthtune export)")
    train_split = tokenize_rows(train_rows, tokenizer, fmt, settings.max_length, "train")
    val_split = tokenize_rows(val_rows, tokenizer, fmt, settings.max_length, "val")
    if not train_split.rows:
        raise _all_dropped_error(train_split, settings, len(train_rows))
    if val_rows and not val_split.rows:
        raise _all_dropped_error(val_split, settings, len(val_rows))
    data_sha = _sha256_json({"train": list(train_rows), "val": list(val_rows)})

    # checkpoints: resume only from a run on the same data and settings
    ckpt_dir = out / CHECKPOINTS
    fingerprint = _run_fingerprint(settings, base, data_sha)
    resume_from = _last_checkpoint(ckpt_dir) if resume and ckpt_dir.exists() else None
    if resume_from is not None:
        recorded = json.loads((ckpt_dir / RUN_NAME).read_text()) if (ckpt_dir / RUN_NAME).exists() else None
        if recorded != fingerprint:
            raise CheckpointMismatch(
                f"cannot resume from {resume_from}: it was trained on different data or settings "
                "(run without --resume to start afresh)"
            )
    else:
        shutil.rmtree(ckpt_dir, ignore_errors=True)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    (ckpt_dir / RUN_NAME).write_text(json.dumps(fingerprint, indent=2, sort_keys=True))

    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    model = load_base_model(model_path, settings)
    if tokenizer.pad_token is None:  # padding is masked out of the loss; any known token will do
        tokenizer.pad_token = tokenizer.eos_token

    from peft import get_peft_model
    from transformers import set_seed

    set_seed(settings.seed)  # the adapter's initial weights depend on it
    model = get_peft_model(model, lora_config(settings, model))

    trainer, meter = _build_trainer(
        model, tokenizer, train_split, val_split, settings, ckpt_dir, steps_cap, cuda, progress, callbacks
    )
    eval_before = trainer.evaluate()["eval_loss"] if val_split.rows else None
    if progress is not None and eval_before is not None:
        total = _total_steps(settings, train_split.n_rows, steps_cap)
        progress(TrainProgress(step=0, max_steps=total, eval_loss=eval_before))

    meter.start()
    trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    meter.stop()
    state = trainer.state
    eval_after = None
    if val_split.rows:  # the last in-training evaluation may already be at the last step
        last = [e for e in state.log_history if "eval_loss" in e and e.get("step") == state.global_step]
        eval_after = float(last[-1]["eval_loss"]) if last else trainer.evaluate()["eval_loss"]

    # the adapter and everything that describes it
    out.mkdir(parents=True, exist_ok=True)
    trainer.model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    (out / TEMPLATE_NAME).write_text(fmt.template, encoding="utf-8")

    history = _loss_history(state.log_history)
    train_losses = [h["loss"] for h in history["train"]]
    result = TrainResult(
        adapter_dir=str(out),
        base_model=base,
        steps=int(state.global_step),
        epochs=float(state.epoch or 0.0),
        train_loss_first=train_losses[0] if train_losses else None,
        train_loss_last=train_losses[-1] if train_losses else None,
        eval_loss_before=eval_before,
        eval_loss=eval_after,
        tokens_per_s=meter.tokens_per_s,
        train_tokens=meter.tokens,
        train_padded_tokens=meter.padded_tokens,
        train_seconds=meter.seconds,
        train_cpu_seconds=meter.cpu_seconds,
        peak_mem_mb=_peak_mem_mb(),
        n_train_rows=train_split.n_rows,
        n_val_rows=val_split.n_rows,
        n_train_dropped=train_split.n_dropped,
        n_val_dropped=val_split.n_dropped,
        resumed_from_step=int(resume_from.name.split("-")[-1]) if resume_from else None,
        data_sha256=data_sha,
        device="cuda" if cuda else "cpu",
        cpu_bf16=not cuda and cpu_bf16(settings),
        planned_steps=meter.planned_steps,
        frozen_cache=meter.frozen_summary(),
        loss_history=history["train"],
    )
    metrics = {
        "train": history["train"],
        "eval": [{"step": 0, "eval_loss": eval_before}] * (eval_before is not None) + history["eval"],
    }
    (out / METRICS_NAME).write_text(json.dumps(metrics, indent=2))
    _plot(metrics, out / CURVE_NAME, base)
    meta = {
        "kind": "lora_adapter",
        "base_model": base,
        "base_model_path": model_path,
        "qlora": settings.qlora,
        "chat_template_sha256": fmt.template_sha256,
        "end_of_turn_token": fmt.end_of_turn,
        "end_of_turn_token_id": fmt.end_of_turn_id,
        "data": {
            "sha256": data_sha,
            "tokens_sha256": {"train": train_split.sha256(), "val": val_split.sha256()},
            "rows": {"train": train_split.n_rows, "val": val_split.n_rows},
            "rows_dropped_too_long": {"train": train_split.n_dropped, "val": val_split.n_dropped},
            "tokens": {"train": train_split.n_tokens, "val": val_split.n_tokens},
            "trainable_tokens": {
                "train": train_split.n_trainable_tokens,
                "val": val_split.n_trainable_tokens,
            },
        },
        "settings": settings.model_dump(mode="json") | {"max_steps": steps_cap},
        "versions": _versions(),
        "metrics": result.to_dict(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    (out / META_NAME).write_text(json.dumps(meta, indent=2, sort_keys=True))
    return result


class _Meter:
    """Real (non-pad) and padded tokens trained on, and the wall-clock and CPU seconds (this process,
    all threads) spent, evaluations excluded. CPU seconds tell throughput apart from other load."""

    def __init__(self) -> None:
        self.tokens = 0
        self.padded_tokens = 0
        self.planned_steps: int | None = None
        self.frozen: FrozenLayerCache | None = None  # train.cache_frozen_layers
        self.eval_seconds = self.eval_cpu_seconds = 0.0
        self.seconds = self.cpu_seconds = 0.0
        self._t0 = self._c0 = 0.0
        self._window = (0.0, 0)  # (time, tokens) at the last log

    def start(self) -> None:
        self._t0, self._c0 = time.perf_counter(), time.process_time()
        self.eval_seconds = self.eval_cpu_seconds = 0.0
        self._window = (self._t0, 0)

    def stop(self) -> None:
        self.seconds = time.perf_counter() - self._t0 - self.eval_seconds
        self.cpu_seconds = time.process_time() - self._c0 - self.eval_cpu_seconds

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0

    def frozen_summary(self) -> str | None:
        cache = self.frozen
        if cache is None:
            return None
        if cache.off_reason is not None:
            return cache.off_reason
        return (
            f"outputs of the bottom {cache.split} of {len(cache.layers)} layers kept for {len(cache.rows)} rows "
            f"({cache.bytes / 2**20:.0f} MB); {cache.hits} of {cache.hits + cache.misses} row passes ran only "
            "the layers above"
        )

    def window_rate(self) -> float:
        now, (t, n) = time.perf_counter(), self._window
        self._window = (now, self.tokens)
        return (self.tokens - n) / (now - t) if now > t else 0.0


def _build_trainer(
    model: Any,
    tokenizer: Any,
    train_split: TokenizedSplit,
    val_split: TokenizedSplit,
    settings: TrainSettings,
    ckpt_dir: Path,
    max_steps: int | None,
    cuda: bool,
    progress: Callable[[TrainProgress], None] | None,
    callbacks: Sequence[Any],
) -> tuple[Any, _Meter]:
    import torch
    from datasets import Dataset
    from transformers import PrinterCallback, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    meter = _Meter()
    bf16 = torch.cuda.is_bf16_supported() if cuda else cpu_bf16(settings)
    if settings.cache_frozen_layers:
        # the trainer autocasts the model's forward (bf16, or fp16 on a GPU without bf16); the cache
        # runs the frozen layers under the same
        autocast = torch.bfloat16 if bf16 else torch.float16 if cuda else None
        meter.frozen = frozen_cache(
            model, settings.lora_top_layers, settings.gradient_checkpointing, autocast
        )
    lengths = [len(r["input_ids"]) for r in train_split.rows]
    has_val = bool(val_split.rows)
    # transformers renamed gradient_checkpointing to activation_checkpointing (5.2x); older ones (the 5.17
    # of a GPU image) refuse the new name
    fields = {f.name for f in dataclasses.fields(SFTConfig)}
    checkpointing = (
        "activation_checkpointing" if "activation_checkpointing" in fields else "gradient_checkpointing"
    )
    args = SFTConfig(
        **{checkpointing: settings.gradient_checkpointing},
        output_dir=str(ckpt_dir),
        per_device_train_batch_size=settings.batch_size,
        per_device_eval_batch_size=settings.batch_size,
        gradient_accumulation_steps=settings.grad_accum,
        num_train_epochs=settings.epochs,
        max_steps=max_steps if max_steps is not None else -1,
        learning_rate=settings.learning_rate,
        lr_scheduler_type=settings.lr_scheduler,
        warmup_steps=settings.warmup_ratio,
        weight_decay=settings.weight_decay,
        max_grad_norm=settings.max_grad_norm,
        logging_steps=settings.logging_steps,
        eval_strategy="steps" if has_val else "no",
        eval_steps=settings.eval_steps,
        save_strategy="steps",
        save_steps=settings.save_steps,
        save_total_limit=settings.save_total_limit,
        seed=settings.seed,
        bf16=bf16,
        fp16=cuda and not bf16,
        use_cpu=not cuda,
        # the rows are tokenized, masked and length-checked already: TRL must not cut or re-template them
        max_length=None,
        packing=False,
        padding_free=False,
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
    )

    class Trainer(SFTTrainer):
        def _get_train_sampler(self, train_dataset: Any = None) -> Any:
            if settings.group_by_length:
                return LengthGroupedSampler(lengths, settings.batch_size, settings.seed)
            return super()._get_train_sampler(train_dataset)

        def compute_loss(
            self,
            model: Any,
            inputs: dict[str, Any],
            return_outputs: bool = False,
            num_items_in_batch: Any = None,
        ) -> Any:
            return answer_loss(model, inputs, num_items_in_batch, return_outputs, meter.frozen)

        def training_step(self, model: Any, inputs: dict[str, Any], num_items_in_batch: Any = None) -> Any:
            meter.tokens += int(inputs["attention_mask"].sum())
            meter.padded_tokens += int(inputs["attention_mask"].numel())
            return super().training_step(model, inputs, num_items_in_batch)

        def evaluate(self, *a: Any, **kw: Any) -> dict[str, float]:
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                return super().evaluate(*a, **kw)
            finally:
                meter.eval_seconds += time.perf_counter() - t0
                meter.eval_cpu_seconds += time.process_time() - c0

    class Budget(TrainerCallback):
        """``train.max_minutes``: fit the step count (and the learning-rate schedule) to the time left,
        measured again every few steps and never beyond the steps planned. The pace is the mean time of
        the steps since the last change of regime, evaluations aside: the first step pays one-off costs,
        and with kept frozen-layer outputs (``train.cache_frozen_layers``) the steps after the first epoch
        are cheaper than the first epoch's. A few steps alone say little (one batch of long rows takes
        twice one of short rows), so the count follows the mean as it settles; when the time is up,
        training stops whatever was estimated."""

        every = 4  # steps between refits

        def __init__(self) -> None:
            self.mark: tuple[int, float, float] | None = None  # (step, time, eval seconds) paced from
            self.cached = False

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if settings.max_minutes is None:
                return
            step, now = state.global_step, time.perf_counter()
            # evaluations count here: the budget is wall-clock
            left = settings.max_minutes * 60 - (now - meter._t0)
            cache = meter.frozen
            cached = (
                cache is not None
                and cache.off_reason is None
                and cache.hits > 0
                and (state.epoch or 0.0) >= 1.0
            )
            if left > 0 and (self.mark is None or cached != self.cached):
                self.mark, self.cached = (step, now, meter.eval_seconds), cached
                return
            n = step - self.mark[0] if self.mark is not None else 0
            if left > 0 and (n < self.every or n % self.every):
                return
            pace = max(1e-9, (now - self.mark[1] - (meter.eval_seconds - self.mark[2])) / n) if n else 1.0
            planned = meter.planned_steps or state.max_steps
            fits = min(planned, step + max(0, int(left / pace))) if left > 0 else min(planned, step)
            if fits != state.max_steps:
                meter.planned_steps = planned if fits < planned else None
                state.max_steps = fits
                _refit_schedule(kw.get("lr_scheduler"), fits)
            if step >= fits:
                control.should_training_stop = True

    class Report(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kw: Any) -> None:
            if progress is None or not logs or state.global_step == 0:
                return
            if "loss" in logs:
                progress(
                    TrainProgress(
                        step=state.global_step,
                        max_steps=state.max_steps,
                        loss=float(logs["loss"]),
                        learning_rate=logs.get("learning_rate"),
                        tokens_per_s=meter.window_rate(),
                        epoch=state.epoch,
                    )
                )
            elif "eval_loss" in logs:
                progress(
                    TrainProgress(
                        step=state.global_step, max_steps=state.max_steps, eval_loss=float(logs["eval_loss"])
                    )
                )

    def dataset(split: TokenizedSplit) -> Any:
        return Dataset.from_list(split.rows) if split.rows else None

    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=dataset(train_split),
        eval_dataset=dataset(val_split),
        processing_class=tokenizer,
        callbacks=[Budget(), Report(), *callbacks],
    )
    trainer.remove_callback(PrinterCallback)  # progress goes through `progress`, not print()
    return trainer, meter


def _refit_schedule(scheduler: Any, total_steps: int) -> None:
    """Shorten a transformers learning-rate schedule (a LambdaLR over ``functools.partial`` lambdas that
    take ``num_training_steps``) to ``total_steps``, so that a cut run still decays to its end."""
    for fn in getattr(scheduler, "lr_lambdas", None) or []:
        keywords = getattr(fn, "keywords", None)
        if isinstance(keywords, dict) and "num_training_steps" in keywords:
            keywords["num_training_steps"] = total_steps


def _loss_history(log_history: list[dict[str, Any]]) -> dict[str, list[dict[str, float]]]:
    train, evals = [], []
    for entry in log_history:
        if "loss" in entry and math.isfinite(entry["loss"]):
            row = {"step": entry["step"], "loss": float(entry["loss"])}
            if "learning_rate" in entry:
                row["learning_rate"] = float(entry["learning_rate"])
            train.append(row)
        elif "eval_loss" in entry:
            evals.append({"step": entry["step"], "eval_loss": float(entry["eval_loss"])})
    return {"train": train, "eval": evals}


def _plot(metrics: dict[str, list[dict[str, float]]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    if metrics["train"]:
        ax.plot([h["step"] for h in metrics["train"]], [h["loss"] for h in metrics["train"]], label="train")
    if metrics["eval"]:
        ax.plot(
            [h["step"] for h in metrics["eval"]], [h["eval_loss"] for h in metrics["eval"]], "o-", label="val"
        )
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (answer tokens)")
    ax.set_title(f"LoRA on {title}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def read_meta(adapter_dir: str | Path) -> dict[str, Any]:
    path = Path(adapter_dir) / META_NAME
    return json.loads(path.read_text()) if path.exists() else {}


__all__ = [
    "ChatFormat",
    "LengthGroupedSampler",
    "TrainProgress",
    "TrainResult",
    "check_target_modules",
    "linear_module_names",
    "lora_config",
    "read_meta",
    "require_qlora",
    "train",
]
