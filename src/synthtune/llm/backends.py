"""Generation backends: transformers in process, and any OpenAI-compatible server over HTTP.

A backend turns a list of :class:`ChatRequest` into a list of :class:`Completion`, one per request, in
input order. It never touches the store: the caller logs every call (model, settings, latency, tokens,
outcome) from the returned completions. Per-request failures are returned as completions with
``outcome="failed"`` and the error text, never raised; only a model that cannot be loaded at all raises
:class:`~synthtune.errors.ModelNotFoundError`.

``make_backend(settings)`` picks the backend named in :class:`~synthtune.config.BackendSettings`.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from synthtune.config import BackendSettings
from synthtune.errors import LLMError, ModelNotFoundError
from synthtune.llm.bundled import is_bundled, resolve_generator

if TYPE_CHECKING:
    import openai

Outcome = Literal["ok", "retried", "failed"]
Progress = Callable[[int], None]
"""Called with the number of requests just finished (an increment, as ``rich``'s ``advance`` takes)."""

# End-of-turn markers of common chat templates; generation stops at any that the vocabulary has.
END_OF_TURN_TOKENS = ("<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>", "<|endoftext|>", "</s>")
BACKOFF_CAP_S = 8.0


@dataclass
class ChatRequest:
    messages: list[dict]
    """``[{"role": ..., "content": ...}]`` in the OpenAI chat format."""
    json_schema: dict | None = None
    """Constrain the reply to this JSON schema where the backend and server support it."""
    max_new_tokens: int | None = None
    """Overrides ``BackendSettings.max_new_tokens`` for this request."""
    seed: int | None = None
    """Overrides ``BackendSettings.seed`` for this request."""


@dataclass
class Completion:
    text: str
    model: str
    latency_s: float
    tokens_in: int
    tokens_out: int
    attempts: int
    outcome: Outcome
    error: str | None = None
    finish_reason: str | None = None
    """``"stop"`` (end of turn), ``"length"`` (hit max_new_tokens), or what the server said."""


class Backend(Protocol):
    name: str

    def settings_dict(self) -> dict[str, Any]: ...

    def generate(self, requests: list[ChatRequest], progress: Progress | None = None) -> list[Completion]: ...

    def close(self) -> None: ...


def make_backend(settings: BackendSettings) -> Backend:
    """The backend that ``settings.backend`` names, ready to generate."""
    if settings.backend == "transformers":
        return TransformersBackend(settings)
    if settings.backend == "openai":
        return OpenAIBackend(settings)
    raise LLMError(f"unknown backend '{settings.backend}'")  # unreachable: the settings model validates it


# ---------------------------------------------------------------------------------------------------
# transformers, in process


class TransformersBackend:
    """A causal LM loaded with transformers; batched, left-padded, greedy at temperature 0.

    Requests are grouped by (seed, max_new_tokens), sorted by prompt length inside a group to reduce
    padding, and generated ``batch_size`` at a time; ``torch.manual_seed`` is set before every batch,
    so the same requests with the same settings give the same text.
    """

    def __init__(self, settings: BackendSettings) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.settings = settings
        self.name = settings.model
        self.path = resolve_generator(settings.model)
        try:
            tokenizer = AutoTokenizer.from_pretrained(self.path)
            model = AutoModelForCausalLM.from_pretrained(self.path, dtype=torch.float32)
        except (OSError, ValueError) as exc:
            raise ModelNotFoundError(_load_error(settings.model, exc)) from None
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

    def settings_dict(self) -> dict[str, Any]:
        return {**self.settings.model_dump(mode="json"), "resolved_model": self.path}

    def close(self) -> None:
        self.model = None  # type: ignore[assignment]

    def prompt_ids(self, request: ChatRequest) -> list[int]:
        """The token ids of a request's prompt: the tokenizer's own chat template, generation prompt added."""
        text = self.tokenizer.apply_chat_template(request.messages, add_generation_prompt=True, tokenize=False)
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def generate(self, requests: list[ChatRequest], progress: Progress | None = None) -> list[Completion]:
        s = self.settings
        prompts = [self.prompt_ids(r) for r in requests]
        groups: dict[tuple[int, int], list[int]] = {}
        for i, r in enumerate(requests):
            key = (s.seed if r.seed is None else r.seed, r.max_new_tokens or s.max_new_tokens)
            groups.setdefault(key, []).append(i)
        results: list[Completion | None] = [None] * len(requests)
        for (seed, max_new), members in groups.items():
            members.sort(key=lambda i: len(prompts[i]))
            for start in range(0, len(members), s.batch_size):
                batch = members[start : start + s.batch_size]
                for i, completion in zip(batch, self._generate_batch([prompts[i] for i in batch], seed, max_new)):
                    results[i] = completion
                if progress is not None:
                    progress(len(batch))
        return [c for c in results if c is not None]

    def _generate_batch(self, prompts: list[list[int]], seed: int, max_new: int) -> list[Completion]:
        import torch

        s = self.settings
        pad_id = self.tokenizer.pad_token_id
        width = max(len(p) for p in prompts)
        input_ids = torch.tensor([[pad_id] * (width - len(p)) + p for p in prompts], device=self.model.device)
        attention = torch.tensor(
            [[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=self.model.device
        )
        sample = s.temperature > 0
        options: dict[str, Any] = {
            "max_new_tokens": max_new,
            "do_sample": sample,
            "repetition_penalty": s.repetition_penalty,
            "no_repeat_ngram_size": s.no_repeat_ngram_size,
            "eos_token_id": self.stop_ids,
            "pad_token_id": pad_id,
        }
        if sample:
            options.update(temperature=s.temperature, top_p=s.top_p, top_k=0)
        config = self.model.generation_config.__class__.from_dict(
            {**self.model.generation_config.to_dict(), **options}
        )
        started = time.perf_counter()
        try:
            torch.manual_seed(seed)
            with torch.inference_mode():
                out = self.model.generate(input_ids=input_ids, attention_mask=attention, generation_config=config)
        except RuntimeError as exc:  # out of memory, a sequence longer than the model takes, ...
            latency = time.perf_counter() - started
            return [
                Completion("", self.name, latency, len(p), 0, 1, "failed", f"{type(exc).__name__}: {exc}")
                for p in prompts
            ]
        latency = time.perf_counter() - started
        completions = []
        for row, prompt in zip(out[:, width:].tolist(), prompts):
            new, finish = _cut_at_stop(row, self.stop_ids)
            text = self.tokenizer.decode(new, skip_special_tokens=True).strip()
            completions.append(Completion(text, self.name, latency, len(prompt), len(new), 1, "ok", None, finish))
        return completions


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


def _load_error(model: str, exc: Exception) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if is_bundled(model):
        return f"cannot load the bundled generator: {first}"
    if os.path.sep in model and not os.path.exists(model):
        return f"model '{model}': no such folder"
    offline = " (offline: HF_HUB_OFFLINE is set)" if os.environ.get("HF_HUB_OFFLINE") else ""
    return f"cannot load model '{model}'{offline}: {first}"


# ---------------------------------------------------------------------------------------------------
# OpenAI-compatible HTTP


class OpenAIBackend:
    """Any OpenAI-compatible chat-completions server, through the official ``openai`` SDK.

    Up to ``concurrency`` requests are in flight. Each request gets ``max_retries`` retries on 408, 409,
    429, 5xx, connection errors and timeouts, with exponential backoff and jitter (a ``Retry-After``
    header is honoured, up to a cap). JSON schemas go out as ``response_format``; a server that answers
    400 to it is remembered for the rest of the session and sent plain requests (the caller parses text
    either way). Note: ``transformers serve`` accepts ``response_format`` but ignores it.
    """

    def __init__(self, settings: BackendSettings) -> None:
        import openai

        if not settings.base_url:
            raise LLMError("the openai backend needs base_url, e.g. http://127.0.0.1:8000/v1")
        self.settings = settings
        self.name = settings.model
        self.client = openai.OpenAI(
            base_url=settings.base_url,
            api_key=os.environ.get(settings.api_key_env) or "EMPTY",
            timeout=settings.timeout_s,
            max_retries=0,
        )
        self.schema_supported = True
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=settings.concurrency, thread_name_prefix="synthtune-llm")

    def settings_dict(self) -> dict[str, Any]:
        return self.settings.model_dump(mode="json")

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.client.close()

    def generate(self, requests: list[ChatRequest], progress: Progress | None = None) -> list[Completion]:
        results: list[Completion | None] = [None] * len(requests)
        futures = {self._pool.submit(self._one, r): i for i, r in enumerate(requests)}
        for future in as_completed(futures):
            results[futures[future]] = future.result()
            if progress is not None:
                progress(1)
        return [c for c in results if c is not None]

    def _params(self, request: ChatRequest) -> dict[str, Any]:
        s = self.settings
        params: dict[str, Any] = {
            "model": s.model,
            "messages": request.messages,
            "max_tokens": request.max_new_tokens or s.max_new_tokens,
            "temperature": s.temperature,
            "top_p": s.top_p,
            "seed": s.seed if request.seed is None else request.seed,
        }
        if request.json_schema is not None and self.schema_supported:
            params["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": str(request.json_schema.get("title", "response")), "schema": request.json_schema},
            }
        if s.extra_body:
            params["extra_body"] = dict(s.extra_body)
        return params

    def _one(self, request: ChatRequest) -> Completion:
        import openai

        s = self.settings
        started = time.perf_counter()
        attempts = 0
        budget = s.max_retries + 1  # attempts allowed; a schema fallback adds one
        error = ""
        while attempts < budget:
            attempts += 1
            params = self._params(request)
            try:
                response = self.client.chat.completions.create(**params)
            except openai.BadRequestError as exc:
                error = _describe(exc)
                if "response_format" in params and _mentions_response_format(exc):
                    with self._lock:
                        self.schema_supported = False
                    budget += 1  # resend at once without the schema
                    continue
                break
            except openai.APIStatusError as exc:
                error = _describe(exc)
                if not _retryable_status(exc.status_code) or attempts >= budget:
                    break
                time.sleep(_backoff(s.backoff_s, attempts, _retry_after(exc)))
                continue
            except openai.APIConnectionError as exc:  # includes APITimeoutError
                error = _describe(exc)
                if attempts >= budget:
                    break
                time.sleep(_backoff(s.backoff_s, attempts))
                continue
            choice = response.choices[0] if response.choices else None
            usage = response.usage
            return Completion(
                text=(choice.message.content or "").strip() if choice is not None else "",
                model=s.model,
                latency_s=time.perf_counter() - started,
                tokens_in=usage.prompt_tokens if usage else 0,
                tokens_out=usage.completion_tokens if usage else 0,
                attempts=attempts,
                outcome="ok" if attempts == 1 else "retried",
                error=None,
                finish_reason=choice.finish_reason if choice is not None else None,
            )
        return Completion(
            text="",
            model=s.model,
            latency_s=time.perf_counter() - started,
            tokens_in=0,
            tokens_out=0,
            attempts=attempts,
            outcome="failed",
            error=f"{error} (after {attempts} attempt{'s' if attempts != 1 else ''})",
            finish_reason=None,
        )


def _retryable_status(status: int) -> bool:
    return status in (408, 409, 429) or status >= 500


def _backoff(base_s: float, attempt: int, retry_after: float | None = None) -> float:
    """Seconds before the next attempt: base * 2**(attempt-1), capped, half of it jittered; or Retry-After."""
    if retry_after is not None:
        return min(retry_after, BACKOFF_CAP_S)
    ceiling = min(base_s * 2 ** (attempt - 1), BACKOFF_CAP_S)
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def _retry_after(exc: openai.APIStatusError) -> float | None:
    value = exc.response.headers.get("retry-after") if exc.response is not None else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _mentions_response_format(exc: openai.BadRequestError) -> bool:
    text = f"{exc.message} {exc.body}".lower()
    return any(word in text for word in ("response_format", "json_schema", "response format"))


def _describe(exc: openai.OpenAIError) -> str:
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return "timed out"
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__
        return f"connection error: {cause or exc}".splitlines()[0]
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code}: {exc.message}".splitlines()[0][:500]
    return str(exc).splitlines()[0][:500]
