"""Raw model output -> questions and answers, and the reasons a candidate question is rejected.

Small models pad their replies (preambles, numbering, bold labels, quotes), echo the prompt's example
("Question 1?"), loop ("of the revenue of the revenue"), and ask about "the passage"; reasoning models
wrap their thinking in ``<think>`` blocks; JSON replies come fenced, bare, or cut off. These functions
undo the padding, recover what they can, and name the reason for everything they refuse, so that a
report can count it. Pure functions: no store, no model.

Rejection reasons (stable strings, stored in the database):

- ``empty``: the reply (or a JSON item) has no text.
- ``placeholder``: a template slot, not a question: "Question 1?", "What is X?", "[question]".
- ``echoes_prompt``: a line of the prompt's instructions repeated back.
- ``repetition``: a degenerate loop ("the the the", "of the revenue of the revenue of the revenue").
- ``copies_chunk``: a long verbatim run of the source chunk (12+ words, or most of the question).
- ``not_a_question``: no question mark and not interrogative.
- ``too_short`` / ``too_long``: fewer than 4 / more than 60 words.
- ``refers_to_passage``: "according to the passage", "in this text", "the given document": the reader of
  a training example has no passage.
- ``addresses_reader``: written to or from a person, not about the documents ("What would you like me to
  write?", "How does this affect your business?"): a small model's chat habit.
- ``off_topic``: shares no content word with the chunk ("How can I start an online business?" about a
  robot order); only checked when a chunk is given.
- ``duplicate``: the same normalised question earlier in the same reply.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from typing import Any, Final

from synthtune.text.clean import nfkc as _nfkc
from synthtune.text.clean import strip_think

EMPTY: Final = "empty"
PLACEHOLDER: Final = "placeholder"
ECHOES_PROMPT: Final = "echoes_prompt"
REPETITION: Final = "repetition"
COPIES_CHUNK: Final = "copies_chunk"
NOT_A_QUESTION: Final = "not_a_question"
TOO_SHORT: Final = "too_short"
TOO_LONG: Final = "too_long"
REFERS_TO_PASSAGE: Final = "refers_to_passage"
ADDRESSES_READER: Final = "addresses_reader"
OFF_TOPIC: Final = "off_topic"
DUPLICATE: Final = "duplicate"
REASONS: Final = (
    EMPTY,
    PLACEHOLDER,
    ECHOES_PROMPT,
    REPETITION,
    COPIES_CHUNK,
    NOT_A_QUESTION,
    TOO_SHORT,
    TOO_LONG,
    REFERS_TO_PASSAGE,
    ADDRESSES_READER,
    OFF_TOPIC,
    DUPLICATE,
)
"""Every rejection reason, in the order the checks run (the first that fails names the rejection)."""

MIN_WORDS = 4
MAX_WORDS = 60
COPY_RUN_WORDS = 12
"""A verbatim run of this many words from the chunk is a copy."""
COPY_SHARE = 0.8
"""... or a verbatim run covering more than this share of the question (when 5 words or more)."""


@dataclass(frozen=True)
class Rejection:
    text: str
    """The candidate as it was judged (after stripping numbering, labels and quotes)."""
    reason: str
    """One of :data:`REASONS`."""


# --------------------------------------------------------------------------------------------------
# shared clean-up


_FENCE = re.compile(r"```[ \t]*([\w+-]*)[ \t]*\n?(.*?)(?:```|\Z)", re.DOTALL)


def _unfence(text: str) -> tuple[str, bool]:
    """The content of the first markdown code fence (and whether it was labelled JSON), else the text."""
    m = _FENCE.search(text)
    if not m:
        return text, False
    return m.group(2).strip(), m.group(1).lower() in ("json", "jsonl", "json5")


_WORD = re.compile(r"[a-z0-9]+(?:[.,'][a-z0-9]+)*")


def _words(text: str) -> list[str]:
    return _WORD.findall(_nfkc(text).lower())


def normalise_question(text: str) -> str:
    """``text`` reduced for exact-duplicate detection: lower case, punctuation out, spaces collapsed.

    Decimal points and thousands separators inside numbers stay ("5.1" is not "51").
    """
    return " ".join(_words(text))


# --------------------------------------------------------------------------------------------------
# questions


_BULLET = re.compile(r"^\s*(?:[-*•·▪►‣–—+>]+|#{1,6})\s*")
_NUMBERING = re.compile(r"^\s*(?:\(?\d{1,2}[.):\]]|\d{1,2}\s+-|\(?[a-h][.)](?=\s))\s*")
_LABEL = re.compile(
    r"^\s*(?:(?:generated\s+|sample\s+|example\s+)?question|q)\s*#?\s*\d{0,2}\s*[:.)\]-]\s*",
    re.IGNORECASE,
)
_LABEL_ONLY = re.compile(
    r"^\s*(?:(?:generated\s+|sample\s+|example\s+)?(?:questions?|answers?)|q|a)\s*#?\s*\d{0,2}\s*[:)\]-]?\s*$",
    re.IGNORECASE,
)
_ANSWER_LINE = re.compile(
    r"^\s*(?:(?:answer|response|explanation|reason|source)\s*#?\s*\d{0,2}\s*[:)\]-]|a\s*\d{0,2}\s*:)",
    re.IGNORECASE,
)
_EMPHASIS = re.compile(r"(\*\*|__|\*|`)")
_QUOTE_PAIRS = {'"': '"', "'": "'", "“": "”", "‘": "’", "«": "»", "„": "“", "「": "」"}
_PREAMBLE = re.compile(
    r"^\s*(?:sure|certainly|of course|absolutely|okay|ok|great|alright|here(?:'s|’s| is| are)|below (?:is|are)"
    r"|the following|these are|i (?:have|will|can|'ll|’ll)|let me|based on (?:the|this) (?:passage|text|context)"
    r")\b",
    re.IGNORECASE,
)
_CLOSING = re.compile(
    r"^\s*(?:i hope|hope (?:this|these)|let me know|feel free|these questions|this question|note:)",
    re.IGNORECASE,
)


def _clean(line: str) -> str:
    """One candidate without bullets, numbering, emphasis, labels and wrapping quotes."""
    previous = None
    text = _nfkc(line).strip()
    while text != previous:
        previous = text
        text = _EMPHASIS.sub("", text).strip()
        text = _BULLET.sub("", text)
        text = _NUMBERING.sub("", text)
        text = _LABEL.sub("", text)
        text = text.strip().rstrip(",;").strip()
        text = re.sub(r"^[\[{]\s*(?=[\"'“‘])|(?<=[\"'”’?])\s*[\]}]$", "", text)  # a one-line JSON-ish list
        if len(text) >= 2 and text[0] in _QUOTE_PAIRS and text[-1] == _QUOTE_PAIRS[text[0]]:
            text = text[1:-1].strip()
        elif text[:1] in _QUOTE_PAIRS and text.count(text[0]) == 1 and text[-1:] in "?.":
            text = text[1:].strip()  # an opening quote only
        elif text[-1:] in "\"'”’»" and not any(q in text[:-1] for q in "\"'“‘«"):
            text = text[:-1].strip()  # a closing quote only
    return text


def _strip_preamble(text: str) -> str | None:
    """The part of a line after a preamble ("Sure! Here is a question: ..."); None when it is all preamble."""
    if _PREAMBLE.match(text) or _CLOSING.match(text):
        if "?" not in text:
            return None
        head, sep, tail = text.partition(":")
        if sep and "?" not in head:
            return tail.strip()
        # "Sure! What was ...?": drop a leading exclamation or sentence without a question mark
        m = re.match(r"^[^?]*?[.!]\s+(?=\S)", text)
        if m:
            return text[m.end() :]
        return text
    head, sep, tail = text.partition(": ")
    if sep and "?" not in head and "?" in tail and _QUESTION_WORD.search(head) and len(head.split()) <= 8:
        return tail.strip()  # "The third question: What ...?", "Sentence A - First question: ..."
    return text


_QUESTION_WORD = re.compile(r"\b(?:questions?|q\d*)\b", re.IGNORECASE)


def _split_questions(text: str) -> list[str]:
    """A line holding several questions ("What ...? How ...?") split after each question mark.

    When the line has a question, sentences around it ("Great news! What ...?") are split off too.
    """
    if "?" not in text:
        return [text]
    parts, start = [], 0
    for m in re.finditer(r"(?<=[?!])\s+(?=\S)|(?<=[a-z0-9%)]\.)\s+(?=[A-Z])|(?<=\.\.\.)\s+(?=\S)", text):
        word = re.search(r"([\w.]+)\.\Z", text[start : m.start()])
        if text[m.start() - 1] == "." and word and word.group(1).lower() in _ABBREVIATIONS:
            continue  # "Q2 vs. Q1", "Acme Robotics, Inc. Reports"
        parts.append(text[start : m.start()])
        start = m.end()
    parts.append(text[start:])
    return [p for p in parts if p.strip()]


def _json_items(text: str, force: bool) -> list[Any] | None:
    """The question items of a JSON reply, recovering what it can from broken JSON; None if not JSON."""
    stripped = text.strip()
    start = re.search(r"^[\[{]", stripped, re.MULTILINE)
    if not force and not (start and ('"' in stripped[start.start() :])):
        return None
    body = stripped[start.start() :] if start else stripped
    try:
        return _walk(json.loads(body))
    except json.JSONDecodeError:
        pass
    try:  # a complete value followed by chatter
        value, _ = json.JSONDecoder().raw_decode(body)
        return _walk(value)
    except json.JSONDecodeError:
        pass
    return _recover_strings(body)


_QUESTION_KEYS = ("question", "questions", "q", "query", "text", "prompt", "instruction")
_SKIP_KEYS = (
    "answer",
    "answers",
    "a",
    "response",
    "explanation",
    "reason",
    "source",
    "context",
    "type",
    "kind",
)


def _walk(value: Any) -> list[Any]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for v in value for item in _walk(v)]
    if isinstance(value, dict):
        lowered = {str(k).lower(): v for k, v in value.items()}
        for key in _QUESTION_KEYS:
            if key in lowered:
                return _walk(lowered[key])
        return [item for k, v in lowered.items() if k not in _SKIP_KEYS for item in _walk(v)]
    if value is None:
        return []
    return [str(value)]


_STRING = re.compile(r'"((?:[^"\\\n]|\\.)*)"(\s*:)?')


def _recover_strings(body: str) -> list[str]:
    """Complete string values in broken JSON: those under question keys if any, else every non-key string.

    A string cut off by the end of the reply is dropped, as are values of answer-like keys.
    """
    values: list[tuple[str | None, str]] = []
    key: str | None = None
    for m in _STRING.finditer(body):
        try:
            s = json.loads(f'"{m.group(1)}"')
        except json.JSONDecodeError:
            continue
        if m.group(2):
            key = s.lower()
            continue
        values.append((key, s))  # the key holds for every value until the next key (lists)
    under_question_keys = [s for k, s in values if k in _QUESTION_KEYS]
    if under_question_keys:
        return under_question_keys
    return [s for k, s in values if k not in _SKIP_KEYS]


_PLACEHOLDERS = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"^(?:sample |example |your |generated )?(?:question|answer|q|a)\s*#?\s*(?:\d{1,2}|one|two|three|[a-z])?\s*[?.!:]*$",
        r"^(?:what|who|how|why|when|where|which) (?:is|are|was|were|does|did) (?:x|y|z|xyz|abc|\.\.\.|…|_+|the (?:question|answer))\s*\??$",
        r"[\[<{]\s*(?:your |the |a |insert |generated )?(?:question|answer|text|topic|entity|x)\b[^\]>}]*[\]>}]",
        r"\b(?:your|insert|write|add|type) (?:a |the |your )?(?:question|answer)s? here\b",
        r"^(?:question|answer) (?:text|goes here)\b",
        r"^[\s.…_?-]*$",
        # the bundled model's meta questions: "What is the answer to this question?", "What is the question?"
        r"^what(?:'s| is| was) (?:the|your) (?:answer to (?:this|the|that|your|my) question|question)\s*\??$",
        r"\b(?:lorem ipsum|foo bar|placeholder)\b",
    )
]


def is_placeholder(text: str) -> bool:
    """Whether ``text`` is a template slot ("Question 1?", "Answer 1.", "[question]", "What is X?")."""
    return any(p.search(text) for p in _PLACEHOLDERS)


def _loop_threshold(period: int) -> int:
    """How many words a run with this period must span to be a loop: "the the the" (3), "of the of the
    of" (5), "the revenue of the revenue of the revenue" (8), two full copies of a longer unit."""
    return {1: 3, 2: 5, 3: 8}.get(period, 2 * period)


