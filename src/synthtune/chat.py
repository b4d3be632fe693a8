"""The shared vocabulary of a conversation: passages, the conversation a training row says, citation
markers, and the one chat template (the model's own) used for generation, training, evaluation and export.

Below the stages: export writes :class:`Conversation` rows, training renders them with :func:`render`,
evaluation asks questions built the same way.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from synthtune.errors import TrainingDataError
from synthtune.store.kb import Passage

_PROBE_USER = "synthtune probe question"
_PROBE_ANSWER = "synthtune probe answer"

_MARK = re.compile(r"(\s*)\[(\d{1,2})\]")
_CLOSING = ".!?"


@dataclass(frozen=True)
class Conversation:
    """One exported example, before any file format."""

    question: str
    answer: str
    system: str | None = None
    passages: tuple[Passage, ...] = ()

    @property
    def context(self) -> str:
        """The numbered passages block ('' for closed-book rows)."""
        return context_block(self.passages)

    @property
    def user(self) -> str:
        return user_content(self.question, self.passages)

    def messages(self) -> list[dict[str, str]]:
        out = [{"role": "system", "content": self.system}] if self.system else []
        out.append({"role": "user", "content": self.user})
        out.append({"role": "assistant", "content": self.answer})
        return out


def context_block(passages: tuple[Passage, ...] | list[Passage]) -> str:
    if not passages:
        return ""
    parts = [f"[{i}] {p.title}, {p.pages}:\n{p.text.strip()}" for i, p in enumerate(passages, 1)]
    return "Passages:\n" + "\n\n".join(parts)


def user_content(question: str, passages: tuple[Passage, ...] | list[Passage] = ()) -> str:
    """The user turn: the question, then (for context rows) the numbered passages.

    Evaluation and inference that want to ask a context-tuned model the way it was trained build their
    prompt with this function."""
    question = question.strip()
    return f"{question}\n{context_block(passages)}" if passages else question


# ---------------------------------------------------------------------------------------------------
# Citation markers


def strip_markers(answer: str) -> str:
    """The answer without ``[n]`` markers (closed-book rows show no passages to point at)."""
    return _MARK.sub("", answer).strip()


def renumber_markers(answer: str, seen: list[int], shown: list[int], cited: list[int]) -> str:
    """Markers that pointed at ``seen`` (the passages the answerer was given, in order) renumbered to point at
    ``shown``; markers to passages not shown are dropped. An answer left with no marker gets one for each
    cited chunk that is shown, before its closing punctuation."""

    def sub(m: re.Match[str]) -> str:
        n = int(m.group(2))
        chunk = seen[n - 1] if 1 <= n <= len(seen) else None
        return f"{m.group(1)}[{shown.index(chunk) + 1}]" if chunk in shown else ""

    text = _MARK.sub(sub, answer).strip()
    if _MARK.search(text):
        return text
    marks = "".join(f"[{shown.index(c) + 1}]" for c in dict.fromkeys(cited) if c in shown)
    if not marks:
        return text
    if text and text[-1] in _CLOSING:
        return f"{text[:-1]} {marks}{text[-1]}"
    return f"{text} {marks}"


# ---------------------------------------------------------------------------------------------------
# The chat template


@dataclass(frozen=True)
class ChatFormat:
    """What the model's chat template does, as far as training cares."""

    template: str
    end_of_turn: str
    end_of_turn_id: int
    bos_id: int | None

    @property
    def template_sha256(self) -> str:
        return hashlib.sha256(self.template.encode()).hexdigest()


def render(tokenizer: Any, messages: Sequence[dict[str, str]], add_generation_prompt: bool = False) -> str:
    return tokenizer.apply_chat_template(
        list(messages), tokenize=False, add_generation_prompt=add_generation_prompt
    )


def chat_format(tokenizer: Any) -> ChatFormat:
    """The model's chat template and its end-of-turn token, read off a rendered probe conversation."""
    template = tokenizer.chat_template
    if not isinstance(template, str) or not template.strip():
        raise TrainingDataError(
            f"the tokenizer of {tokenizer.name_or_path!r} has no chat template; synthtune trains on the "
            "model's own template (pick an instruct/chat model, or add a chat_template to its tokenizer)"
        )
    probe = [{"role": "user", "content": _PROBE_USER}, {"role": "assistant", "content": _PROBE_ANSWER}]
    full = render(tokenizer, probe)
    start, end = turn_span(tokenizer, probe, 1, full)
    segment = full[start:end]
    at = segment.find(_PROBE_ANSWER)
    suffix = segment[at + len(_PROBE_ANSWER) :] if at >= 0 else ""
    special = set(tokenizer.all_special_ids) | set(getattr(tokenizer, "added_tokens_decoder", {}) or {})
    eot_id: int | None = None
    for token_id in tokenizer(suffix, add_special_tokens=False)["input_ids"] if suffix else []:
        if token_id in special:
            eot_id = int(token_id)
            break
    if eot_id is None:  # the template closes turns with no special token: the best guess is EOS
        eot_id = tokenizer.eos_token_id
        if eot_id is None:
            raise TrainingDataError(
                f"cannot tell the end-of-turn token of {tokenizer.name_or_path!r}: its chat template writes "
                "no special token after an answer and the tokenizer has no EOS token"
            )
    return ChatFormat(
        template=template,
        end_of_turn=tokenizer.convert_ids_to_tokens(eot_id),
        end_of_turn_id=int(eot_id),
        bos_id=tokenizer.bos_token_id,
    )


def turn_span(tokenizer: Any, messages: Sequence[dict[str, str]], i: int, full: str) -> tuple[int, int]:
    """Characters of ``full`` written by assistant message ``i`` (its content and closing markup)."""
    before = render(tokenizer, messages[:i], add_generation_prompt=True)
    through = render(tokenizer, messages[: i + 1])
    if not full.startswith(before) or not full.startswith(through) or len(through) < len(before):
        raise TrainingDataError(
            "the chat template does not render a conversation's beginning as a prefix of the whole "
            f"(message {i + 1}); synthtune cannot tell where answers start and end with this template"
        )
    return len(before), len(through)
