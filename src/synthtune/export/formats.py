"""Examples -> conversations (format-agnostic) -> rows of one trainer format.

A :class:`Conversation` is what an exported row says, independent of any file format: an optional system
prompt, the question, for retrieval-augmented rows the numbered passages shown with it, and the answer.
Each format writes it its own way:

- ``messages``: ``{"messages": [{"role", "content"}, ...]}`` (OpenAI chat format; TRL's conversational
  language-modeling format; Axolotl ``type: chat_template``; LLaMA-Factory's documented "OpenAI format").
- ``sharegpt``: ``{"conversations": [{"from": "system" | "human" | "gpt", "value"}, ...]}``; the system
  prompt is the first turn (LLaMA-Factory's ``system_tag``; TRL and Axolotl map ``system`` too).
- ``alpaca``: ``{"instruction", "input", "output"}`` plus ``"system"`` when there is a system prompt
  (LLaMA-Factory's documented alpaca columns). The question is the instruction and the passages are the
  input, so LLaMA-Factory's ``instruction + "\\n" + input`` is exactly the user turn of the other formats.
- ``completion``: ``{"prompt", "completion", "text"}`` rendered with the base model's own chat template:
  ``prompt`` ends with the generation prompt, ``completion`` is the answer through the end-of-turn token
  and nothing after it, ``text = prompt + completion`` (TRL's prompt-completion format, whose loss is on
  the completion only; Axolotl ``type: completion`` reads ``text``). Ending exactly on the end-of-turn
  token means trainers that append EOS when it is missing (TRL, Axolotl) do not add a second one; a BOS
  the tokenizer adds by itself is left out of the text so it is not doubled.

Answers keep their citation markers only where the passages they point at are shown: closed-book rows
drop them; context rows renumber them to the passages in the row and add them where the answer had none.
"""

from __future__ import annotations

from typing import Any

from synthtune.chat import Conversation, chat_format, render
from synthtune.errors import ModelNotFoundError, SynthtuneError

FORMATS = ("alpaca", "sharegpt", "messages", "completion")

# ---------------------------------------------------------------------------------------------------
# Rows


def to_messages(conv: Conversation) -> dict[str, Any]:
    return {"messages": conv.messages()}


_SHAREGPT_FROM = {"system": "system", "user": "human", "assistant": "gpt"}


def to_sharegpt(conv: Conversation) -> dict[str, Any]:
    return {
        "conversations": [{"from": _SHAREGPT_FROM[m["role"]], "value": m["content"]} for m in conv.messages()]
    }


def to_alpaca(conv: Conversation) -> dict[str, Any]:
    row = {"instruction": conv.question.strip(), "input": conv.context, "output": conv.answer}
    if conv.system:
        row["system"] = conv.system
    return row


class ChatTemplateRenderer:
    """Conversations -> ``prompt`` / ``completion`` / ``text`` with a tokenizer's own chat template (the one
    template synthtune trains, evaluates and generates with; see :mod:`synthtune.train.tokenize`)."""

    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer
        self.format = chat_format(tokenizer)  # refuses a tokenizer without a chat template
        bos = tokenizer.bos_token
        adds_bos = bool(bos) and tokenizer("x")["input_ids"][:1] == [tokenizer.bos_token_id]
        self._strip_bos = bos if adds_bos else None

    @property
    def template_sha256(self) -> str:
        return self.format.template_sha256

    def __call__(self, conv: Conversation) -> dict[str, str]:
        messages = conv.messages()
        full = render(self.tokenizer, messages)
        prompt = render(self.tokenizer, messages[:-1], add_generation_prompt=True)
        if not full.startswith(prompt):
            raise SynthtuneError(
                f"the chat template of {self.tokenizer.name_or_path!r} does not render the prompt as a prefix of "
                "the whole conversation, so a completion row cannot be cut from it; export --format messages"
            )
        rest = full[len(prompt) :]
        eot = self.format.end_of_turn
        at = rest.rfind(eot)
        # a template that writes no end-of-turn token ends on EOS, so the model still learns to stop
        completion = rest[: at + len(eot)] if at >= 0 else rest.rstrip() + (self.tokenizer.eos_token or "")
        if self._strip_bos and prompt.startswith(self._strip_bos):
            prompt = prompt[len(self._strip_bos) :]
        return {"prompt": prompt, "completion": completion, "text": prompt + completion}