def _tandem_repeat(words: list[str]) -> tuple[int, int] | None:
    """(start, period) of the first degenerate loop in ``words``, else None.

    A loop is a stretch of words that repeats itself with a period of 1–12 words for at least
    :func:`_loop_threshold` words.
    """
    n = len(words)
    for start in range(n):
        for period in range(1, 13):
            if start + _loop_threshold(period) > n:
                break
            k = 0
            while start + period + k < n and words[start + k] == words[start + period + k]:
                k += 1
            if period + k >= _loop_threshold(period):
                if period == 1 and words[start].replace(".", "").replace(",", "").isdigit():
                    continue  # "1 1 1" in a table is not a loop of words
                return start, period
    return None


def _is_repetition(text: str) -> bool:
    words = _words(text)
    if _tandem_repeat(words):
        return True
    return len(words) >= 12 and len(set(words)) / len(words) < 0.35


def _longest_common_run(a: list[str], b: list[str]) -> int:
    if not a or not b:
        return 0
    match = difflib.SequenceMatcher(None, a, b, autojunk=False).find_longest_match(0, len(a), 0, len(b))
    return match.size


def _copies_chunk(words: list[str], chunk_words: list[str]) -> bool:
    run = _longest_common_run(words, chunk_words)
    return run >= COPY_RUN_WORDS or (len(words) >= 5 and run > COPY_SHARE * len(words))


