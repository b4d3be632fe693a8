"""Which passages an answer used: its ``[n]`` markers, else the passages holding its numbers.

Pure functions: no store, no model.
"""

from __future__ import annotations

import re

from synthtune.text.numbers import extract_numbers

_MARK = re.compile(r"\[(\d{1,2})\]")
_WORDS = re.compile(r"[a-z0-9]+(?:[.,][0-9]+)*")


def cite(answer: str, passages: list[dict]) -> list[int]:
    """Chunk ids the answer used: its [n] markers where it wrote them, else the passages that hold its
    numbers, else the passage sharing most of its words."""
    marked = [int(m) for m in _MARK.findall(answer)]
    ids = [passages[n - 1]["id"] for n in marked if 1 <= n <= len(passages)]
    if ids:
        return list(dict.fromkeys(ids))
    nums = [n.raw for n in extract_numbers(answer)]
    if nums:
        holding = [p["id"] for p in passages if any(_num_in(n, p["text"]) for n in nums)]
        if holding:
            return holding[:2]
    words = set(_WORDS.findall(answer.lower()))
    if not words or not passages:
        return [passages[0]["id"]] if passages else []
    best = max(passages, key=lambda p: len(words & set(_WORDS.findall(p["text"].lower()))))
    return [best["id"]]


def _num_in(raw: str, text: str) -> bool:
    digits = re.sub(r"[^\d.]", "", raw).strip(".")
    return bool(digits) and digits in re.sub(r"(?<=\d),(?=\d)", "", text)
