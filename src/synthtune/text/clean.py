"""Text clean-up shared by parsing, curation and evaluation: reasoning blocks out, Unicode normalised.

Pure functions: no store, no model.
"""

from __future__ import annotations

import re
import unicodedata

_THINK_BLOCK = re.compile(r"<(think|thinking|reasoning)>.*?</\1>", re.IGNORECASE | re.DOTALL)
_THINK_OPEN = re.compile(r"<(?:think|thinking|reasoning)>", re.IGNORECASE)
_THINK_CLOSE = re.compile(r"</(?:think|thinking|reasoning)>", re.IGNORECASE)


def strip_think(raw: str) -> str:
    """``raw`` without reasoning blocks.

    ``<think>...</think>`` blocks go. A ``<think>`` that never closes means the model was still thinking
    when it stopped: nothing after it is an answer. A ``</think>`` with no opening tag (templates that put
    ``<think>`` in the prompt) ends the reasoning: only what follows the last one is kept.
    """
    text = _THINK_BLOCK.sub("", raw)
    closes = list(_THINK_CLOSE.finditer(text))
    if closes:
        text = text[closes[-1].end() :]
    opened = _THINK_OPEN.search(text)
    if opened:
        text = text[: opened.start()]
    return text.strip()


def nfkc(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    return text.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')