_INTERROGATIVE = re.compile(
    r"^(?:what|what's|whats|who|whom|whose|which|when|where|why|how|is|are|was|were|do|does|did|can|could|"
    r"should|would|will|has|have|had|may|might|must|shall|in what|to what|by how|for what|from what)\b",
    re.IGNORECASE,
)


def _is_question(text: str) -> bool:
    """Ends with "?", or is interrogative and complete ("What is the plan to" was cut off mid-question)."""
    if text.rstrip("\"')]” ").endswith("?"):
        return True
    if not _INTERROGATIVE.match(text) or text.rstrip().endswith((".", "!", ":", ",", ";", "-")):
        return False
    words = _words(text)
    return bool(words) and words[-1] not in _STOPWORDS


_SOURCE_NOUN = (
    r"(?:passage|text|document|context|excerpt|paragraph|article|snippet|extract|reading|material|"
    r"information provided|data provided|source(?: text)?)s?"
)
_REFERS = re.compile(
    r"\b(?:according to|based on|from|in|within|per|by|of|as (?:stated|mentioned|described|shown|given) in|"
    r"(?:stated|mentioned|described|discussed|given|shown|presented|provided) in)\s+"
    r"(?:the|this|that|these|those|your)\s+(?:given\s+|above\s+|provided\s+|following\s+|preceding\s+|"
    r"previous\s+|original\s+|same\s+)?" + _SOURCE_NOUN + r"\b"
    r"|\b(?:the|this|that)\s+(?:given|above|provided|following|preceding)\s+" + _SOURCE_NOUN + r"\b"
    r"|\b(?:the|this)\s+" + _SOURCE_NOUN + r"\s+(?:above|below|provided|given)\b"
    r"|\b(?:this|the above)\s+(?:passage|excerpt|paragraph|snippet|extract)\b"
    r"|\bthe author(?:'s)?\b|\bthe writer\b",
    re.IGNORECASE,
)


