"""Numbers in text: extraction, normalisation, and the check that an answer's numbers are in its sources.

``extract_numbers`` finds the quantities a reader would check ("$5.1 billion", "5,100 million", "5.1B",
"€3.2m", "(3.5)", "−3.5", "12.5 percent", "150 bps", "two") and skips what is not a fact to check: years
(1900–2100 written as a bare four-digit number), dates and times, quarter and fiscal labels ("Q3",
"FY2025", "3Q25"), ordinals ("3rd", "third"), version numbers, form names ("10-K") and footnote markers
("EBITDA(2)").

Every :class:`Num` carries its value with its scale applied (``Decimal``, exact: "5.1 billion" is
``Decimal("5.1E+9")``) and its stated precision (``unit``: "5.1 billion" is precise to 0.1 billion), so
that :func:`number_supported` can accept a rounded restatement (5.1 billion for 5,104 million; 25% for
24.9%) and refuse a different number (5.2 billion for 5.1 billion).

Pure functions: no store, no model.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Literal

Kind = Literal["percent", "currency", "plain"]

SCALE_WORDS = {
    "hundred": Decimal(100),
    "thousand": Decimal(10) ** 3,
    "million": Decimal(10) ** 6,
    "billion": Decimal(10) ** 9,
    "trillion": Decimal(10) ** 12,
}
SCALE_ABBREVIATIONS = {
    "k": Decimal(10) ** 3,
    "m": Decimal(10) ** 6,
    "mm": Decimal(10) ** 6,
    "mn": Decimal(10) ** 6,
    "mio": Decimal(10) ** 6,
    "b": Decimal(10) ** 9,
    "bn": Decimal(10) ** 9,
    "t": Decimal(10) ** 12,
    "tn": Decimal(10) ** 12,
    "trn": Decimal(10) ** 12,
}
NUMBER_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30,
    "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
}  # fmt: skip
CURRENCY_SYMBOLS = {"$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY", "₹": "INR"}
CURRENCY_CODES = ("USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "CNY", "RMB", "INR", "HKD", "SGD")
CURRENCY_WORDS = {"dollar": "USD", "euro": "EUR", "pound": "GBP"}


@dataclass(frozen=True)
class Num:
    """One quantity found in a text."""

    value: Decimal
    """The value with its scale applied: "$5.1 billion" -> 5.1E+9, "(3.5)" -> -3.5, "12.5%" -> 12.5,
    "150 bps" -> 1.5 (percentage points). Exact; ``float(num)`` gives a float."""
    kind: Kind
    """"percent" (%, percent, per cent, percentage points, basis points), "currency" (a symbol, code or
    currency word was written), else "plain"."""
    raw: str
    """The text as written, from the sign or currency to the unit."""
    span: tuple[int, int]
    """``text[span[0]:span[1]] == raw``."""
    unit: Decimal
    """The stated precision with the scale applied: "5.1 billion" -> 1E+8, "1,234" -> 1, "12.5%" -> 0.1."""
    scale: Decimal = Decimal(1)
    """The multiplier applied to the written figure (1 when none)."""
    scaled: bool = False
    """Whether a scale was written with the number ("billion", "bn", "B") or applied from ``default_scale``."""
    currency: str | None = None
    """ISO code of the written currency ("USD" for "$"), else None."""

    @property
    def mantissa(self) -> Decimal:
        """The figure as written, before scaling: "$5.1 billion" -> 5.1."""
        return self.value / self.scale

    def __float__(self) -> float:
        return float(self.value)


# --------------------------------------------------------------------------------------------------
# what is not a number to check: masked before extraction

_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
    r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
)
_MASKS = [
    re.compile(rf"\b{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?\b(?:,?\s+\d{{4}}\b)?"),  # July 29, 2025
    re.compile(rf"\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}(?:,?\s+\d{{4}})?\b"),  # 29 July 2025
    re.compile(r"\b\d{4}-\d{1,2}-\d{1,2}\b"),  # 2025-07-29
    re.compile(r"\b\d{1,2}/\d{1,2}/\d{2,4}\b"),  # 7/29/2025
    re.compile(r"\b\d{1,2}:\d{2}(?::\d{2})?(?:\s*[ap]\.?m\.?)?", re.IGNORECASE),  # 4:30 p.m.
    re.compile(r"\b\d{1,2}\s*[ap]\.m\.", re.IGNORECASE),  # 4 p.m.
    re.compile(r"\bv?\d+(?:\.\d+){2,}\b"),  # versions, addresses: 4.2.1
    re.compile(r"\b\d{1,2}-[KQF]\b"),  # form names: 10-K, 8-K, 20-F
    re.compile(r"\[\d{1,2}(?:\s*,\s*\d{1,2})*\]"),  # citation markers: [2], [1, 3]
    re.compile(  # period labels: "three months ended", "12-month period", "nine months"
        r"\b(?:\d{1,2}|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)"
        r"[\s-]+(?:months?|weeks?|quarters?)(?=[\s,]+(?:ended|ending|period)\b)",
        re.IGNORECASE,
    ),
]

_CORE = re.compile(r"(?<![\w.])(?:\d{1,3}(?:,\d{3})+(?![\d,]\d)|\d+)(?:\.\d+)?(?![\d])")
_LEFT = re.compile(
    r"(?P<word_sign>\b(?:negative|minus)\s+)?"
    r"(?P<open>\()?"
    r"(?P<sign>[-−–+])?"
    r"(?P<cur>(?:US|C|A|HK|S|NZ|R)?\$|[€£¥₹]|\b(?:" + "|".join(CURRENCY_CODES) + r")\s?)?"
    r"(?P<sign2>[-−–])?"
    r"(?P<open2>\()?"
    r"\Z"
)
_RIGHT = re.compile(
    r"(?P<close1>\))?"
    r"(?:(?:\s?|-)(?P<word>hundred|thousand|million|billion|trillion)s?\b"
    r"|(?P<abbr>mm|mn|mio|bn|trn|tn|[kmbt])(?![A-Za-z])"
    r"|\s(?P<abbr_sp>mm|mn|bn|tn)\b)?"
    r"(?P<cur_after>\s?(?:" + "|".join(CURRENCY_CODES) + r")\b|\s(?:dollar|euro|pound)s?\b)?"
    r"(?P<pct>\s?%|\s?(?:percent|per\s?cent|pct)\b|\s?percentage\s+points?\b|\s?pp\b"
    r"|\s?(?P<bps>basis\s+points?|bps|bp)\b)?"
    r"(?P<close2>\))?"
    r"(?P<times>x\b|×)?",
    re.IGNORECASE,
)
_WORD_NUMBER = re.compile(
    r"\b(?P<tens>"
    + "|".join(NUMBER_WORDS)
    + r")(?:-(?P<units>one|two|three|four|five|six|seven|eight|nine))?"
    r"(?:\s+(?P<scale>hundred|thousand|million|billion|trillion)\b)?(?![\w-])",
    re.IGNORECASE,
)


def _masked_spans(text: str) -> list[tuple[int, int]]:
    spans = [m.span() for pattern in _MASKS for m in pattern.finditer(text)]
    return sorted(spans)


def _inside(pos: int, spans: list[tuple[int, int]]) -> bool:
    return any(a <= pos < b for a, b in spans)


def _decimals(figure: str) -> int:
    return len(figure.split(".", 1)[1]) if "." in figure else 0


def extract_numbers(
    text: str, default_scale: float | Decimal | None = None, *, words: bool = True
) -> list[Num]:
    """The numbers in ``text`` to check, in order of appearance.

    ``default_scale`` multiplies every non-percent number written without a scale of its own (a table
    headed "$ in millions": pass ``detect_scale(text)``). ``words`` also reads cardinal number words
    ("two", "twenty-five", "three million"); a bare "one"/"zero" is skipped (it is rarely a quantity).
    """
    masked = _masked_spans(text)
    found: list[Num] = []
    default = Decimal(str(default_scale)) if default_scale is not None else None
    for m in _CORE.finditer(text):
        start, end = m.span()
        if _inside(start, masked):
            continue
        figure = m.group().replace(",", "")
        left = _LEFT.search(text, max(0, start - 16), start)
        right = _RIGHT.match(text, end)
        assert left is not None and right is not None  # both patterns can match the empty string
        r_end = right.end()
        if r_end < len(text) and (text[r_end].isalnum() or text[r_end] == "_"):
            continue  # glued to a letter or digit no unit explains: 3rd, 2Q25, 10am, 3mg
        if left.group("sign") and not left.group("open") and not left.group("word_sign"):
            before = text[left.start("sign") - 1] if left.start("sign") > 0 else " "
            if before.isalnum() or before in ")%":
                # "2024-2025", "3-5%": a hyphen, not a sign; read the left side after it
                left = _LEFT.search(text, left.end("sign"), start)
                assert left is not None
        glued = left.start() > 0 and (text[left.start() - 1].isalnum() or text[left.start() - 1] == "_")
        if glued and not left.group("cur"):
            continue  # Q3, FY2025, X2, "EBITDA(2)" (a footnote)
        opened = bool(left.group("open") or left.group("open2"))
        closed = bool(right.group("close1") or right.group("close2"))
        paren_negative = opened and closed
        sign_group = "sign2" if left.group("sign2") else "sign" if left.group("sign") else None
        cur = (left.group("cur") or "").strip() or (right.group("cur_after") or "").strip()
        left_used = [g for g in ("word_sign", "sign", "cur", "sign2") if left.group(g)]
        if paren_negative:
            left_used += [g for g in ("open", "open2") if left.group(g)]
        kind: Kind = "plain"
        currency = None
        if cur:
            kind = "currency"
            currency = _currency_code(cur)
        pct = right.group("pct")
        if pct:
            kind = "percent"
        scale_text = (right.group("word") or right.group("abbr") or right.group("abbr_sp") or "").lower()
        if right.group("abbr_sp") and not currency:
            scale_text = ""  # "3 mm" without a currency may be millimetres
        if paren_negative and not (cur or pct or scale_text) and figure.isdigit() and int(figure) < 10:
            continue  # "(1)", "(2)": footnote or list markers, not a loss of 2
        bare = not (cur or pct or scale_text or sign_group or right.group("times"))
        if bare and m.group().isdigit() and len(figure) == 4 and 1900 <= int(figure) <= 2100:
            continue  # a year
        number = Decimal(figure)
        unit = Decimal(1).scaleb(-_decimals(figure))
        scale = Decimal(1)
        scaled = False
        if scale_text:
            scale = SCALE_WORDS.get(scale_text) or SCALE_ABBREVIATIONS[scale_text]
            scaled = True
        if pct and right.group("bps"):
            number, unit = number / 100, unit / 100  # basis points -> percentage points
        if not scaled and default is not None and kind != "percent":
            scale, scaled = default, True
        sign_char = left.group(sign_group) if sign_group else None
        negative = paren_negative or sign_char in ("-", "−", "–") or bool(left.group("word_sign"))
        value = (-number if negative else number) * scale
        right_used = [g for g in ("word", "abbr", "cur_after", "pct", "times") if right.group(g)]
        if scale_text and right.group("abbr_sp"):
            right_used.append("abbr_sp")
        if paren_negative:
            right_used += [g for g in ("close1", "close2") if right.group(g)]
        raw_start = min([left.start(g) for g in left_used], default=start)
        raw_end = max([right.end(g) for g in right_used], default=end)
        found.append(
            Num(
                value=_canonical(value),
                kind=kind,
                raw=text[raw_start:raw_end],
                span=(raw_start, raw_end),
                unit=_canonical(unit * scale),
                scale=scale,
                scaled=scaled,
                currency=currency,
            )
        )
    if words:
        found.extend(_word_numbers(text, masked, default))
        found.sort(key=lambda n: n.span)
    return _propagate_ranges(text, found)


def _currency_code(cur: str) -> str:
    cur = cur.strip()
    if cur.upper() in CURRENCY_CODES:
        return "CNY" if cur.upper() == "RMB" else cur.upper()
    for word, code in CURRENCY_WORDS.items():
        if cur.lower().startswith(word):
            return code
    if cur.endswith("$") and len(cur) > 1:
        return {"US$": "USD", "C$": "CAD", "A$": "AUD", "HK$": "HKD", "S$": "SGD", "NZ$": "NZD", "R$": "BRL"}[
            cur
        ]
    return CURRENCY_SYMBOLS[cur]


def _canonical(d: Decimal) -> Decimal:
    """One spelling per value: no trailing zeros, no exponent on whole numbers (5.10E+9 -> 5100000000)."""
    if d == 0:
        return Decimal(0)
    d = d.normalize()
    return d.quantize(Decimal(1)) if d.as_tuple().exponent > 0 else d


def _word_numbers(text: str, masked: list[tuple[int, int]], default: Decimal | None) -> list[Num]:
    out = []
    for m in _WORD_NUMBER.finditer(text):
        if _inside(m.start(), masked):
            continue
        base = NUMBER_WORDS[m.group("tens").lower()]
        if m.group("units"):
            if base < 20 or base % 10:
                continue  # "two-one" is not a number
            base += NUMBER_WORDS[m.group("units").lower()]
        scale_word = (m.group("scale") or "").lower()
        if base <= 1 and not scale_word:
            continue  # "one of the", "zero-emission"
        scale = SCALE_WORDS[scale_word] if scale_word else (default or Decimal(1))
        value = Decimal(base) * scale
        out.append(
            Num(
                value=_canonical(value),
                kind="plain",
                raw=m.group(),
                span=m.span(),
                unit=_canonical(scale),
                scale=scale,
                scaled=bool(scale_word) or default is not None,
            )
        )
    return out


_RANGE_JOIN = re.compile(r"\s*(?:-|–|—|to|and)\s*\Z", re.IGNORECASE)


def _propagate_ranges(text: str, nums: list[Num]) -> list[Num]:
    """In "3 to 5%" or "$158 to $165 million" the first bound takes the unit written after the second."""
    out = list(nums)
    for i in range(len(out) - 1, 0, -1):
        first, second = out[i - 1], out[i]
        between = text[first.span[1] : second.span[0]]
        if not _RANGE_JOIN.fullmatch(between) and not re.fullmatch(r"\s*(?:-|–|—|to|and)\s*[$€£¥]?", between):
            continue
        if first.kind == "plain" and second.kind == "percent":
            first = replace(first, kind="percent")
        if not first.scaled and second.scaled and second.kind != "percent" and first.kind != "percent":
            first = replace(
                first,
                value=_canonical(first.value * second.scale),
                unit=_canonical(first.unit * second.scale),
                scale=second.scale,
                scaled=True,
            )
        if first.kind == "plain" and second.kind == "currency":
            first = replace(first, kind="currency", currency=second.currency)
        out[i - 1] = first
    return out


# --------------------------------------------------------------------------------------------------
# scale headers of tables

_SCALE_NAMES = {"thousand": Decimal(10) ** 3, "million": Decimal(10) ** 6, "billion": Decimal(10) ** 9}
_DETECT = [
    # "(in millions, except per share data)", "($ in millions)", "(USD millions)", "(millions)"
    re.compile(
        r"\(\s*(?:[$€£]|usd|eur|gbp|dollars|euros)?\s*(?:amounts\s+)?(?:in\s+)?(?:[$€£]\s*)?"
        r"(thousand|million|billion)s?\b",
        re.IGNORECASE,
    ),
    # "$ in millions", "dollars in thousands", "amounts in millions", "figures are in billions"
    re.compile(
        r"(?:[$€£]|\b(?:usd|eur|gbp|dollars|euros|amounts|figures|numbers))\s+(?:are\s+|expressed\s+)?"
        r"in\s+(thousand|million|billion)s?\b",
        re.IGNORECASE,
    ),
    # "in millions of dollars", "in thousands of U.S. dollars", "in millions, except"
    re.compile(
        r"\bin\s+(thousand|million|billion)s?(?:\s+of\s+(?:u\.?s\.?\s+)?(?:dollars|euros|pounds|usd|eur|gbp)\b"
        r"|\s*,\s*except\b)",
        re.IGNORECASE,
    ),
]
_DETECT_SHORT = re.compile(r"\(\s*(?:in\s+)?[$€£]\s*(000s?|000,000s?|mm|mn|m|bn|k)\s*\)", re.IGNORECASE)
_SHORT_SCALES = {"000": 3, "000s": 3, "000,000": 6, "000,000s": 6, "mm": 6, "mn": 6, "m": 6, "bn": 9, "k": 3}


def detect_scale(text: str) -> float | None:
    """The scale a table in ``text`` declares: "(in millions, except per share data)" -> 1e6.

    Looks for a header ("$ in millions", "(in thousands)", "(€m)", "($000s)"); prose such as "used in
    millions of homes" does not count. The first header found wins; None when there is none.
    """
    best: tuple[int, Decimal] | None = None
    for pattern in _DETECT:
        m = pattern.search(text)
        if m and (best is None or m.start() < best[0]):
            best = (m.start(), _SCALE_NAMES[m.group(1).lower()])
    m = _DETECT_SHORT.search(text)
    if m and (best is None or m.start() < best[0]):
        best = (m.start(), Decimal(10) ** _SHORT_SCALES[m.group(1).lower()])
    return float(best[1]) if best else None


# --------------------------------------------------------------------------------------------------
# grounding


@lru_cache(maxsize=4096)
def _detect_scale_cached(text: str) -> float | None:
    return detect_scale(text)


@lru_cache(maxsize=4096)
def _source_candidates(source_text: str, source_scale: float | None) -> tuple[Num, ...]:
    """The source's numbers; without a written scale, also the table scale applied (``source_scale``).

    Cached: curation checks many answers against the same cited chunks.
    """
    nums = extract_numbers(source_text)
    if not source_scale:
        return tuple(nums)
    scale = Decimal(str(source_scale))
    out = []
    for n in nums:
        out.append(n)
        if not n.scaled and n.kind != "percent":
            out.append(
                replace(n, value=_canonical(n.value * scale), unit=_canonical(n.unit * scale), scale=scale)
            )
    return tuple(out)


def _compatible(answer: Num, source: Num) -> bool:
    if (answer.kind == "percent") != (source.kind == "percent"):
        return False
    return not (answer.currency and source.currency and answer.currency != source.currency)


def _same_value(a: Decimal, s: Decimal, unit: Decimal, rel_tol: float, max_rounding_error: float) -> bool:
    if a == s or abs(a - s) <= Decimal(str(rel_tol)) * max(abs(a), abs(s)):
        return True
    if unit <= 0 or s == 0:
        return False
    rounded = (s / unit).quantize(Decimal(1), rounding=ROUND_HALF_UP) * unit
    return rounded == a and abs(a - s) <= Decimal(str(max_rounding_error)) * abs(s)


def _matches(answer: Num, source: Num, rel_tol: float, max_rounding_error: float) -> bool:
    if not _compatible(answer, source):
        return False
    if answer.value < 0 and source.value >= 0:
        return False  # an answer that writes a negative needs a negative in the source
    a = abs(answer.value)
    values = [abs(source.value)]
    if not answer.scaled and source.scaled:
        values.append(abs(source.mantissa))  # "revenue was 5.1" against "$5.1 billion"
    return any(_same_value(a, s, abs(answer.unit), rel_tol, max_rounding_error) for s in values)


def number_supported(
    num: Num,
    source_text: str,
    source_scale: float | None = None,
    rel_tol: float = 1e-9,
    max_rounding_error: float = 0.05,
) -> bool:
    """Whether ``num`` (from an answer) appears in ``source_text`` after normalisation.

    - Values are compared with their scales applied: "5.1B" = "5,100 million" = "5,100" in a table
      "$ in millions". ``source_scale`` None means: detect it with :func:`detect_scale`; pass 1 for none.
      A source number under a table scale is also tried unscaled (per-share data, counts).
    - Percentages match only percentages ("12.5%" = "12.5 percent"; "150 bps" = "1.5 percentage points").
    - Currencies must agree when both are written; a plain number matches a currency amount.
    - A negative in the answer ("-3.5", "(3.5)", "negative 3.5") needs a negative in the source; an
      unsigned answer matches either sign (the sign is usually in words: "a loss of 3.5 million").
    - Rounding: the source value rounded to the answer's stated precision must equal the answer (5.1
      billion from 5,104 million; 25% from 24.9%) and differ from it by at most ``max_rounding_error``
      (relative), so that "5 billion" does not pass for 5.4 billion. 5.2 never matches 5.1.
    - An answer without a scale may quote the source's written figure ("5.1" for "$5.1 billion").
    """
    if source_scale is None:
        source_scale = _detect_scale_cached(source_text)
    return any(
        _matches(num, s, rel_tol, max_rounding_error) for s in _source_candidates(source_text, source_scale)
    )


def unsupported_numbers(
    answer: str,
    source_texts: Iterable[str],
    rel_tol: float = 1e-9,
    max_rounding_error: float = 0.05,
) -> list[Num]:
    """The numbers in ``answer`` that no text in ``source_texts`` supports (each with its own scale)."""
    candidates = [_source_candidates(t, _detect_scale_cached(t)) for t in source_texts]
    return [
        num
        for num in extract_numbers(answer)
        if not any(_matches(num, s, rel_tol, max_rounding_error) for group in candidates for s in group)
    ]
