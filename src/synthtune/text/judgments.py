"""A judge model's reply -> (score 1-5 or None, reason). Pure functions."""

from __future__ import annotations

import re

# "Score: 4", "score = 4", "**Score:** 4", "**Score**: 4"
_SCORE = re.compile(r"score\s*\**\s*[:=]?\s*\**\s*([1-5])\b", re.I)


def parse_judgment(raw: str) -> tuple[int | None, str]:
    m = _SCORE.search(raw) or re.search(r"\b([1-5])\s*(?:/\s*5|out of 5)", raw)
    reason = re.search(r"reason\s*[:=]\s*(.+)", raw, re.I | re.S)
    return (int(m.group(1)) if m else None), (reason.group(1).strip() if reason else raw.strip())[:1000]