def refers_to_passage(text: str) -> bool:
    """Whether ``text`` points at a passage its reader will not have ("according to the text", ...)."""
    return bool(_REFERS.search(_nfkc(text)))


_ADDRESSES = re.compile(
    r"\b(?:[Yy]ou|[Yy]our|[Yy]ours|[Yy]ourself|[Mm]e|[Mm]y|[Mm]ine|[Mm]yself)\b|\bI(?:'m|'d|'ll|'ve)?\b(?!-)"
)


_STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before being below
    between both but by can could did do does doing down during each either even ever every few for from
    further had has have having he her here hers him his how however if in into is it its itself just least
    less many may might more most much must neither no nor not now of off on once only or other our ours out
    over own per same shall she should since so some such than that the their theirs them then there these
    they this those though through thus to too under until up upon us very via was we were what whatever
    when where whether which while who whom whose why will with within without would yet""".split()  # noqa: SIM905
)
_GENERIC_WORDS = frozenset(
    """year years quarter quarters compared company companies business new total number amount kind type way
    ways main key specific general overall""".split()  # noqa: SIM905
)


def _content_words(words: list[str]) -> set[str]:
    return {
        w
        for w in words
        if w not in _STOPWORDS and w not in _GENERIC_WORDS and (len(w) >= 3 or any(c.isdigit() for c in w))
    }


def _instruction_text(prompt_text: str | None, chunk_text: str) -> str:
    """The prompt's own words, normalised, with the chunk taken out (copying it is ``copies_chunk``)."""
    if not prompt_text:
        return ""
    prompt = normalise_question(prompt_text)
    chunk = normalise_question(chunk_text)
    return prompt.replace(chunk, " | ") if chunk else prompt


