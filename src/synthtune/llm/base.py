"""What every generation backend shares: requests, completions, the :class:`Backend` protocol, and
:func:`make_backend`, which picks the backend that the settings name.

A backend turns a list of :class:`ChatRequest` into a list of :class:`Completion`, one per request, in
input order. It never touches the store: the caller logs every call (model, settings, latency, tokens,
outcome) from the returned completions. Per-request failures are returned as completions with
``outcome="failed"`` and the error text, never raised; only a model that cannot be loaded at all raises
:class:`~synthtune.errors.ModelNotFoundError`.

The backends: :mod:`synthtune.llm.transformers_backend` (in process, CPU or GPU),
:mod:`synthtune.llm.vllm_backend` (vLLM's offline engine in process, CUDA GPU only) and
:mod:`synthtune.llm.openai_backend` (any OpenAI-compatible server over HTTP).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from synthtune.config import BackendSettings
from synthtune.errors import LLMError

Outcome = Literal["ok", "retried", "failed"]
Progress = Callable[[int], None]
"""Called with the number of requests just finished (an increment, as ``rich``'s ``advance`` takes)."""


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
    temperature: float | None = None
    """Overrides ``BackendSettings.temperature`` for this request (e.g. sampling on a retry)."""


@dataclass
class Completion:
    """One reply. ``latency_s`` is the wall time of the HTTP request including retries and backoff
    (openai), or of the whole batch the request was generated in (transformers, vllm); ``tokens_in`` counts
    the prompt without padding, ``tokens_out`` the reply including its end-of-turn token."""

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
        from synthtune.llm.transformers_backend import TransformersBackend

        return TransformersBackend(settings)
    if settings.backend == "openai":
        from synthtune.llm.openai_backend import OpenAIBackend

        return OpenAIBackend(settings)
    if settings.backend == "vllm":
        from synthtune.llm.vllm_backend import VLLMBackend

        return VLLMBackend(settings)
    raise LLMError(f"unknown backend '{settings.backend}'")  # unreachable: the settings model validates it