def load_tokenizer(base_model: str) -> Any:
    """The tokenizer of ``train.base_model`` (the bundled alias resolves to its converted folder)."""
    from transformers import AutoTokenizer

    from synthtune.llm.bundled import resolve_generator

    path = resolve_generator(base_model)
    try:
        return AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as exc:
        raise ModelNotFoundError(
            f"cannot load the tokenizer of train.base_model {base_model!r} for the completion format: {exc}"
        ) from None


def to_row(fmt: str, conv: Conversation, renderer: ChatTemplateRenderer | None = None) -> dict[str, Any]:
    if fmt == "messages":
        return to_messages(conv)
    if fmt == "sharegpt":
        return to_sharegpt(conv)
    if fmt == "alpaca":
        return to_alpaca(conv)
    if fmt == "completion":
        if renderer is None:
            raise ValueError("the completion format needs a ChatTemplateRenderer")
        return renderer(conv)
    raise SynthtuneError(f"unknown export format '{fmt}': use {', '.join(FORMATS)}")


# ---------------------------------------------------------------------------------------------------
# How trainers read each format


def llamafactory_entry(fmt: str, file_name: str, has_system: bool) -> dict[str, Any]:
    """A ``dataset_info.json`` entry with LLaMA-Factory's documented fields only (data/README.md:
    ``file_name``, ``formatting``, ``columns``, ``tags``). Completion rows are plain text, which
    LLaMA-Factory reads as a pre-training dataset (``columns: {prompt: text}``, ``stage: pt``)."""
    if fmt == "alpaca":
        columns = {"prompt": "instruction", "query": "input", "response": "output"}
        if has_system:
            columns["system"] = "system"
        return {"file_name": file_name, "formatting": "alpaca", "columns": columns}
    if fmt == "sharegpt":
        return {
            "file_name": file_name,
            "formatting": "sharegpt",
            "columns": {"messages": "conversations"},
            "tags": {
                "role_tag": "from",
                "content_tag": "value",
                "user_tag": "human",
                "assistant_tag": "gpt",
                "system_tag": "system",
            },
        }
    if fmt == "messages":
        return {
            "file_name": file_name,
            "formatting": "sharegpt",
            "columns": {"messages": "messages"},
            "tags": {
                "role_tag": "role",
                "content_tag": "content",
                "user_tag": "user",
                "assistant_tag": "assistant",
                "system_tag": "system",
            },
        }
    if fmt == "completion":
        return {"file_name": file_name, "columns": {"prompt": "text"}}
    raise SynthtuneError(f"unknown export format '{fmt}': use {', '.join(FORMATS)}")


def axolotl_dataset(fmt: str, path: str, has_system: bool) -> dict[str, Any]:
    """An Axolotl ``datasets:`` entry for one exported file (keys from ``axolotl.utils.schemas.datasets``)."""
    entry: dict[str, Any] = {"path": path, "ds_type": "json"}
    if fmt in ("messages", "sharegpt"):
        role, content = ("role", "content") if fmt == "messages" else ("from", "value")
        entry |= {
            "type": "chat_template",
            "field_messages": "messages" if fmt == "messages" else "conversations",
            "message_property_mappings": {"role": role, "content": content},
            "roles_to_train": ["assistant"],
            "train_on_eos": "turn",
        }
    elif fmt == "alpaca":
        # Axolotl renders alpaca rows with the Alpaca prompt; the variant with a system column keeps it
        entry["type"] = "alpaca_w_system.load_instruct" if has_system else "alpaca"
    elif fmt == "completion":
        entry |= {"type": "completion", "field": "text"}
    else:
        raise SynthtuneError(f"unknown export format '{fmt}': use {', '.join(FORMATS)}")
    return entry