def _echoes(norm: str, instructions: str) -> bool:
    if not instructions or len(norm.split()) < 3:
        return False
    return f" {norm} " in f" {instructions} "


def _candidates(raw: str) -> tuple[list[str], bool]:
    """Candidate question strings from a reply, and whether the reply had any content at all."""
    text = strip_think(raw)
    if not text.strip():
        return [], False
    body, fenced_json = _unfence(text)
    items = _json_items(body, fenced_json)
    if items is not None:
        return [str(i) for i in items] or [""], True
    out: list[str] = []
    for line in body.splitlines():
        cleaned = _clean(line)
        if not cleaned or _LABEL_ONLY.match(cleaned) or re.fullmatch(r"[-=*_~`]{3,}", cleaned):
            continue  # blank, a bare "Questions:" heading, a rule
        if _ANSWER_LINE.match(cleaned) and not is_placeholder(cleaned):
            continue  # "Answer: ..." lines of a question/answer layout
        for part in _split_questions(cleaned):
            part = _clean(part)
            if _ANSWER_LINE.match(part) and not is_placeholder(part):
                continue
            kept = _strip_preamble(part)
            if kept is None:
                continue
            if kept.endswith(":") and "?" not in kept and len(kept.split()) <= 12:
                continue  # "Questions about Acme's second quarter:"
            out.append(_clean(kept))
    return out, True


def parse_questions(
    raw: str, chunk_text: str, prompt_text: str | None = None
) -> tuple[list[str], list[Rejection]]:
    """The questions in a model reply, and a :class:`Rejection` for every candidate refused.

    ``raw`` may be lines (numbered, bulleted, labelled, quoted, with a preamble), JSON (a list of
    strings, of ``{"question": ...}`` objects, or ``{"questions": [...]}``; fenced or not; broken JSON is
    recovered item by item), and may hold ``<think>`` blocks. ``chunk_text`` is the source chunk (for the
    copy check); ``prompt_text`` the full prompt that was sent (for the echo check; the chunk inside it
    is not counted as instructions). Accepted questions keep their wording; a missing final "?" on an
    interrogative sentence is added.
    """
    candidates, had_content = _candidates(raw)
    if not had_content:
        return [], [Rejection("", EMPTY)]
    instructions = _instruction_text(prompt_text, chunk_text)
    chunk_words = _words(chunk_text)
    accepted: list[str] = []
    rejected: list[Rejection] = []
    seen: set[str] = set()
    for text in candidates:
        text = _clean(re.sub(r"\s+", " ", text))
        reason = _check(text, instructions, chunk_words)
        norm = normalise_question(text)
        if reason is None and norm in seen:
            reason = DUPLICATE
        if reason is not None:
            rejected.append(Rejection(text, reason))
            continue
        seen.add(norm)
        accepted.append(text if text.endswith("?") else text.rstrip(" .") + "?")
    if not candidates:  # only a preamble or chatter
        rejected.append(Rejection(re.sub(r"\s+", " ", strip_think(raw)).strip()[:300], NOT_A_QUESTION))
    return accepted, rejected


def _check(text: str, instructions: str, chunk_words: list[str]) -> str | None:
    """The first reason ``text`` is not a usable question, else None."""
    if not text.strip():
        return EMPTY
    if is_placeholder(text):
        return PLACEHOLDER
    norm = normalise_question(text)
    if _echoes(norm, instructions):
        return ECHOES_PROMPT
    if _is_repetition(text):
        return REPETITION
    words = norm.split()
    if _copies_chunk(words, chunk_words):
        return COPIES_CHUNK
    if not _is_question(text):
        return NOT_A_QUESTION
    if len(words) < MIN_WORDS:
        return TOO_SHORT
    if len(words) > MAX_WORDS:
        return TOO_LONG
    if refers_to_passage(text):
        return REFERS_TO_PASSAGE
    if _ADDRESSES.search(text):
        return ADDRESSES_READER
    if chunk_words and not _content_words(words) & set(chunk_words):
        return OFF_TOPIC
    return None


