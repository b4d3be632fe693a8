"""The transformers backend: a causal LM loaded in process, continuously batched where its cache allows."""

from __future__ import annotations

import copy
import inspect
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synthtune.config import BackendSettings
from synthtune.errors import ModelNotFoundError, first_line
from synthtune.llm.base import ChatRequest, Completion, Progress
from synthtune.llm.bundled import is_bundled, resolve_generator

# End-of-turn markers of common chat templates; generation stops at any that the vocabulary has.
END_OF_TURN_TOKENS = ("<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>", "<|endoftext|>", "</s>")


class TransformersBackend:
    """A causal LM loaded with transformers: left-padded batches, greedy at temperature 0, seeded.

    Requests are grouped by (seed, max_new_tokens, temperature) and sorted by prompt length inside a
    group. For models with a plain key/value cache (llama, qwen, smollm, most decoders) generation is
    continuously batched: up to ``batch_size`` sequences decode together, a sequence leaves the batch
    as soon as it ends and a waiting prompt is prefilled into its place, so short replies do not hold
    a batch for the longest one. Other models (sliding-window or recurrent caches) fall back to
    transformers' ``generate`` in fixed batches. Logits processors (repetition penalty, no-repeat
    n-grams) see each sequence without its padding, so a reply does not depend on what it was batched
    with, up to float rounding. Sampling draws from a generator seeded per group: the same requests
    with the same settings give the same text. ``json_schema`` is ignored (no constrained decoding).
    """

    def __init__(self, settings: BackendSettings) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.settings = settings
        self.name = settings.model
        self.path = resolve_generator(settings.model)
        try:
            tokenizer = AutoTokenizer.from_pretrained(self.path)
            # float32 on CPU (bfloat16 matmuls are slow there); the checkpoint's own dtype on accelerators
            dtype = torch.float32 if settings.device == "cpu" else "auto"
            if (Path(self.path) / "adapter_config.json").exists():
                model = _load_adapter_merged(self.path, dtype)
            else:
                model = AutoModelForCausalLM.from_pretrained(self.path, dtype=dtype)
        except (OSError, ValueError) as exc:
            raise ModelNotFoundError(load_error(settings.model, exc)) from None
        model.to(settings.device).eval()
        tokenizer.padding_side = "left"
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        if tokenizer.chat_template is None:
            raise ModelNotFoundError(
                f"model '{settings.model}' has no chat template; use an instruction-tuned (chat) model"
            )
        self.tokenizer = tokenizer
        self.model = model
        self.stop_ids = _stop_token_ids(tokenizer, model.generation_config)
        self.continuous_batching = _plain_kv_cache(model)
        # transformers 5.x renamed forward()'s `past_key_values` to `cache` (the old name warns)
        params = inspect.signature(model.forward).parameters
        self._cache_arg = "cache" if "cache" in params else "past_key_values"

    def settings_dict(self) -> dict[str, Any]:
        return {**self.settings.model_dump(mode="json"), "resolved_model": self.path}

    def close(self) -> None:
        self.model = None  # type: ignore[assignment]

    def prompt_ids(self, request: ChatRequest) -> list[int]:
        """The token ids of a request's prompt: the tokenizer's own chat template, generation prompt added."""
        text = self.tokenizer.apply_chat_template(
            request.messages, add_generation_prompt=True, tokenize=False
        )
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def generate(self, requests: list[ChatRequest], progress: Progress | None = None) -> list[Completion]:
        from jinja2 import TemplateError

        s = self.settings
        results: list[Completion | None] = [None] * len(requests)
        prompts: list[list[int]] = []
        for i, r in enumerate(requests):
            try:
                prompts.append(self.prompt_ids(r))
            except TemplateError as exc:  # e.g. a template that refuses a system message
                prompts.append([])
                results[i] = Completion("", self.name, 0.0, 0, 0, 1, "failed", f"chat template: {exc}")
        if progress is not None and any(results):
            progress(sum(c is not None for c in results))
        groups: dict[tuple[int, int, float], list[int]] = {}
        for i, r in enumerate(requests):
            if results[i] is None:
                key = (
                    s.seed if r.seed is None else r.seed,
                    r.max_new_tokens or s.max_new_tokens,
                    s.temperature if r.temperature is None else r.temperature,
                )
                groups.setdefault(key, []).append(i)
        for (seed, max_new, temperature), members in groups.items():
            members.sort(key=lambda i: len(prompts[i]))

            def done(k: int, completion: Completion, members: list[int] = members) -> None:
                results[members[k]] = completion
                if progress is not None:
                    progress(1)

            group = [prompts[i] for i in members]
            if self.continuous_batching:
                self._decode_continuous(group, seed, max_new, temperature, done)
            else:
                for start in range(0, len(group), s.batch_size):
                    batch = group[start : start + s.batch_size]
                    for k, completion in enumerate(self._generate_fixed(batch, seed, max_new, temperature)):
                        done(start + k, completion)
        return [c for c in results if c is not None]

    # -- continuous batching over a plain KV cache ---------------------------------------------------

    def _decode_continuous(
        self,
        prompts: list[list[int]],
        seed: int,
        max_new: int,
        temperature: float,
        done: Callable[[int, Completion], None],
    ) -> None:
        """Decode ``prompts`` (sorted by length) with at most ``batch_size`` in flight; ``done(k, c)``
        is called once per prompt, as it finishes."""
        import torch

        s = self.settings
        waiting = deque(range(len(prompts)))
        rows: list[_Row] = []
        cache: Any = None
        mask = logits = None
        generator = torch.Generator().manual_seed(seed)
        refill_at = max(1, s.batch_size // 4)  # prefill newcomers a few at a time, not one by one
        finished: set[int] = set()

        def finish(k: int, completion: Completion) -> None:
            finished.add(k)
            done(k, completion)

        try:
            while waiting or rows:
                free = s.batch_size - len(rows)
                if waiting and (not rows or free >= min(refill_at, len(waiting))):
                    joining = [waiting.popleft() for _ in range(min(free, len(waiting)))]
                    new_cache, new_mask, new_logits = self._prefill([prompts[k] for k in joining])
                    now = time.perf_counter()
                    rows += [_Row(k, list(prompts[k]), len(prompts[k]), now) for k in joining]
                    if cache is None:
                        cache, mask, logits = new_cache, new_mask, new_logits
                    else:
                        mask = _merge_caches(cache, mask, new_cache, new_mask)
                        logits = torch.cat([logits, new_logits])
                next_ids = self._choose(rows, logits, temperature, generator)
                keep = []
                for n, (row, token) in enumerate(zip(rows, next_ids, strict=True)):
                    row.tokens.append(token)
                    new = len(row.tokens) - row.n_prompt
                    if token in self.stop_ids or new >= max_new:
                        reason = "stop" if token in self.stop_ids else "length"
                        finish(row.k, self._completion(row, reason))
                    else:
                        keep.append(n)
                if len(keep) < len(rows):
                    rows = [rows[n] for n in keep]
                    if not rows:
                        cache = mask = logits = None
                        continue
                    index = torch.tensor(keep, device=mask.device)
                    cache.batch_select_indices(index)
                    mask = _trim_left(cache, mask[index])
                mask = torch.cat([mask, mask.new_ones(len(rows), 1)], dim=1)
                feed = torch.tensor([[row.tokens[-1]] for row in rows], device=mask.device)
                positions = torch.tensor([[len(row.tokens) - 1] for row in rows], device=mask.device)
                with torch.inference_mode():
                    out = self.model(
                        input_ids=feed,
                        attention_mask=mask,
                        position_ids=positions,
                        use_cache=True,
                        **{self._cache_arg: cache},
                    )
                logits = out.logits[:, -1, :]
        except RuntimeError as exc:  # out of memory, a sequence longer than the model takes, ...
            error = f"{type(exc).__name__}: {exc}"
            for k in range(len(prompts)):
                if k not in finished:
                    done(k, Completion("", self.name, 0.0, len(prompts[k]), 0, 1, "failed", error))

    def _prefill(self, prompts: list[list[int]]) -> tuple[Any, Any, Any]:
        import torch
        from transformers import DynamicCache

        device = self.model.device
        width = max(len(p) for p in prompts)
        pad = self.tokenizer.pad_token_id
        ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts], device=device)
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        cache = DynamicCache(config=self.model.config)
        with torch.inference_mode():
            out = self.model(
                input_ids=ids,
                attention_mask=mask,
                position_ids=positions,
                use_cache=True,
                logits_to_keep=1,
                **{self._cache_arg: cache},
            )
        return cache, mask, out.logits[:, -1, :]

    def _choose(self, rows: list[_Row], logits: Any, temperature: float, generator: Any) -> list[int]:
        """Next token of each row: its own repetition penalty and n-gram ban, then greedy or sampled."""
        import torch
        from transformers.generation.logits_process import (
            NoRepeatNGramLogitsProcessor,
            RepetitionPenaltyLogitsProcessor,
            TopPLogitsWarper,
        )

        s = self.settings
        scores = logits.float()
        per_row = []
        if s.repetition_penalty != 1.0:
            per_row.append(RepetitionPenaltyLogitsProcessor(s.repetition_penalty))
        if s.no_repeat_ngram_size > 0:
            per_row.append(NoRepeatNGramLogitsProcessor(s.no_repeat_ngram_size))
        if per_row:
            scores = scores.clone()
            for n, row in enumerate(rows):
                seen = torch.tensor([row.tokens], device=scores.device)
                for processor in per_row:
                    scores[n : n + 1] = processor(seen, scores[n : n + 1])
        if temperature == 0:
            return scores.argmax(-1).tolist()
        scores = scores / temperature
        if s.top_p < 1.0:
            scores = TopPLogitsWarper(s.top_p)(None, scores)
        probs = torch.softmax(scores, dim=-1).cpu()
        return torch.multinomial(probs, 1, generator=generator).squeeze(1).tolist()

    def _completion(self, row: _Row, finish: str) -> Completion:
        new = row.tokens[row.n_prompt :]
        text = self.tokenizer.decode(new, skip_special_tokens=True).strip()
        latency = time.perf_counter() - row.started
        return Completion(text, self.name, latency, row.n_prompt, len(new), 1, "ok", None, finish)

    # -- fixed batches through transformers' generate ------------------------------------------------

    def _generate_fixed(
        self, prompts: list[list[int]], seed: int, max_new: int, temperature: float
    ) -> list[Completion]:
        import torch

        s = self.settings
        pad_id = self.tokenizer.pad_token_id
        width = max(len(p) for p in prompts)
        input_ids = torch.tensor([[pad_id] * (width - len(p)) + p for p in prompts], device=self.model.device)
        attention = torch.tensor(
            [[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=self.model.device
        )
        sample = temperature > 0
        options: dict[str, Any] = {
            "max_new_tokens": max_new,
            "do_sample": sample,
            "repetition_penalty": s.repetition_penalty,
            "no_repeat_ngram_size": s.no_repeat_ngram_size,
            "eos_token_id": self.stop_ids,
            "pad_token_id": pad_id,
        }
        if sample:
            options.update(temperature=temperature, top_p=s.top_p, top_k=0)
        config = copy.deepcopy(self.model.generation_config)
        config.update(**options)
        started = time.perf_counter()
        try:
            torch.manual_seed(seed)
            with torch.inference_mode():
                out = self.model.generate(
                    input_ids=input_ids, attention_mask=attention, generation_config=config
                )
        except RuntimeError as exc:  # out of memory, a sequence longer than the model takes, ...
            latency = time.perf_counter() - started
            return [
                Completion("", self.name, latency, len(p), 0, 1, "failed", f"{type(exc).__name__}: {exc}")
                for p in prompts
            ]
        latency = time.perf_counter() - started
        completions = []
        for row, prompt in zip(out[:, width:].tolist(), prompts, strict=True):
            new, finish = _cut_at_stop(row, self.stop_ids)
            text = self.tokenizer.decode(new, skip_special_tokens=True).strip()
            completions.append(
                Completion(text, self.name, latency, len(prompt), len(new), 1, "ok", None, finish)
            )
        return completions


@dataclass
class _Row:
    """A sequence being decoded: its index in the group, prompt + generated ids, prompt length, start."""

    k: int
    tokens: list[int]
    n_prompt: int
    started: float


def _load_adapter_merged(adapter_dir: str, dtype: Any) -> Any:
    """A LoRA adapter folder loads as its base with the adapter merged in memory (plain layers generate
    faster than LoRA-wrapped ones, and the logits are the same within float tolerance)."""
    from peft import AutoPeftModelForCausalLM

    return AutoPeftModelForCausalLM.from_pretrained(adapter_dir, dtype=dtype).merge_and_unload()


def _plain_kv_cache(model: Any) -> bool:
    """Whether every layer keeps a plain growing key/value cache, which can be re-batched freely."""
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    try:
        layers = DynamicCache(config=model.config).layers
    except (TypeError, ValueError, KeyError):
        return False
    return bool(layers) and all(type(layer) is DynamicLayer for layer in layers)


def _pad_left(t: Any, length: int) -> Any:
    """Pad dimension -2 of a (batch, heads, seq, dim) tensor, or the last of a (batch, seq) mask, on the left."""
    import torch.nn.functional as F  # noqa: N812

    missing = length - (t.shape[-2] if t.dim() == 4 else t.shape[-1])
    if missing == 0:
        return t
    return F.pad(t, (0, 0, missing, 0)) if t.dim() == 4 else F.pad(t, (missing, 0))


def _merge_caches(cache: Any, mask: Any, other: Any, other_mask: Any) -> Any:
    """Append ``other``'s rows to ``cache`` (in place), left-padding both to one length; the joint mask."""
    import torch

    length = max(mask.shape[1], other_mask.shape[1])
    for layer, extra in zip(cache.layers, other.layers, strict=True):
        layer.keys = torch.cat([_pad_left(layer.keys, length), _pad_left(extra.keys, length)])
        layer.values = torch.cat([_pad_left(layer.values, length), _pad_left(extra.values, length)])
    return torch.cat([_pad_left(mask, length), _pad_left(other_mask, length)])


def _trim_left(cache: Any, mask: Any) -> Any:
    """Drop leading cache positions that are padding in every row (left by rows that finished)."""
    empty = int((mask.sum(0) == 0).int().cumprod(0).sum())
    if empty == 0:
        return mask
    for layer in cache.layers:
        layer.keys = layer.keys[:, :, empty:, :]
        layer.values = layer.values[:, :, empty:, :]
    return mask[:, empty:]


def _stop_token_ids(tokenizer: Any, generation_config: Any) -> list[int]:
    ids: list[int] = []
    configured = generation_config.eos_token_id
    for value in [*(configured if isinstance(configured, list) else [configured]), tokenizer.eos_token_id]:
        if value is not None and value not in ids:
            ids.append(int(value))
    vocab = tokenizer.get_vocab()
    for token in END_OF_TURN_TOKENS:
        if token in vocab and vocab[token] not in ids:
            ids.append(vocab[token])
    if not ids:
        raise ModelNotFoundError("the model's tokenizer has no end-of-sequence token")
    return ids


def _cut_at_stop(row: list[int], stop_ids: list[int]) -> tuple[list[int], str]:
    """The generated tokens up to and including the first stop token (what follows is padding)."""
    for n, token in enumerate(row):
        if token in stop_ids:
            return row[: n + 1], "stop"
    return row, "length"


def load_error(model: str, exc: Exception, backend: str = "") -> str:
    """Why a model did not load, in one line; ``backend`` names the backend where it is not this one."""
    who = f"backend {backend} " if backend else ""
    if is_bundled(model):
        return f"{who}cannot load the bundled generator: {first_line(exc)}"
    if os.path.sep in model and not os.path.exists(model):
        return f"model '{model}': no such folder"
    offline = " (offline: HF_HUB_OFFLINE is set)" if os.environ.get("HF_HUB_OFFLINE") else ""
    return f"{who}cannot load model '{model}'{offline}: {first_line(exc)}"
