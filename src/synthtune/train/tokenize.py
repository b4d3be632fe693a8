"""Messages -> tokens: one chat template (the tokenizer's own), the loss on the answers only.

Conversations arrive format-agnostic, ``{"messages": [{"role", "content"}, ...]}``, as the export stage
writes them. This module renders them with ``tokenizer.apply_chat_template`` (the same call generation
and evaluation use), tokenizes the text the way ``apply_chat_template(tokenize=True)`` does (no extra
special tokens), and builds labels that are ``-100`` everywhere except on each assistant turn's content
and the end-of-turn token that closes it.

Assistant spans are found by rendering prefixes of the conversation, not by matching the template's
markup, so any template that renders a conversation's prefix as a prefix of the whole works. The
end-of-turn token is read off a rendered probe conversation (the first special token after the answer),
falling back to EOS.

:func:`check_rows` asserts what trainers get wrong most often, before any step is taken: every row has
trainable labels, the last trainable token of every row is the end-of-turn token (so the model learns to
stop), and no row starts with a doubled BOS.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from synthtune.chat import ChatFormat, render, turn_span
from synthtune.errors import TrainingDataError

IGNORE_INDEX = -100
ROLES = ("system", "user", "assistant")
_SHOWN = 5  # row numbers quoted in an error message


@dataclass
class TokenizedSplit:
    """Token rows of one split (``input_ids``, ``labels``, ``attention_mask``) and what was left out."""

    name: str
    rows: list[dict[str, list[int]]] = field(default_factory=list)
    source_index: list[int] = field(default_factory=list)  # position of each kept row in the input
    dropped_too_long: list[int] = field(default_factory=list)  # input positions of rows over max_length
    lengths_dropped: list[int] = field(default_factory=list)

    @property
    def n_rows(self) -> int:
        return len(self.rows)

    @property
    def n_dropped(self) -> int:
        return len(self.dropped_too_long)

    @property
    def n_tokens(self) -> int:
        return sum(len(r["input_ids"]) for r in self.rows)

    @property
    def n_trainable_tokens(self) -> int:
        return sum(sum(1 for x in r["labels"] if x != IGNORE_INDEX) for r in self.rows)

    def sha256(self) -> str:
        """Hash of exactly what the trainer sees."""
        digest = hashlib.sha256()
        for row in self.rows:
            digest.update(json.dumps([row["input_ids"], row["labels"]], separators=(",", ":")).encode())
            digest.update(b"\n")
        return digest.hexdigest()


# ---------------------------------------------------------------------------------------------------
# The template


def encode(tokenizer: Any, text: str) -> dict[str, list]:
    """Token ids and character offsets of rendered text, as ``apply_chat_template(tokenize=True)`` makes
    them: the template writes every special token itself, so the tokenizer adds none (no doubled BOS)."""
    try:
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    except NotImplementedError as exc:  # slow (Python) tokenizers have no offsets
        raise TrainingDataError(
            f"{type(tokenizer).__name__} cannot map tokens to characters; synthtune needs a fast "
            "(tokenizers-backed) tokenizer for the base model"
        ) from exc
    return {"input_ids": list(enc["input_ids"]), "offsets": [tuple(o) for o in enc["offset_mapping"]]}


# ---------------------------------------------------------------------------------------------------
# Rows


def _validate_messages(row: Any, n: int) -> list[dict[str, str]]:
    messages = row.get("messages") if isinstance(row, dict) else None
    if not isinstance(messages, list) or not messages:
        raise TrainingDataError(f"row {n}: expected {{'messages': [{{'role', 'content'}}, ...]}}")
    for k, m in enumerate(messages, 1):
        if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            raise TrainingDataError(
                f"row {n}, message {k}: expected a role in {ROLES} and a string content, got {m!r:.120}"
            )
        if m["role"] == "assistant" and not m["content"].strip():
            raise TrainingDataError(f"row {n}, message {k}: the assistant answer is empty")
    if not any(m["role"] == "assistant" for m in messages):
        raise TrainingDataError(f"row {n}: no assistant message to learn from")
    if messages[0]["role"] == "assistant":
        raise TrainingDataError(f"row {n}: the conversation starts with the answer, not a question")
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def tokenize_conversation(
    messages: Sequence[dict[str, str]], tokenizer: Any, fmt: ChatFormat
) -> dict[str, list[int]]:
    """``input_ids``, ``labels`` and ``attention_mask`` of one conversation; every assistant turn trained."""
    full = render(tokenizer, messages)
    enc = encode(tokenizer, full)
    ids, offsets = enc["input_ids"], enc["offsets"]
    spans = []
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        start, end = turn_span(tokenizer, messages, i, full)
        # train through the end-of-turn token; markup after it (a newline) stays masked
        close = full.rfind(fmt.end_of_turn, start, end)
        spans.append((start, close + len(fmt.end_of_turn) if close >= 0 else end))
    labels = [IGNORE_INDEX] * len(ids)
    for j, (s, e) in enumerate(offsets):
        if e > s and any(a <= s < b for a, b in spans):
            labels[j] = ids[j]
    return {"input_ids": ids, "labels": labels, "attention_mask": [1] * len(ids)}


def tokenize_rows(
    rows: Sequence[dict[str, Any]],
    tokenizer: Any,
    fmt: ChatFormat,
    max_length: int,
    name: str = "train",
) -> TokenizedSplit:
    """Tokenize a split; rows longer than ``max_length`` are dropped and counted, never cut."""
    out = TokenizedSplit(name=name)
    for n, row in enumerate(rows):
        tok = tokenize_conversation(_validate_messages(row, n), tokenizer, fmt)
        if len(tok["input_ids"]) > max_length:
            out.dropped_too_long.append(n)
            out.lengths_dropped.append(len(tok["input_ids"]))
            continue
        out.rows.append(tok)
        out.source_index.append(n)
    check_rows(out.rows, fmt, name, out.source_index)
    return out


def check_rows(
    rows: Sequence[dict[str, list[int]]],
    fmt: ChatFormat,
    name: str = "train",
    source_index: Sequence[int] | None = None,
) -> None:
    """Raise :class:`TrainingDataError` unless every row is fit to train on (see the module docstring)."""
    where = list(source_index) if source_index is not None else list(range(len(rows)))
    no_labels: list[int] = []
    no_stop: list[int] = []
    doubled_bos: list[int] = []
    for k, row in enumerate(rows):
        ids, labels = row["input_ids"], row["labels"]
        if len(ids) != len(labels):
            raise TrainingDataError(f"{name} row {where[k]}: {len(ids)} input ids but {len(labels)} labels")
        trained = [j for j, x in enumerate(labels) if x != IGNORE_INDEX]
        if not trained:
            no_labels.append(where[k])
        elif ids[trained[-1]] != fmt.end_of_turn_id:
            no_stop.append(where[k])
        if fmt.bos_id is not None and len(ids) >= 2 and ids[0] == ids[1] == fmt.bos_id:
            doubled_bos.append(where[k])
    total = len(rows)
    if no_labels:
        raise TrainingDataError(
            f"{len(no_labels)} of {total} {name} rows have no trainable tokens {_rows(no_labels)}: every "
            "label is masked, so the answers would not be learned"
        )
    if no_stop:
        raise TrainingDataError(
            f"{len(no_stop)} of {total} {name} rows do not end their trained tokens with the end-of-turn "
            f"token {fmt.end_of_turn!r} {_rows(no_stop)}: the tuned model would never learn to stop"
        )
    if doubled_bos:
        raise TrainingDataError(
            f"{len(doubled_bos)} of {total} {name} rows start with a doubled BOS token (id {fmt.bos_id}) "
            f"{_rows(doubled_bos)}: the chat template writes BOS and the tokenizer added another"
        )


def _rows(indices: list[int]) -> str:
    shown = ", ".join(str(i) for i in indices[:_SHOWN])
    more = f", ... ({len(indices) - _SHOWN} more)" if len(indices) > _SHOWN else ""
    return f"(rows {shown}{more})"