# --------------------------------------------------------------------------------------------------
# answers


_ANSWER_LABEL = re.compile(
    r"^\s*(?:\*\*|__)?\s*(?:(?:final\s+|the\s+)?(?:answer|response)(?:\s+is)?\s*(?:\*\*|__)?\s*[:.-]"
    r"|a\s*(?:\*\*|__)?\s*:)"
    r"\s*(?:\*\*|__)?\s*",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"[.!?](?:[\"'”’)\]]*)(?=\s|$)")
_TOKEN = re.compile(r"\S+")


def _cut_repetition(text: str) -> str:
    """``text`` up to where a loop begins, one copy of the repeated unit kept."""
    sentences = [m for m in re.finditer(r"[^.!?\n]+(?:[.!?]+|$)", text)]
    seen: set[str] = set()
    for m in sentences:
        key = normalise_question(m.group())
        if key and len(key.split()) >= 3 and key in seen:
            return text[: m.start()].rstrip()
        if key:
            seen.add(key)
    tokens = list(_TOKEN.finditer(text))
    words = [normalise_question(t.group()) for t in tokens]
    loop = _tandem_repeat(words)
    if loop is None:
        return text
    start, period = loop
    cut = start + period  # keep the first copy of the unit
    return text[: tokens[cut - 1].end()].rstrip() if cut > 0 else ""


_ABBREVIATIONS = frozenset(
    [
        "inc",
        "corp",
        "co",
        "ltd",
        "llc",
        "plc",
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "st",
        "no",
        "vs",
        "etc",
        "e.g",
        "i.e",
        "u.s",
        "u.k",
        "approx",
        "est",
        "fig",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
    ]
)


def _sentence_ends(text: str) -> list[int]:
    """Offsets just after each sentence end, skipping abbreviations ("Inc.") and initials ("J.")."""
    ends = []
    for m in _SENTENCE_END.finditer(text):
        if text[m.start()] == ".":
            before = re.search(r"([\w.]+)\Z", text[: m.start()])
            word = before.group(1).lower() if before else ""
            if word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha()):
                continue
        ends.append(m.end())
    return ends


def _complete_sentences(text: str) -> str:
    """``text`` up to its last complete sentence, when it stops mid-sentence and has one to keep."""
    stripped = text.rstrip()
    ends = _sentence_ends(stripped)
    if not ends or ends[-1] == len(stripped):
        return stripped
    return stripped[: ends[-1]].rstrip()


def parse_answer(raw: str, truncated: bool | None = None) -> str:
    """The answer in a model reply: reasoning, labels and wrapping quotes removed, loops cut.

    An unclosed ``<think>`` gives "" (no answer yet). A JSON reply ``{"answer": ...}`` gives its answer.
    When the reply stops mid-sentence (``truncated``: the backend hit ``max_new_tokens``; None: guess from
    the last character) it is cut back to its last complete sentence, if it has one.
    """
    text = strip_think(raw)
    body, _ = _unfence(text)
    if body.lstrip().startswith("{"):
        try:
            value = json.loads(body)
            if isinstance(value, dict):
                lowered = {str(k).lower(): v for k, v in value.items()}
                for key in ("answer", "response", "text"):
                    if isinstance(lowered.get(key), str):
                        body = lowered[key]
                        break
        except json.JSONDecodeError:
            pass
    text = _nfkc(body).strip()
    text = _ANSWER_LABEL.sub("", text, count=1).strip()
    if len(text) >= 2 and text[0] in _QUOTE_PAIRS and text[-1] == _QUOTE_PAIRS[text[0]]:
        inner = text[1:-1]
        if text[0] not in inner:
            text = inner.strip()
    looped = _cut_repetition(text)
    if looped != text:
        text, truncated = looped, True
    if truncated or truncated is None:
        text = _complete_sentences(text)
    return re.sub(r"[ \t]+", " ", text).strip()
