"""Every model call is logged: one row in ``llm_calls`` with its model, prompt hash, settings, latency,
tokens and outcome, raw output included."""

from __future__ import annotations

from synthtune.llm.base import Backend, Completion
from synthtune.llm.prompts import Prompt
from synthtune.store import LLMCall, Store


def llm_call(role: str, backend: Backend, prompt: Prompt, c: Completion) -> LLMCall:
    """The record of one model call, ready to be stored with the rows it produced."""
    settings = backend.settings_dict()
    return LLMCall(
        role=role,
        backend=str(settings.get("backend", type(backend).__name__)),
        model=c.model,
        prompt_sha=prompt.sha,
        settings=settings,
        latency_s=c.latency_s,
        tokens_in=c.tokens_in,
        tokens_out=c.tokens_out,
        attempts=c.attempts,
        outcome=c.outcome,
        error=c.error,
        raw_output=c.text,
    )


def log_call(store: Store, role: str, backend: Backend, prompt: Prompt, c: Completion) -> int:
    """Record one model call (inside the caller's transaction, when there is one)."""
    return store.record_llm_call(llm_call(role, backend, prompt, c))
