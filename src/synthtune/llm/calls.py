"""Every model call is logged: one row in ``llm_calls`` with its model, prompt hash, settings, latency,
tokens and outcome, raw output included."""

from __future__ import annotations

import json

from synthtune.llm.backends import Backend, Completion
from synthtune.llm.prompts import Prompt
from synthtune.store import Store, utcnow


def log_call(store: Store, role: str, backend: Backend, prompt: Prompt, c: Completion) -> int:
    """Record one model call (inside the caller's transaction)."""
    cur = store.execute(
        "INSERT INTO llm_calls(role, backend, model, prompt_sha, settings, latency_s, tokens_in, tokens_out,"
        " attempts, outcome, error, raw_output, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            role,
            backend.settings_dict().get("backend", type(backend).__name__),
            c.model,
            prompt.sha,
            json.dumps(backend.settings_dict(), sort_keys=True, default=str),
            c.latency_s,
            c.tokens_in,
            c.tokens_out,
            c.attempts,
            c.outcome,
            c.error,
            c.text,
            utcnow(),
        ),
    )
    return int(cur.lastrowid)
