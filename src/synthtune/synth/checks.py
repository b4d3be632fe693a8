"""Checks of an example against what its question asks, not merely against the passages it cites.

- :func:`standalone_problem`: a question names its subject (the company or product of its document, or
  the ticker) and, when its answer is a figure, the period; "What is the gross margin?" cannot be
  answered without its source.
- :func:`answer_problem`: the answer states something: not nothing, not the question again, not a
  remark about "the passage", and for a question that asks for a figure, a figure.
- :func:`fact_problem`: every number of the answer is the value of a fact of the metric and period the
  question asks about (the most specific metric the question names), and the periods the answer names
  agree with the question's: a year or a quarter is a claim that can be wrong.

- :func:`question_problem`: a question about the document rather than its subject ("What is the purpose
  of the report?", "What is the current status of Acme?") or one that says the same thing twice.
- :func:`support_problem`: an answer written by a model (not from a fact) says nothing twice and says
  only what its cited passages say: most of its own words (those not already in the question) occur in
  them. Without numbers the other checks cannot catch an invented sentence; this one does.

Each returns the reason an example is rejected (``not_standalone``, ``no_answer``, ``restates_question``,
``about_the_text``, ``wrong_fact``, ``unverified_number``, ``wrong_period``, ``vague_question``,
``repeats_itself``, ``unsupported``) or None. Pure functions over ``synth.facts`` objects: no store, no
model.
"""

from __future__ import annotations

import re
from dataclasses import replace

from synthtune.synth.facts import Fact
from synthtune.synth.templates import format_value, metric_terms, norm, period_mentions, question_keeps_fact
from synthtune.text.identity import DocIdentity, short_name
from synthtune.text.numbers import Num, extract_numbers, number_supported
from synthtune.text.refusals import is_refusal

NUMERIC_KINDS = ("numeric", "fact")

_ABOUT_TEXT = re.compile(
    r"\b(?:the|this|that|these|each|provided|given)\s+(?:passages?|texts?|excerpts?|contexts?|snippets?|"
    r"paragraphs?|sources?|documents?\s+(?:says?|states?|mentions?|provided|given))\b"
    r"|\b(?:passage|source)\s*\[?\d"
    r"|\baccording to (?:the )?(?:passage|text|excerpt|context|document)s?\b",
    re.IGNORECASE,
)
_ECHO = re.compile(r"^\s*(?:question|q|answer|a)\s*\d*\s*:", re.IGNORECASE | re.MULTILINE)
_ASKS_WHEN = re.compile(
    r"^\s*(?:when|in which|which|what)\s+(?:year|quarter|period|date|month)\b|^\s*when\b", re.I
)
_WORD = re.compile(r"[a-z][a-z'’-]+")
_FILLER = {
    "the", "a", "an", "of", "is", "was", "were", "are", "in", "for", "to", "its", "it", "and", "what",
    "how", "much", "many", "did", "does", "do", "which", "by", "on", "at", "as", "s",
}  # fmt: skip


def subject_names(identity: DocIdentity | None, title: str = "") -> list[str]:
    """The names a question may use for its document's subject: the short and legal names and the
    ticker; when the subject was not found, the title's leading name ("Company Alpha")."""
    names = []
    if identity is not None and identity.subject:
        names += [short_name(identity.subject), identity.subject]
    if identity is not None and identity.ticker:
        names.append(identity.ticker)
    if not names and title:
        lead = re.split(r"\s+(?:reports?|announces?|—|-|:|\|)\s+", title, maxsplit=1)[0].strip()
        if lead:
            names.append(lead)
    return names


def names_subject(question: str, names: list[str]) -> bool:
    q = norm(question)
    for name in names:
        n = norm(name).strip()
        if not n:
            continue
        if f" {n} " in q or f" {n}'s " in q or f" {n}' " in q:
            return True
        first = n.split()[0]
        if len(first) >= 4 and first not in ("company", "the") and f" {first}" in q:
            return True  # "Acme's" for Acme Robotics
    return False


