"""Numeric questions made from facts, without an LLM: several phrasings per fact, each naming the
subject and the period, and a reference answer that states value, unit and period.

Why several phrasings: a fact is learned so that it can be recalled when it was seen in several
wordings (Allen-Zhu & Li, *Physics of Language Models 3.1*; Yang et al., *Synthetic continued
pretraining*), and a question that does not name whom and when ("What is the gross margin?") cannot be
answered without its source.

:func:`question_keeps_fact` is the check an LLM paraphrase must pass: it still names the subject, the
metric and the period of its fact, and names no other year or quarter.

Pure functions: no store, no model.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from decimal import Decimal

from synthtune.synth.facts import Fact
from synthtune.text.identity import short_name
from synthtune.text.periods import Period, date_text


@dataclass(frozen=True)
class TemplateQuestion:
    question: str
    answer: str  # the reference answer: value, unit and period in one sentence
    template: str  # which phrasing ("what_was", "how_much", ...), for balancing and lineage


_SCALE_WORDS = {Decimal(10) ** 3: "thousand", Decimal(10) ** 6: "million", Decimal(10) ** 9: "billion"}
_CURRENCY_SIGNS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}


def format_value(fact: Fact) -> str:
    """The value as a sentence states it: "$7.1 million", "41.9%", "$0.16 per diluted share"... kept at
    the written precision ("45.0" stays "45.0"); a range reads "$150 million to $156 million", an
    estimate "approximately $70 million"."""
    figures = re.findall(r"\d[\d,]*(?:\.\d+)?", fact.raw)
    low = _format_one(fact, fact.value, figures[0] if figures else "")
    if fact.high is not None:
        high = _format_one(fact, fact.high, figures[-1] if len(figures) > 1 else "")
        if fact.unit.startswith("per share"):  # "$5.70 to $6.50 per share"
            low = low.removesuffix(" per share")
        return f"{low} to {high}"
    estimate = re.match(r"\s*(approximately|about|roughly|around|nearly|~)", fact.raw, re.I)
    if estimate:
        word = estimate.group(1).lower()
        return f"{'approximately' if word == '~' else word} {low}"
    return low


# a cash-flow row that names an outflow: its statement shows the amount in parentheses, a sentence says
# "purchases of property and equipment were $9.2 million", not "-$9.2 million"
_OUTFLOW = re.compile(
    r"^\s*(?:purchases?|payments?|repayments?|repurchases?|acquisitions?|capital expenditures?|dividends paid)"
    r"\b",
    re.I,
)


def _format_one(fact: Fact, value: Decimal, written: str) -> str:
    figure = _written_figure(value, written)
    negative = figure.startswith("-") and not _OUTFLOW.match(fact.metric)
    figure = figure.lstrip("-")
    sign = "-" if negative else ""
    if fact.unit == "%":
        return f"{sign}{figure}%"
    if fact.unit in ("basis points", "percentage points"):
        return f"{sign}{figure} {fact.unit}"
    scale = _SCALE_WORDS.get(fact.scale)
    scaled = f"{figure} {scale}" if scale else figure
    if fact.unit.startswith("per share"):
        currency = fact.unit.removeprefix("per share").strip() or "USD"
        return f"{sign}{_CURRENCY_SIGNS.get(currency, currency + ' ')}{figure} per share"
    if fact.unit in _CURRENCY_SIGNS:
        return f"{sign}{_CURRENCY_SIGNS[fact.unit]}{scaled}"
    if fact.unit:
        return f"{sign}{scaled} {fact.unit}"
    return f"{sign}{scaled}"


def _written_figure(value: Decimal, written: str) -> str:
    """The figure with the decimals it was written with ("45.0"), sign first."""
    decimals = len(written.split(".")[1]) if "." in written else 0
    value = value.quantize(Decimal(1).scaleb(-decimals)) if decimals else value
    text = f"{abs(value):,f}" if decimals else f"{abs(value.to_integral_value()):,}"
    return ("-" if value < 0 else "") + text


def _possessive(name: str) -> str:
    if name.endswith(("'s", "’s")):
        return name  # "McDonald's"
    return f"{name}'" if name.endswith("s") else f"{name}'s"


_SUB_ROW_METRIC = re.compile(r"\b(?:sales|revenues?|income|earnings|profit|expenses?)\b", re.I)


def _metric_phrase(metric: str) -> str:
    """A row label as it reads inside a sentence: "Gross margin" -> "gross margin"; acronyms and names
    kept ("Adjusted EBITDA margin" -> "adjusted EBITDA margin", "Software & Services revenue" stays: a
    segment's name is capitalised throughout)."""
    trailing = re.match(
        r"^(?P<m>.+?),\s*(?P<q>diluted|basic|adjusted|GAAP|non-GAAP|reported)$", metric.strip(), re.I
    )
    if trailing:  # "Net income per share, diluted" -> "diluted net income per share"
        m = trailing.group("m")
        m = m[0].lower() + m[1:] if m[:1].isupper() and not m.split()[0].isupper() else m
        metric = f"{trailing.group('q')} {m}"
    growth = re.match(r"^(?P<m>.+?) growth \((?P<k>sequential|year over year)\)$", metric.strip(), re.I)
    if growth:  # "Revenue growth (sequential)" -> "sequential revenue growth"
        m = growth.group("m")
        named = any(w[:1].isupper() and not w.isupper() for w in m.split()[1:])  # "Software & Services"
        m = m[0].lower() + m[1:] if m[:1].isupper() and not m.split()[0].isupper() and not named else m
        metric = f"{growth.group('k').lower().replace('year over year', 'year-over-year')} {m} growth"
    parent, dash, child = metric.partition(" — ")
    if dash and _SUB_ROW_METRIC.search(child):
        metric = child.strip()  # "Revenue — Domestic comparable online sales % change": the sub-row says it
    elif (
        dash
        and 1 <= len(child.split()) <= 3
        and not re.search(r"%|\b(?:change|growth|margin|rate|per)\b", child, re.I)
    ):
        # a sub-row under its parent: "Revenue — Domestic segment" reads "Domestic segment revenue"
        head = parent.strip()
        head = head[0].lower() + head[1:] if head[:1].isupper() and not head.split()[0].isupper() else head
        metric = f"{child.strip()} {head}"
    words = metric.split()
    named = any(w[:1].isupper() and not w.isupper() for w in words[1:])
    if words and words[0][:1].isupper() and not any(ch.isupper() for ch in words[0][1:]) and not named:
        words[0] = words[0].lower()
    return " ".join(words)


# "Robots shipped", "Stores opened": a count told by a verb; the question asks how many, the answer
# says what the company did ("Acme Robotics shipped 1,210 robots")
_DONE = {
    "shipped": ("ship", "shipping"), "sold": ("sell", "selling"), "opened": ("open", "opening"),
    "closed": ("close", "closing"), "delivered": ("deliver", "delivering"), "added": ("add", "adding"),
    "installed": ("install", "installing"), "deployed": ("deploy", "deploying"), "served": ("serve", "serving"),
    "hired": ("hire", "hiring"), "acquired": ("acquire", "acquiring"), "produced": ("produce", "producing"),
}  # fmt: skip
_SINGULAR_S = ("ss", "us", "is", "ics", "news")


_PREPOSITION = re.compile(r"\s(?:of|for|from|per|in|on|to|under|by|at)\s", re.I)


def _head(metric: str) -> str:
    """The metric's head noun: its last word before a parenthesis, a comma or a preposition ("Net income
    (loss) per share, diluted" -> "income"; "Total operating expenses" -> "expenses"; "Provision for income
    taxes" -> "provision"; "Purchases of property and equipment" -> "purchases")."""
    core = _PREPOSITION.split(re.split(r"[(,—]", metric, maxsplit=1)[0], maxsplit=1)[0].split()
    return core[-1].lower() if core else ""


def _be(metric: str) -> str:
    core = re.split(r"[(,—]", metric, maxsplit=1)[0].split()
    if core and core[-1].isupper():  # an acronym: "EPS", "ARR"
        return "was"
    head = _head(metric)
    return "were" if head.endswith("s") and not head.endswith(_SINGULAR_S) else "was"


# the phrasings that call the company by the shorter name its documents also use ("Acme" for Acme
# Robotics, see identity.nickname), question and answer alike: readers ask by either name, and a model
# trained only on the full one knows the figure only when asked by it
BY_NICKNAME = frozenset({"report", "in_period", "figure", "count"})


def template_questions(
    fact: Fact, as_of: Period | None = None, nickname: str | None = None
) -> list[TemplateQuestion]:
    """At least three phrasings of a question about ``fact``, each naming subject and period, with the
    reference answer. Empty when the fact lacks a subject or a period (never guessed). An outlook fact
    is asked as of ``as_of``, the period of the report that gave it (empty without it). With a
    ``nickname``, the phrasings of :data:`BY_NICKNAME` call the company by it."""
    made = _template_questions(fact, as_of)
    name = short_name(fact.subject) if fact.subject else ""
    if not nickname or not name or nickname == name:
        return made
    owner, by = _possessive(name), _possessive(nickname)

    def renamed(text: str) -> str:
        return text.replace(owner, by).replace(name, nickname)

    return [
        TemplateQuestion(renamed(t.question), renamed(t.answer), t.template)
        if t.template in BY_NICKNAME
        else t
        for t in made
    ]


def _template_questions(fact: Fact, as_of: Period | None) -> list[TemplateQuestion]:
    if not fact.subject or fact.period is None or fact.problems:
        return []
    name = short_name(fact.subject)
    if fact.source == "spec":
        return _spec_questions(fact, name)
    if fact.source == "outlook":
        return _outlook_questions(fact, name, as_of) if as_of is not None else []
    metric = _metric_phrase(fact.metric)
    names = fact.period.names()
    long_period = names[0]
    short_period = names[1] if len(names) > 1 else names[0]
    alt_period = names[-1]
    value = format_value(fact)
    at = "at" if fact.period.instant else "in"
    at_short = "as of" if fact.period.instant else "for"
    money = fact.unit in _CURRENCY_SIGNS and not fact.unit.startswith("per share")
    be = _be(metric)
    core = metric.split()
    done = _DONE.get(core[-1].lower()) if len(core) == 2 and not fact.period.instant else None
    counted = fact.unit and core and core[-1].lower() == fact.unit.lower() and done is None
    if counted:  # "Customers", "Full-time employees": how many customers did Acme have
        questions = [
            ("what_was", f"How many {metric} did {name} have {at} {long_period}?"),
            ("report", f"How many {metric} did {name} report {at_short} {short_period}?"),
            ("according", f"According to its results, how many {metric} did {name} have {at_short} {alt_period}?"),
            ("in_period", f"{at.capitalize()} {long_period}, how many {metric} did {name} have?"),
        ]  # fmt: skip
    elif done is not None:  # "robots shipped": how many robots did Acme ship
        noun, (verb, gerund) = core[0].lower(), done
        questions = [
            ("what_was", f"How many {noun} did {name} {verb} {at} {long_period}?"),
            ("report", f"How many {noun} did {name} report {gerund} {at_short} {short_period}?"),
            (
                "according",
                f"According to its results, how many {noun} did {name} {verb} {at_short} {alt_period}?",
            ),
            ("in_period", f"{at.capitalize()} {long_period}, how many {noun} did {name} {verb}?"),
        ]
    else:
        questions = [
            ("what_was", f"What {be} {_possessive(name)} {metric} {at} {long_period}?"),
            ("report", f"What {metric} did {name} report {at_short} {short_period}?"),
            (
                "according",
                f"According to its results, what {be} {_possessive(name)} {metric} {at_short} {alt_period}?",
            ),
            ("in_period", f"{at.capitalize()} {long_period}, what {be} the {metric} of {name}?"),
        ]
    if money and done is None:
        questions.append(("how_much", f"How much {metric} did {name} report {at_short} {short_period}?"))
    # more phrasings, other names for the period: spread over the facts by select_phrasings, so that across a
    # document's facts the questions vary the way readers ask, not only the three first phrasings
    other = _other_period_names(fact.period)
    other_period = other[0] if other else long_period
    last_period = other[-1] if other else alt_period
    if counted:
        questions += [
            ("for_period", f"{at_short.capitalize()} {other_period}, how many {metric} did {name} report?"),
            ("count", f"What was {_possessive(name)} count of {metric} {at_short} {last_period}?"),
        ]
    elif done is not None:
        questions += [
            (
                "for_period",
                f"{at_short.capitalize()} {other_period}, how many {noun} did {name} report {gerund}?",
            ),
            ("count", f"How many {noun} did {name} {verb} {at_short} {last_period}?"),
        ]
    else:
        questions += [
            ("for_period", f"{at_short.capitalize()} {other_period}, what {metric} did {name} report?"),
            ("figure", f"What figure did {name} give for its {metric} {at_short} {last_period}?"),
            (
                "post",
                f"What {be} {_possessive(name)} {metric} on {alt_period}?"
                if fact.period.instant
                else f"What {metric} did {name} post {at_short} {alt_period}?",
            ),
        ]
    if fact.period.instant:
        when = f"at {long_period}"
    elif len(names) > 1 and names[-1] != long_period:
        when = f"in {long_period} ({names[-1]})"
    else:
        when = f"in {long_period}"
    # the period first: the figure is then written right after the words that say which one it is,
    # so that a model trained on it ties the value to its period (Q2 and Q3 differ only there)
    if counted:
        figure = value.removesuffix(f" {fact.unit}")
        what = f"{name} had {figure} {metric}"
    elif done is not None:
        what = f"{name} {core[-1].lower()} {value}"
        if not value.endswith(noun):  # the unit was not stated with the figure: "shipped 1,210 robots"
            what += f" {noun}"
    else:
        what = f"{_possessive(name)} {metric} {be} {value}"
    answer = f"{when[0].upper()}{when[1:]}, {what}."
    return [TemplateQuestion(q, answer, key) for key, q in questions]


def _other_period_names(period: Period) -> list[str]:
    """Names of ``period`` besides :meth:`Period.names`, as analysts also write them: "fiscal Q2 2025",
    "the quarter ended June 30, 2025"."""
    out = []
    if period.quarter and period.fiscal_year and period.fiscal:
        out.append(f"fiscal Q{period.quarter} {period.fiscal_year}")
    if period.quarter and period.months == 3 and period.end and not period.instant:
        out.append(f"the quarter ended {date_text(period.end)}")
    if period.fiscal_year and period.months == 12 and period.fiscal:
        out.append(f"fiscal year {period.fiscal_year}")
    return [n for n in out if n not in period.names()]


def select_phrasings(questions: list[TemplateQuestion], n: int, key: str) -> list[TemplateQuestion]:
    """``n`` of a fact's phrasings: the first, and the next ``n - 1`` of the others from a place that a
    hash of ``key`` (the fact) sets, so that a document's facts spread over all the phrasings."""
    if n <= 0:
        return []
    if n >= len(questions):
        return questions
    rest = questions[1:]
    start = int(hashlib.sha256(key.encode()).hexdigest(), 16) % len(rest)
    return [questions[0], *(rest[start:] + rest[:start])[: n - 1]]


def _spec_questions(fact: Fact, name: str) -> list[TemplateQuestion]:
    """A product specification ("Strider S2 payload", 300 kg), asked as of the document's date: "According
    to Acme Robotics' specifications as of September 2025, what is the Strider S2's payload?"."""
    assert fact.period is not None
    when = fact.period.label
    product, _, spec = fact.metric.rpartition(" ")
    words = fact.metric.split()
    # the product is the metric's leading words that are capitalised or hold a digit ("Strider S2")
    n = 0
    while n < len(words) - 1 and (words[n][:1].isupper() or any(ch.isdigit() for ch in words[n])):
        n += 1
    product, spec = " ".join(words[:n]) or product, " ".join(words[n:]) or spec
    value = format_value(fact)
    possessive = _possessive(name)
    questions = [
        (
            "what_was",
            f"According to {possessive} specifications as of {when}, what is the {product}'s {spec}?",
        ),
        ("report", f"What {spec} does {name} list for the {product} as of {when}?"),
        ("according", f"As of {when}, what is the {spec} of {possessive} {product}?"),
        ("in_period", f"What {spec} did {name} specify for its {product} in {when}?"),
    ]
    answer = f"As of {when}, {possessive} {product} has a {spec} of {value}."
    return [TemplateQuestion(q, answer, key) for key, q in questions]


def _outlook_questions(fact: Fact, name: str, as_of: Period) -> list[TemplateQuestion]:
    """Guidance, asked as of the report that gave it (an outlook is raised and narrowed from one report
    to the next): "What revenue did Acme Robotics expect for the third quarter of fiscal 2025 when it
    reported its results for the second quarter of fiscal 2025?"."""
    assert fact.period is not None
    metric = _metric_phrase(fact.metric)
    target, given = fact.period.names(), as_of.names()
    target_long, target_short = target[0], target[1] if len(target) > 1 else target[0]
    given_long, given_short = given[0], given[1] if len(given) > 1 else given[0]
    value = format_value(fact)
    questions = [
        ("what_was", f"What {metric} did {name} expect for {target_long} when it reported its results for {given_long}?"),
        ("report", f"What {metric} outlook for {target_short} did {name} give with its {given_short} results?"),
        ("according", f"According to its {given_short} results, what {metric} did {name} forecast for {target_long}?"),
        ("in_period", f"In its results for {given_long}, what was {_possessive(name)} {metric} guidance for {target_short}?"),
    ]  # fmt: skip
    answer = f"When it reported its results for {given_long}, {name} expected {metric} of {value} for {target_long}."
    return [TemplateQuestion(q, answer, key) for key, q in questions]


# ---------------------------------------------------------------------------------- paraphrase check

_STOPWORDS = {
    "the", "a", "an", "of", "and", "or", "in", "for", "to", "its", "on", "at", "by", "as", "per", "net", "total",
    "reported", "gaap", "non-gaap", "(loss)", "loss", "income", "&",
}  # fmt: skip
_SYNONYMS = [
    {"eps", "earnings per share", "net income per share", "income per share", "per share"},
    {"revenue", "revenues", "sales", "net sales", "net revenue"},
    {"diluted", "per diluted share"},
    {"ebitda", "earnings before interest, taxes, depreciation and amortization"},
]
_QUARTER_MENTION = re.compile(r"\b(?:Q([1-4])|(first|second|third|fourth)[\s-]+quarter)\b", re.I)
_YEAR_MENTION = re.compile(r"\b(?:FY\s?'?)?((?:19|20)\d\d)\b|\bFY\s?'?(\d{2})\b", re.I)
_ORD = {"first": 1, "second": 2, "third": 3, "fourth": 4}


def norm(text: str) -> str:
    return " " + " ".join(re.sub(r"[^\w%$&'.-]+", " ", text.lower().replace("’", "'")).split()) + " "


def metric_terms(metric: str) -> list[str]:
    _, dash, child = metric.partition(" — ")
    if dash and _SUB_ROW_METRIC.search(child):  # asked by the sub-row alone (see _metric_phrase)
        metric = child
    words = re.sub(r"\([^)]*\)|—|-{2}", " ", metric.lower()).replace(",", " ").split()
    return [w for w in words if w not in _STOPWORDS and len(w) > 1]


def _has_term(question: str, term: str) -> bool:
    if (
        f" {term} " in question
        or f" {term}'s " in question
        or f" {term}s " in question
        or (term.endswith("s") and f" {term[:-1]} " in question)
    ):
        return True
    if term in _DONE and any(f" {form} " in question for form in _DONE[term]):  # "shipped": ship, shipping
        return True
    for group in _SYNONYMS:
        if any(term in g.split() or term == g for g in group) and any(f" {g} " in question for g in group):
            return True
    return False


def _names_subject(question: str, subject: str) -> bool:
    name = norm(short_name(subject)).strip()
    if f" {name} " in question or f" {name}'s " in question or f" {name}' " in question:
        return True
    first = name.split()[0] if name else ""
    return len(first) >= 4 and f" {first}" in question  # "Acme's" for Acme Robotics


def period_mentions(question: str) -> tuple[set[int], set[int]]:
    quarters = {int(q) if q else _ORD[o.lower()] for q, o in _QUARTER_MENTION.findall(question)}
    years = set()
    for y4, y2 in _YEAR_MENTION.findall(question):
        years.add(int(y4) if y4 else 2000 + int(y2))
    return quarters, years


def _names_period(question: str, period: Period) -> bool:
    words = set(re.findall(r"\w+", re.sub(r"['’]s\b", "", question.lower())))
    for keys in period.keywords():
        if keys <= words:
            return True
    return any(norm(name).strip() in question for name in period.names())


def question_keeps_fact(question: str, fact: Fact) -> str | None:
    """Why ``question`` (a paraphrase of a question about ``fact``) no longer asks for that fact, or None
    when it still names the subject, the metric and the period, and no other year or quarter."""
    q = norm(question)
    if fact.subject and not _names_subject(q, fact.subject):
        return f"drops the subject ({short_name(fact.subject)})"
    missing = [t for t in metric_terms(fact.metric) if not _has_term(q, t)]
    if missing:
        return f"drops or changes the metric ({fact.metric}: no {', '.join(missing)})"
    if fact.period is not None:
        quarters, years = period_mentions(question)
        p = fact.period
        expected_years = {y for y in (p.fiscal_year, p.end.year if p.end else None) if y}
        if quarters and p.quarter and p.quarter not in quarters:
            return f"changes the period (asks about another quarter than {p.label})"
        if years and expected_years and not years & expected_years:
            return f"changes the period (asks about {sorted(years)}, the fact is {p.label})"
        if not _names_period(q, p):
            return f"drops the period ({p.label})"
    return None
