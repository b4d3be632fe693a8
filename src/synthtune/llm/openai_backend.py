"""The OpenAI-compatible backend: any chat-completions server (vLLM, llama.cpp server, Ollama, hosted
APIs) through the official ``openai`` SDK, with retries, backoff and a bounded number of requests in flight."""

from __future__ import annotations

import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import TYPE_CHECKING, Any

from synthtune.config import BackendSettings
from synthtune.errors import LLMError
from synthtune.llm.base import ChatRequest, Completion, Progress

if TYPE_CHECKING:
    import openai

BACKOFF_CAP_S = 8.0


class OpenAIBackend:
    """Any OpenAI-compatible chat-completions server, through the official ``openai`` SDK.

    Up to ``concurrency`` requests are in flight. Each request gets ``max_retries`` retries on 408, 409,
    429, 5xx, connection errors and timeouts, with exponential backoff and jitter (a ``Retry-After``
    header is honoured, up to a cap). JSON schemas go out as ``response_format``; a server that answers
    400 to it is remembered for the rest of the session and sent plain requests (the caller parses text
    either way). Note: ``transformers serve`` accepts ``response_format`` but ignores it.
    """

    def __init__(self, settings: BackendSettings) -> None:
        if not settings.base_url:
            raise LLMError("the openai backend needs base_url, e.g. http://127.0.0.1:8000/v1")
        import openai

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
            "temperature": s.temperature if request.temperature is None else request.temperature,
            "top_p": s.top_p,
            "seed": s.seed if request.seed is None else request.seed,
        }
        if request.json_schema is not None and self.schema_supported:
            params["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    "name": str(request.json_schema.get("title", "response")),
                    "schema": request.json_schema,
                },
            }
        if s.extra_body:
            params["extra_body"] = dict(s.extra_body)
        return params

    def _one(self, request: ChatRequest) -> Completion:
        import openai
        from openai.types.chat import ChatCompletion

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
            except openai.APIError as exc:  # a reply that does not validate, ...
                error = _describe(exc)
                break
            if not isinstance(response, ChatCompletion):  # the SDK hands back a non-JSON body as is
                error = f"not a chat completion: {str(response)[:300]!r}"
                break
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