def names_period(question: str) -> bool:
    """Whether the question names a period: a year, a quarter or a date."""
    quarters, years = period_mentions(question)
    return bool(quarters or years) or bool(re.search(r"\b(?:19|20)\d\d\b", question))


def answer_numbers(answer: str) -> list[Num]:
    """The figures an answer states (years, quarters, dates and period lengths are period claims)."""
    return extract_numbers(answer, words=False)


def standalone_problem(
    question: str, answer: str, kind: str, identity: DocIdentity | None, title: str = ""
) -> str | None:
    """``not_standalone`` when the question does not name its subject, or asks for a figure without
    naming the period."""
    if kind == "unanswerable":
        return None
    names = subject_names(identity, title)
    if not names or not names_subject(question, names):
        return "not_standalone"
    if (kind in NUMERIC_KINDS or answer_numbers(answer)) and not names_period(question):
        return "not_standalone"
    return None


def answer_problem(question: str, answer: str, kind: str) -> str | None:
    """``about_the_text``, ``restates_question`` or ``no_answer``, or None."""
    if kind == "unanswerable":
        return None
    if _ABOUT_TEXT.search(answer):
        return "about_the_text"
    if _ECHO.search(answer) or norm(question).strip(" ?") in norm(answer):
        return "restates_question"  # "Question: What is ...?" copied into the answer
    numbers = answer_numbers(answer)
    q_words = set(_WORD.findall(question.lower())) - _FILLER
    a_words = set(_WORD.findall(answer.lower())) - _FILLER
    if not numbers and a_words and a_words <= q_words:
        return "restates_question"
    if kind in NUMERIC_KINDS and not numbers:
        return "no_answer"
    stripped = re.sub(r"\b(?:FY|Q[1-4]\s*)?(?:19|20)\d\d\b|\bQ[1-4]\b", " ", answer)
    if not numbers and not _WORD.search(stripped.lower()) and not _ASKS_WHEN.search(question):
        return "no_answer"  # only a period ("2025-2026.") for a question that does not ask when
    return None


_ASKS_OUTLOOK = re.compile(
    r"\b(?:expect\w*|outlook|guid\w*|forecast\w*|project(?:ed|ion)s?|anticipat\w*|estimate[sd]?)\b", re.I
)


def asked_facts(question: str, facts: list[Fact]) -> list[Fact]:
    """The facts a question asks for: the metric and period it names (subject aside: the caller passes
    the facts of the question's documents), keeping only the most specific metrics it names."""
    outlook = bool(_ASKS_OUTLOOK.search(question))
    facts = [f for f in facts if (f.source == "outlook") == outlook]  # an actual is not its guidance
    matching = [f for f in facts if question_keeps_fact(question, replace(f, subject=None)) is None]
    if not matching:
        return []
    best = max(len(metric_terms(f.metric)) for f in matching)
    return [f for f in matching if len(metric_terms(f.metric)) == best]


def _is_value_of(num: Num, fact: Fact) -> bool:
    return number_supported(num, format_value(fact), source_scale=1) or number_supported(
        num, fact.raw, source_scale=float(fact.scale)
    )


def fact_problem(question: str, answer: str, facts: list[Fact]) -> str | None:
    """``wrong_period`` when the answer names another quarter or year than the question; else, for an
    answer that states figures, ``unverified_number`` when no fact of the asked metric and period is
    known, ``wrong_fact`` when a figure is not the value of such a fact."""
    q_quarters, q_years = period_mentions(question)
    a_quarters, a_years = period_mentions(answer)
    if (q_quarters and a_quarters and not q_quarters & a_quarters) or (
        q_years and a_years and not q_years & a_years
    ):
        return "wrong_period"
    numbers = answer_numbers(answer)
    if not numbers:
        return None
    asked = asked_facts(question, facts)
    if not asked:
        return "unverified_number"
    for num in numbers:
        if not any(_is_value_of(num, f) for f in asked):
            return "wrong_fact"
    return None


