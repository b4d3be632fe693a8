"""Repair ligatures and symbol-font code points that a PDF text layer gives without their letters.

Two kinds reach the page text. Code points with a known meaning are mapped directly: the Unicode
ligature presentation forms (U+FB00-U+FB06, "ﬁ" -> "fi") and the private-use code points of Adobe's
ligatures and of the Symbol font's bullets. A glyph that the font maps to nothing at all comes out of
pdfium as U+FFFD ("�nancial", "e�ective" in the Costco and eBay releases): in real documents those are
almost always the f-ligatures, so each such word is completed with the ligature (fi, fl, ff, ffi, ffl)
that makes the longest known word around it. Known words are those the document spells out elsewhere,
plus a list of English words holding a ligature (``ligature_words.txt``). A U+FFFD that no candidate
explains stays, and is counted as unrepaired.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

_DIRECT = {
    "\ufb00": "ff",
    "\ufb01": "fi",
    "\ufb02": "fl",
    "\ufb03": "ffi",
    "\ufb04": "ffl",
    "\ufb05": "st",
    "\ufb06": "st",
    "\uf001": "fi",  # Adobe private-use ligatures (Mac Roman fonts)
    "\uf002": "fl",
    "\uf0b7": "\u2022",  # Symbol font bullet
    "\uf0a7": "\u25aa",  # Wingdings square bullet
    "\uf06e": "\u25aa",
    "\uf0d8": "\u27a2",  # Wingdings arrowhead bullet
    "\uf0fc": "\u2713",  # Wingdings check mark
}
_DIRECT_RE = re.compile("[" + "".join(_DIRECT) + "]")
_CANDIDATES = ("fi", "ff", "fl", "ffi", "ffl")  # ties go to the most frequent in English text
_WORD_WITH_FFFD = re.compile(r"[A-Za-z\-']*\ufffd[A-Za-z\-'\ufffd]*")
_WORD = re.compile(r"[a-z]+")


@dataclass(frozen=True)
class Repairs:
    """What was repaired on one page: mapped code points, completed U+FFFD ligatures, and U+FFFD left."""

    mapped: int = 0
    ligatures: int = 0
    unrepaired: int = 0

    def to_json(self) -> dict[str, int]:
        return {k: v for k, v in vars(self).items() if v}


@functools.lru_cache(maxsize=1)
def ligature_words() -> frozenset[str]:
    path = Path(__file__).with_name("ligature_words.txt")
    lines = path.read_text(encoding="utf-8").splitlines()
    return frozenset(w for w in lines if w and not w.startswith("#"))


def known_words(text: str) -> frozenset[str]:
    """Words the document spells out itself (lowercase), to complete its broken ones with."""
    return frozenset(_WORD.findall(text.lower()))


def repair(text: str, document_words: frozenset[str] = frozenset()) -> tuple[str, Repairs]:
    """``text`` with ligatures and symbol code points restored, and what was done."""
    mapped = len(_DIRECT_RE.findall(text))
    if mapped:
        text = _DIRECT_RE.sub(lambda m: _DIRECT[m.group()], text)
    if "\ufffd" not in text:
        return text, Repairs(mapped=mapped)
    vocabulary = ligature_words() | document_words
    fixed = 0

    def complete(m: re.Match[str]) -> str:
        nonlocal fixed
        word = m.group()
        for _ in range(word.count("\ufffd")):
            at = word.index("\ufffd")
            best = _best_ligature(word, at, vocabulary)
            if best is None:
                return word
            word = word[:at] + best + word[at + 1 :]
            fixed += 1
        return word

    text = _WORD_WITH_FFFD.sub(complete, text)
    return text, Repairs(mapped=mapped, ligatures=fixed, unrepaired=text.count("\ufffd"))


def _best_ligature(word: str, at: int, vocabulary: frozenset[str]) -> str | None:
    """The ligature whose letters at ``at`` make the longest known word covering that position, or
    None when no candidate makes a known word of at least three letters there."""
    best, best_len = None, 2
    for lig in _CANDIDATES:
        candidate = (word[:at] + lig + word[at + 1 :]).lower()
        end = at + len(lig)
        for part in re.finditer(r"[a-z]+", candidate):
            if part.start() <= at and part.end() >= end:
                span = _longest_known(part.group(), at - part.start(), end - part.start(), vocabulary)
                if span > best_len:
                    best, best_len = lig, span
    return best


def _longest_known(word: str, start: int, end: int, vocabulary: frozenset[str]) -> int:
    """Length of the longest substring of ``word`` covering ``[start, end)`` that is a known word."""
    for length in range(len(word), end - start - 1, -1):
        for i in range(max(0, end - length), min(start, len(word) - length) + 1):
            if word[i : i + length] in vocabulary:
                return length
    return 0