# ------------------------------------------------------------------------ questions and model answers

_VAGUE = re.compile(
    r"\bcurrent (?:status|state|situation)\b"
    r"|\b(?:purpose|meaning|significance|importance) (?:of|behind)\b"
    r"|\bmost (?:surprising|interesting|important)\b"
    r"|\breporting on\b"
    r"|\b(?:requested|next) question\b"
    r"|\b(?:the|this|that) (?:sentence|passage|excerpt|text|paragraph|quote)\b"
    r"|\b(?:transcript|press release|earnings release|report|fact sheet|document|earnings call)\s*\??\s*$"
    r"|^\s*what\s+is\s+(?:[\w.,&()'’-]+\s+){0,6}?(?:earnings|results)\s*\??\s*$",  # "What is Acme, Inc. Earnings?"
    re.IGNORECASE,
)
# "latest", "recently": true of one moment; a question that says it without naming a period is not
_RELATIVE_TIME = re.compile(r"\b(?:latest|recent(?:ly)?|upcoming|currently|nowadays|today|right now)\b", re.I)
# periods and amounts are the number checks' business, so their words are not counted here
_STOP = _FILLER | {
    "be", "been", "being", "has", "have", "had", "that", "this", "these", "those", "with", "from", "or",
    "but", "not", "no", "also", "than", "then", "there", "their", "they", "them", "he", "she", "his", "her",
    "we", "our", "us", "you", "your", "i", "my", "will", "would", "can", "could", "should", "may", "about",
    "into", "over", "up", "out", "so", "such", "who", "whom", "whose", "when", "where", "why", "all", "any",
    "each", "more", "most", "other", "some", "very", "just", "only", "own", "same", "both", "company",
    "company's", "inc", "year", "quarter", "fiscal", "first", "second", "third", "fourth", "january",
    "february", "march", "april", "june", "july", "august", "september", "october", "november", "december",
    "ended", "months", "weeks", "thousand", "thousands", "million", "millions", "billion", "billions",
    "dollar", "dollars", "percent", "usd", "share", "shares", "basis", "points", "too", "still", "yes",
    "approximately", "around", "roughly",
}  # fmt: skip
SUPPORTED_SHARE = 0.75  # of an answer's own content words, found in its cited passages


def _words(text: str) -> list[str]:
    return [w.strip("'’-") for w in _WORD.findall(text.lower())]


def _stem(word: str) -> str:
    for suffix in ("'s", "’s", "ies", "es", "s", "ed", "ing"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def _repeats(text: str, n: int = 4) -> bool:
    words = re.findall(r"[a-z0-9]+", text.lower())  # every word, "a" too
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    return len(grams) != len(set(grams))


def question_problem(question: str) -> str | None:
    """``vague_question`` for a question about the document or the conversation rather than the subject,
    one that asks about "the latest" or "recent" without naming a period, or one that says the same four
    words twice."""
    if _VAGUE.search(question) or _repeats(question):
        return "vague_question"
    if _RELATIVE_TIME.search(question) and not names_period(question):
        return "vague_question"
    return None


def support_problem(question: str, answer: str, kind: str, passages: list[str]) -> str | None:
    """For a model's answer (not a template's): ``repeats_itself`` when it says the same four words twice;
    ``unsupported`` when fewer than :data:`SUPPORTED_SHARE` of its content words that the question does
    not already hold occur in the passages it cites."""
    if kind in ("fact", "unanswerable") or is_refusal(answer):  # a refusal is the refusal check's business
        return None
    if _repeats(answer):
        return "repeats_itself"
    asked = {_stem(w) for w in _words(question)}
    source = {_stem(w) for p in passages for w in _words(p)}
    own = [s for w in _words(answer) if w not in _STOP and (s := _stem(w)) not in asked]
    if not own:
        return None
    found = sum(1 for w in own if w in source)
    return "unsupported" if found / len(own) < SUPPORTED_SHARE else None
