"""Whom, when and what a document is about, read from its title, first page and file name: the subject
("Acme Robotics, Inc."), the reporting period (Q3 FY2025) and the form (earnings release, 10-K, call
transcript). Ingest puts it in every chunk's contextual header, search matches it against the query,
and the facts stage names it in questions.

Pure functions: no store, no model.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthtune.text.periods import (
    DATE,
    MONTH_NAMES,
    Period,
    date_text,
    parse_date,
    parse_period,
    period_from_json,
    period_json,
)

if TYPE_CHECKING:
    from synthtune.config import DocumentOverride


@dataclass(frozen=True)
class DocIdentity:
    """Whom and which period a document is about; None where it could not be found (see reasons)."""

    subject: str | None  # "Acme Robotics, Inc."
    period: Period | None  # Q3 FY2025, ended September 30, 2025
    form: str | None  # "earnings release", "earnings call transcript", "10-K", ...
    ticker: str | None = None  # "ACMR"
    reasons: tuple[str, ...] = ()  # how each part was found, or why it was not

    @property
    def name(self) -> str | None:
        """The subject as a sentence names it: "Acme Robotics" (legal suffix dropped)."""
        return short_name(self.subject) if self.subject else None


_LEGAL_SUFFIX = (
    r"(?:(?i:Inc\.?|Incorporated|Corporation|Corp\.?|Company|Co\.(?:,?\s+Inc\.)?|Ltd\.?|Limited)|plc|PLC|N\.V\."
    r"|S\.A\.|AG|SE|LLC|L\.P\.|Holdings,?\s+Inc\.)"
)


def short_name(subject: str) -> str:
    """ "Acme Robotics, Inc." -> "Acme Robotics"; "Best Buy Co., Inc." -> "Best Buy"; "The Boeing Company"
    -> "Boeing"; "JPMorgan Chase & Co." -> "JPMorgan Chase"."""
    name = re.sub(rf",?\s+{_LEGAL_SUFFIX}\s*$", "", subject.strip())
    name = re.sub(rf",?\s+{_LEGAL_SUFFIX}\s*$", "", name)
    name = re.sub(r"\s+(?:&|and)$", "", name)
    if name.isupper() and len(name) > 4:
        name = name.title()
    if re.match(r"The\s+\S", name) and name != subject.strip():  # "The Boeing": a sentence says "Boeing"
        name = name[4:].lstrip()
    return name or subject


# first words of names too common to stand for the company alone ("Best" of Best Buy)
COMMON_FIRST = frozenset({
    "best", "general", "american", "united", "first", "national", "international", "new", "global", "royal",
    "digital", "total", "great", "one", "home", "pacific", "southern", "northern", "western", "eastern",
    "central", "public", "old", "advanced", "applied", "foot", "bank",
})  # fmt: skip


def first_word(subject: str) -> str | None:
    """The first word of a company's short name, where it could stand for the company alone: "Acme" of
    Acme Robotics, "Costco" of Costco Wholesale. None for a one-word name, a first word too common or
    short ("Best" of Best Buy), or the first of a pair ("Johnson" of Johnson & Johnson)."""
    words = short_name(subject).split()
    first = words[0].rstrip(".,") if words else ""
    if len(words) < 2 or words[1] in ("&", "and") or len(first) < 4:
        return None
    return first if first[0].isupper() and first.lower() not in COMMON_FIRST else None


def nickname(subject: str, texts: Iterable[str]) -> str | None:
    """The shorter name a company's documents also call it by, when they do: "Acme" for Acme Robotics
    when, outside its full name, they write "Acme" inside a sentence at least twice ("Acme's backlog",
    "at Acme"), not as the start of another name ("Acme Automation"). None where :func:`first_word` is
    None, or for a first word the documents never use alone."""
    short = short_name(subject)
    first = first_word(subject)
    if first is None:
        return None
    full = re.compile("|".join(re.escape(n) for n in sorted({subject, short}, key=len, reverse=True)))
    # alone: not the start of another name ("Acme Automation" is not Acme Robotics' "Acme")
    alone = re.compile(rf"(?<![\w&.-]){re.escape(first)}(?![\w&-]|\s+[A-Z&])")
    said = 0
    for text in texts:
        text = full.sub(" ", text)
        for m in alone.finditer(text):
            if not _SENTENCE_START.search(text[max(0, m.start() - 4) : m.start()]):
                said += 1
                if said >= 2:
                    return first
    return None


# --------------------------------------------------------------------------------- document identity

_COMPANY = re.compile(
    rf"\b(?P<name>(?:[A-Z][\w&'’.-]*|[a-z][A-Z][\w&'’.-]*|\d[A-Z][\w&'’.-]*|&)(?:[ \t]+(?:[A-Z][\w&'’.-]*|&|of|and)){{0,5}}),?[ \t]+(?P<suffix>{_LEGAL_SUFFIX})(?![\w])"
)
_REPORTS = re.compile(
    r"^(?P<name>(?:[A-Z]|[a-z][A-Z])[\w&'’.-]*(?:\s+(?:[A-Z][\w&'’.-]*|&)){0,4})\s+"
    r"(?:Reports|Announces|Posts|Delivers|Releases)\b"
)
_LISTED = re.compile(
    r"(?P<name>(?:[A-Z]|[a-z][A-Z])[\w&'’.-]*(?:\s+(?:[A-Z][\w&'’.-]*|&)){0,4})\s+\((?:NYSE|Nasdaq|NASDAQ)\s*:"
)
_NOT_IN_NAMES = {
    "per",
    "share",
    "diluted",
    "quarter",
    "results",
    "fiscal",
    "net",
    "sales",
    "earnings",
    "eps",
    "the",
}
_TICKER = re.compile(
    r"\((?:NYSE|Nasdaq|NASDAQ|NYSE American|Nasdaq GS|NASDAQ GS)\s*:\s*(?P<t>[A-Z][A-Z.]{0,5})\)"
)
# a 10-K or 10-Q cover's table of securities: "Title of each class  Trading Symbol(s)  Name of each exchange
# ... Common Stock, $0.01 par value  AMD  The NASDAQ Global Select Market" (the first class listed)
_COVER_TICKER = re.compile(
    r"Trading\s+Symbol.{0,600}?(?:Common\s+Stock|Common\s+Shares|Ordinary\s+Shares)[^\n]{0,100}?\s"
    r"(?P<t>[A-Z]{1,5}(?:\.[A-Z])?)\s+(?:The\s+)?(?:New\s+York\s+Stock\s+Exchange|NYSE|Nasdaq|NASDAQ)",
    re.DOTALL,
)
_NOT_NAMES = {  # leading words that are not part of a name ("About Acme Robotics, Inc.")
    "About",
    "Welcome",
    "Exhibit",
    "News",
    "Release",
    "Press",
    "For",
    "Immediate",
    "The",
    "Form",
    "Page",
    "Nasdaq",
    "NYSE",
    "Total",  # "Total company EBITDA"
    "Our",
    "This",
    "Consolidated",
}
# "PKG_q3_2021.txt", "ACME-Q2-2025.pdf": a ticker at the start of a file name, before its quarter
_FILE_TICKER = re.compile(r"^(?P<t>[A-Z]{1,5})[_-][Qq][1-4][_-]?(?:FY)?20\d\d")
_FILE_PERIOD = re.compile(
    r"(?P<y>20\d\d)[\s_-]?Q(?P<q>[1-4])|Q(?P<q2>[1-4])[\s_-]?(?:FY)?(?P<y2>20\d\d)", re.I
)
_YEAR_ENDED = re.compile(rf"\b(?:fiscal\s+)?year\s+ended\s+(?:on\s+)?{DATE}", re.I)
_FILE_YEAR = re.compile(r"(?<![\dQq])(?P<y>20\d\d)[\s_-]*(?:10-?K|annual|AR)(?![A-Za-z])", re.I)
_QUARTER_ENDED = re.compile(
    rf"\b(?:quarter|period|months|weeks)\b[^.]{{0,40}}?\b(?:ended|ending)\s+(?:on\s+)?{DATE}", re.I
)
_DOC_QUARTER = re.compile(
    r"\b(?P<ord>first|second|third|fourth)[\s-]+quarter\s+(?:(?:of\s+)?(?P<fiscal>fiscal\s+)(?:year\s+)?)?(?P<y>\d{4})"
    r"|\b(?P<fiscal2>fiscal\s+)(?:year\s+)?(?P<y2>\d{4})\s+(?P<ord2>first|second|third|fourth)[\s-]+quarter"
    r"|\b(?:fiscal\s+)(?P<ord3>first|second|third|fourth)[\s-]+quarter(?:\s+(?:of\s+)?(?P<y3>\d{4}))?"
    r"|\bQ(?P<q>[1-4])\s*(?P<fy>FY|F)?\s*'?(?P<y4>\d{4}|\d{2})\b"
    r"|\b(?P<ord5>first|second|third|fourth)[\s-]+quarter\s+and\s+(?:full|fiscal)[\s-]+year\s+(?P<y5>\d{4})",
    re.IGNORECASE,
)
_ORD = {"first": 1, "second": 2, "third": 3, "fourth": 4}


def _quarter_named(m: re.Match[str]) -> tuple[int, int | None]:
    """The quarter and year (None when not written) that a :data:`_DOC_QUARTER` match names."""
    ordinal = m.group("ord") or m.group("ord2") or m.group("ord3") or m.group("ord5")
    y = m.group("y") or m.group("y2") or m.group("y3") or m.group("y4") or m.group("y5")
    return _ORD[ordinal.lower()] if ordinal else int(m.group("q")), _year(y) if y else None


def document_identity(
    title: str, first_page_text: str, file_name: str = "", later_text: str = ""
) -> DocIdentity:
    """Subject, period and form of a document, each with the reason it was (or was not) found.
    ``later_text``, the text of the pages after the first, names the fiscal year or quarter of a filing
    whose cover gives only the date it ended (:func:`_fiscal_year_named`, :func:`_fiscal_quarter_named`)."""
    reasons: list[str] = []
    head = first_page_text[:3000]
    subject = _subject(title, head, reasons, file_name)
    ticker_match = _TICKER.search(head) or _COVER_TICKER.search(head) or _FILE_TICKER.match(file_name)
    ticker = ticker_match.group("t") if ticker_match else None
    file_ticker = _FILE_TICKER.match(file_name)
    if (
        subject
        and file_ticker
        and reasons[-1] == "subject: legal name in the first page"
        and not _spells(subject, file_ticker.group("t"))
    ):
        # a transcript that names another company in passing ("agreed to sell Allstate Life Insurance
        # Company", "Chairman and CEO of Aflac Incorporated"): not the one its file is named by
        reasons[-1] = f"subject: {subject!r} on the first page does not spell the file's ticker; not taken"
        subject = None
    if subject is None and ticker is not None:
        subject = _name_of_ticker(first_page_text[:30000], ticker)
        if subject is not None:
            reasons.append(f"subject: {subject!r}, the name the text repeats that spells the ticker {ticker}")
        elif _FILE_TICKER.match(file_name):
            # a transcript that never names its company in full: the ticker its file is named by is
            # how an analyst would name it ("AAP's adjusted diluted EPS in Q4 2020")
            subject = ticker
            reasons.append(f"subject: the ticker {ticker} from the file name (no company name in the text)")
    period = _document_period(title, head, file_name, reasons, f"{first_page_text}\n{later_text}")
    form = _form(title, head, file_name)
    if form is None:
        reasons.append(
            "form: not recognised (no 'results', 'earnings release', 'call', '10-K' in title or first page)"
        )
    return DocIdentity(subject, period, form, ticker, tuple(reasons))


# a capitalised word ("Hormel", "TransDigm", "Curtiss-Wright"), and runs of them joined by spaces or "&"
_NAME_WORD = r"[A-Z][a-z]+[A-Za-z]*(?:-[A-Z][a-z]+[A-Za-z]*)?"
_NAME_RUN = re.compile(rf"\b{_NAME_WORD}(?:[ \t]+(?:&[ \t]+)?{_NAME_WORD})*\b")
# where a sentence starts: there every word is capitalised, name or not ("During", "However", "That")
_SENTENCE_START = re.compile(r"(?:^|[.!?:][\"'”’)]*\s+|[\"“(]|\n\s*|\n\s*[-•*]\s+)$")
# a word written in lower case, outside web and e-mail addresses ("investor.agilent.com")
_LOWER_WORD = re.compile(r"(?<![\w.@/-])[a-z][a-z-]*(?![\w@/-]|\.\w)")
# capitalised inside a sentence, and not a company
_NOT_COMPANY = frozenset([*MONTH_NAMES, "Monday", "Tuesday", "Wednesday", "Thursday", "Friday"])


def _spells(name: str, ticker: str) -> bool:
    """Whether ``name`` starts with the ticker's first letter and holds its letters in order ("Aflac"
    for AFL, "GameStop" for GME)."""
    letters, low, i = ticker.lower().replace(".", ""), name.lower(), 0
    if not letters or not low.startswith(letters[0]):
        return False
    for ch in low:
        if i < len(letters) and ch == letters[i]:
            i += 1
    return i == len(letters)


def _name_of_ticker(text: str, ticker: str) -> str | None:
    """A company's name in a text that never writes its legal name (a call transcript): the capitalised
    name of one to three words ("Hormel", "Old Republic", "Church & Dwight"), said at least twice inside a
    sentence, that starts with the ticker's first letter and holds its letters in order, and that the
    text never writes in lower case (a word capitalised in a sentence is a name; "First", "That" and
    "However" at a sentence's start are not). None when none is, when two names of different stems are
    said as often, or when another name of the same stem is said at least half as often (two
    subsidiaries of one parent)."""
    counts: dict[str, int] = {}
    for m in _NAME_RUN.finditer(text):
        words = m.group(0).split()
        if _SENTENCE_START.search(text[max(0, m.start() - 4) : m.start()]):
            words = words[1:]
        for i, first in enumerate(words):
            if first == "&" or first in _NOT_NAMES or first in _NOT_COMPANY:
                continue
            for j in range(i + 1, min(i + 4, len(words) + 1)):
                if words[j - 1] != "&":
                    name = " ".join(words[i:j])
                    counts[name] = counts.get(name, 0) + 1
    lower = set(_LOWER_WORD.findall(text))
    spelled = sorted(
        ((n, c) for n, c in counts.items() if c >= 2 and _spells(n, ticker) and n.lower() not in lower),
        key=lambda nc: (-nc[1], len(nc[0])),
    )
    if not spelled:
        return None
    top, said = spelled[0]
    others = [(n, c) for n, c in spelled[1:] if not n.startswith(top) and not top.startswith(n)]
    if any(c == said for _, c in others):
        return None  # two names said as often: which is the company's is not told
    siblings = [c for n, c in others if n[:4] == top[:4]]
    if siblings and 2 * max(siblings) >= said:
        return None  # two names of one stem ("CooperSurgical", "CooperVision"): the parent is neither
    return top


_TITLE_OF = re.compile(
    r"^(?:(?:Chairman|Chairwoman|Chair|Chief|Executive|Financial|Operating|Officer|President|CEO|CFO|COO|Vice"
    r"|Senior|Director|Head|Founder|Co-Founder|and|&)[ \t]+)+of[ \t]+"
)


def _subject(title: str, head: str, reasons: list[str], file_name: str) -> str | None:
    for where, text in (("title", title), ("first page", head)):
        for m in _COMPANY.finditer(text):
            words = m.group("name").split()
            while words and words[0].title() in _NOT_NAMES:
                words = words[1:]
            if any(w.lower() in _NOT_IN_NAMES for w in words):
                continue
            if words:
                # "Chairman and CEO of Aflac Incorporated": a title before the name is not part of it
                name = _TITLE_OF.sub("", " ".join(words))
                suffix = m.group("suffix")
                joiner = (
                    ", " if "," in m.group(0)[len(m.group("name")) : m.start("suffix") - m.start()] else " "
                )
                reasons.append(f"subject: legal name in the {where}")
                return f"{name}{joiner}{suffix}"
    listed = _LISTED.search(head)
    if listed and listed.group("name").split()[0].title() not in _NOT_NAMES:
        reasons.append("subject: the name before its stock ticker on the first page")
        return listed.group("name")
    lines = [title.strip()] + [line.strip(" \uf0b7•-") for line in head.split("\n")[:30]]
    for where, line in zip(["title"] + ["first page"] * 30, lines, strict=False):
        m = _REPORTS.match(line)
        if m and m.group("name").split()[0] not in _NOT_NAMES and not _DOC_QUARTER.search(m.group("name")):
            reasons.append(f"subject: the name before 'Reports/Announces' in the {where}")
            return m.group("name")
    reasons.append(f"subject: not found in the title, first page or file name {file_name!r}")
    return None


def _document_period(title: str, head: str, file_name: str, reasons: list[str], whole: str) -> Period | None:
    """The period of the document from its title, first page (``head``) or file name; ``whole``, all its
    text, names the fiscal year or quarter of a filing whose cover gives only the date it ended."""
    text = f"{title}\n{head}"
    fiscal_doc = bool(re.search(r"\bfiscal\b|\bFY\s?'?\d{2}", text, re.IGNORECASE))
    ended = _QUARTER_ENDED.search(text)
    end = parse_date(ended.group(0)) if ended else None
    named = _FILE_PERIOD.search(file_name)
    stem = Path(file_name).stem
    if named and (title.strip() == stem or not _DOC_QUARTER.search(title)):
        # "GME_q2_2021.txt": a file named by its quarter, whose title does not say otherwise. The text of
        # a call or a release names earlier quarters too ("up from the second quarter of 2020"), so the
        # name wins over the first quarter the text happens to mention.
        q, y = int(named.group("q") or named.group("q2")), int(named.group("y") or named.group("y2"))
        reasons.append(f"period: Q{q} {y} from the file name {file_name!r}")
        if end is not None and end.year not in (y - 1, y, y + 1):
            end = None
        return Period(f"Q{q} {y}", 3, end, y, q, fiscal_doc)
    quarter = year = None
    written = ""
    for m in _DOC_QUARTER.finditer(text):
        q, y = _quarter_named(m)
        if y is None:
            if quarter is None:
                quarter, written = q, m.group(0)
            continue
        quarter, year, written = q, y, m.group(0)
        break
    if quarter and year is None:
        fy = re.search(r"\bFY\s?'?(\d{2}|\d{4})\b", text)
        if fy:
            year = int(fy.group(1)) + (2000 if len(fy.group(1)) == 2 else 0)
        elif end is not None and not fiscal_doc:
            year = end.year
    if quarter and year:
        reasons.append(
            f"period: {written.strip()!r} in the title or first page" + (" with its end date" if end else "")
        )
        return Period(" ".join(written.split()), 3, end, year, quarter, fiscal_doc)
    annual = _YEAR_ENDED.search(text)  # a 10-K: "For the fiscal year ended December 31, 2018"
    annual_end = parse_date(annual.group(0)) if annual else None
    if annual and annual_end is not None:
        written = " ".join(annual.group(0).split())
        reasons.append(f"period: {written!r} on the first page")
        year = Period(written, 12, annual_end, annual_end.year, None, fiscal_doc)
        named = _fiscal_year_named(annual_end, whole)
        if named is not None and named[0] != year.fiscal_year:
            why = f"as the text names the year ended {date_text(annual_end)} ({named[1]})"
            reasons.append(f"period: fiscal {named[0]}, {why}")
            return replace(year, fiscal_year=named[0], fiscal=True)
        return year
    if ended and end is not None and re.search(r"\bquarterly\s+(?:period|report)\b", text, re.I):
        # a 10-Q: "For the quarterly period ended March 31, 2023"; its quarter is the calendar one only
        # when the company's year is the calendar year, else the one its text names
        written = " ".join(ended.group(0).split())
        reasons.append(f"period: {written!r} on the first page")
        named_q = _fiscal_quarter_named(end, whole)
        if named_q is not None:
            (q, y), why = named_q
            reasons.append(f"period: Q{q} of fiscal {y}, as the text names the quarter ({why})")
            return Period(written, 3, end, y, q, True)
        q = None if fiscal_doc else (end.month - 1) // 3 + 1
        return Period(written, 3, end, end.year, q, fiscal_doc)
    by_year = _FILE_YEAR.search(file_name)
    if by_year:  # "3M_2018_10K.pdf"
        y = int(by_year.group("y"))
        reasons.append(f"period: fiscal year {y} from the file name {file_name!r}")
        return Period(f"FY{y}", 12, None, y, None, True)
    f = _FILE_PERIOD.search(file_name)
    if f:
        q, y = int(f.group("q") or f.group("q2")), int(f.group("y") or f.group("y2"))
        reasons.append(f"period: Q{q} {y} from the file name {file_name!r} (not stated in the text read)")
        return Period(f"Q{q} {y}", 3, end, y, q, fiscal_doc)
    reasons.append("period: no quarter or fiscal year in the title, first page or file name")
    return None


# another filing the text refers to ("risks described in our annual report on Form 10-K", "the Company's
# Annual Report on Form 10-K and Quarterly Reports on Form 10-Q", "our most recent Form 10-K"): not the
# document's own form. A filing's cover says "FORM 10-K" and "ANNUAL REPORT PURSUANT TO SECTION 13".
_FILING_MENTIONED = re.compile(
    r"(?:\b(?:our|its|their|[a-z&.]+'s)\s+(?:[\w,-]+\s+){0,4}?(?:annual|quarterly|current)\s+reports?"
    r"(?:,?\s+on\s+(?:forms?\s+)?(?:10-[kq]|8-k))?"
    r"|\b(?:our|its|their|[a-z&.]+'s)\s+(?:[\w,-]+\s+){0,4}?forms?\s+(?:10-[kq]|8-k)"
    r"|\b(?:annual|quarterly|current)\s+reports?,?\s+on\s+(?:forms?\s+)?(?:10-[kq]|8-k))"
    r"(?:[\s,-]+(?:and|or|as well as|on)?\s*(?:subsequent\s+|other\s+|our\s+)?"
    r"(?:(?:annual|quarterly|current)\s+reports?,?\s+on\s+)?(?:forms?\s+)?(?:10-[kq]|8-k))*"
)


def _form(title: str, head: str, file_name: str) -> str | None:
    text = _FILING_MENTIONED.sub(" ", f"{title}\n{head[:1500]}\n{file_name}".lower())
    call = re.search(
        r"earnings call|conference call|\btranscript\b|^operator\b|\b(?:on|join(?:ing)?(?: us)?(?: on)?)"
        r" (?:the|this|today'?s) call\b|\bthe call today\b",
        text,
        re.M,
    )
    if call and not re.search(r"reports?\b.{0,80}\bresults|press release|news release", text):
        return "earnings call transcript"
    if re.search(r"\bform 10-k\b|annual report", text):
        return "10-K"
    if re.search(r"\bform 10-q\b|quarterly report", text):
        return "10-Q"
    if re.search(r"\bform 8-k\b|\bcurrent report\b", text) and not re.search(
        r"reports?\b.{0,80}\bresults|announces?\b.{0,80}\bresults|earnings release|press release|news release",
        text,
    ):
        return "8-K"
    if re.search(
        r"reports?\b.{0,80}\bresults|announces?\b.{0,80}\bresults|earnings release|press release|news release|_earnings",
        text,
    ):
        return "earnings release"
    if "fact sheet" in text or "fact_sheet" in text:
        return "fact sheet"
    return None


# "Fiscal 2022 included 52 weeks and ended January 28, 2023", "fiscal year 2023, which ended on February 3,
# 2024", "the year ended January 29, 2023 ("fiscal 2022")"
_FISCAL_NAMED = (
    re.compile(
        rf"\bfiscal(?:\s+year)?\s+(?P<fy>\d{{4}})\b[^.;]{{0,100}}?\b(?:ended|ending)\s+(?:on\s+)?(?P<when>{DATE})",
        re.I,
    ),
    re.compile(
        rf"\b(?:ended|ending)\s+(?:on\s+)?(?P<when>{DATE})\s*[(,]\s*[\"“]?fiscal(?:\s+year)?\s+(?P<fy>\d{{4}})\b",
        re.I,
    ),
)
_FISCAL_YEAR_WORDS = re.compile(r"\bfiscal(?:\s+year)?\s+(?P<y>\d{4})\b|\bFY\s?(?P<y2>\d{4})\b", re.I)


def _fiscal_year_named(end: date, text: str) -> tuple[int, str] | None:
    """The name a document gives the fiscal year that ended on ``end``, and why: the year the ending date
    falls in (fiscal 2023 ended September 30, 2023) or, for many retailers, the one before (Home Depot's
    fiscal 2022 ended January 29, 2023). A sentence that ties a fiscal year to that date decides; else,
    for a year ending in January to March, the year before when the text names it more often than the
    year the date falls in. None when neither tells."""
    for m in (m for pattern in _FISCAL_NAMED for m in pattern.finditer(text)):
        y = int(m.group("fy"))
        when = parse_date(m.group("when"))
        if when is not None and abs((when - end).days) <= 7 and y in (end.year - 1, end.year):
            return y, f"{' '.join(m.group(0).split())!r}"
    if end.month > 3:
        return None
    counts = {end.year - 1: 0, end.year: 0}
    for m in _FISCAL_YEAR_WORDS.finditer(text):
        y = int(m.group("y") or m.group("y2"))
        if y in counts:
            counts[y] += 1
    before, same = counts[end.year - 1], counts[end.year]
    if before > same:
        return end.year - 1, f"'fiscal {end.year - 1}' {before} times, 'fiscal {end.year}' {same}"
    return None


def _fiscal_quarter_named(end: date, text: str) -> tuple[tuple[int, int], str] | None:
    """The fiscal quarter a quarterly filing that ended on ``end`` names itself by ("the first quarter of
    fiscal 2024" for Best Buy's quarter ended April 29, 2023): of the fiscal quarters its text names whose
    fiscal year ends, counted from ``end``, in that year or the next, the one named most often (at least
    twice, and more often than any other). None when its text names no fiscal quarter."""
    counts: dict[tuple[int, int], int] = {}
    for m in _DOC_QUARTER.finditer(text):
        q, y = _quarter_named(m)
        if y is None or not (m.group("fiscal") or m.group("fiscal2") or m.group("ord3") or m.group("fy")):
            continue
        year_end = end.year + (end.month + 3 * (4 - q) - 1) // 12  # the year the fiscal year ends in
        if y in (year_end - 1, year_end):
            counts[(q, y)] = counts.get((q, y), 0) + 1
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])
    if not ranked or ranked[0][1] < 2 or (len(ranked) > 1 and ranked[1][1] == ranked[0][1]):
        return None
    (q, y), n = ranked[0]
    return (q, y), f"Q{q} of fiscal {y} {n} times" + (f", the next {ranked[1][1]}" if len(ranked) > 1 else "")


# ------------------------------------------------------------------------------- overrides and header

IDENTITY_VERSION = "identity-3"  # bump when what document_identity finds or identity_line writes changes


def override_for(source_path: str, overrides: Mapping[str, DocumentOverride]) -> DocumentOverride | None:
    """The user's override whose glob matches the document's file name or path (the first that does)."""
    name = Path(source_path).name
    for pattern, override in overrides.items():
        if fnmatch.fnmatch(name, pattern) or fnmatch.fnmatch(source_path, pattern):
            return override
    return None


def identify(
    title: str, page_texts: Sequence[str], source_path: str, override: DocumentOverride | None
) -> DocIdentity:
    """The identity of a document with the text of ``page_texts`` (its pages that have text, in order), as
    derived, with the user's override applied (and said so in reasons)."""
    first, later = (page_texts[0], "\n".join(page_texts[1:])) if page_texts else ("", "")
    found = document_identity(title, first, Path(source_path).name, later)
    if override is None:
        return found
    reasons = list(found.reasons)
    subject, period = found.subject, found.period
    if override.subject:
        subject = override.subject
        reasons.append("subject: set in settings (documents)")
    if override.period:
        parsed = parse_period(override.period)
        if parsed is None:
            reasons.append(f"period: settings give '{override.period}', which does not read as a period")
        else:
            period = parsed
            reasons.append("period: set in settings (documents)")
    return replace(found, subject=subject, period=period, reasons=tuple(reasons))


_ORDINAL_WORD = {1: "first", 2: "second", 3: "third", 4: "fourth"}


def period_words(period: Period) -> str:
    """The ways a query may name the period: "Q3 FY2025, third quarter of fiscal 2025"."""
    if period.quarter and period.fiscal_year:
        fiscal = "fiscal " if period.fiscal else ""
        return f"{period.label}, {_ORDINAL_WORD[period.quarter]} quarter of {fiscal}{period.fiscal_year}"
    if period.months == 12 and period.fiscal_year:
        return f"{period.label}, {'fiscal' if period.fiscal else 'full'} year {period.fiscal_year}"
    return period.label


def identity_line(identity: DocIdentity) -> str:
    """What a chunk's contextual header says of its document: "Best Buy Co., Inc. (BBY) earnings release,
    Q4 FY2023, fourth quarter of fiscal 2023"; "" when nothing was found."""
    who = identity.subject or ""
    if identity.ticker:
        # a subject that is the ticker itself (a transcript that never names its company) reads "ticker PKG"
        who = f"{who} ({identity.ticker})" if who and who != identity.ticker else f"ticker {identity.ticker}"
    what = " ".join(x for x in (who, identity.form or "") if x)
    when = period_words(identity.period) if identity.period else ""
    return ", ".join(x for x in (what, when) if x)


def identity_json(identity: DocIdentity) -> dict[str, Any]:
    return {
        "subject": identity.subject,
        "ticker": identity.ticker,
        "form": identity.form,
        "period": period_json(identity.period),
    }


def identity_from_json(data: Mapping[str, Any] | None) -> DocIdentity | None:
    if not data:
        return None
    return DocIdentity(
        data.get("subject"), period_from_json(data.get("period")), data.get("form"), data.get("ticker")
    )


# ------------------------------------------------------------------------------- periods in a query


@dataclass(frozen=True)
class PeriodRef:
    """A period a query names: a fiscal quarter ("Q2 2023"), a year ("FY2018") or the end of a period
    ("the quarter ended April 29, 2023")."""

    text: str
    year: int | None = None
    quarter: int | None = None
    end: date | None = None

    @property
    def label(self) -> str:
        if self.end is not None:
            return f"ended {self.end.isoformat()}"
        return f"Q{self.quarter} {self.year}" if self.quarter else f"year {self.year}"

    def matches(self, period: Period | None) -> bool:
        """Whether a document's period is this one (a year matches each quarter of that fiscal year)."""
        if period is None:
            return False
        if self.end is not None:
            return period.end is not None and abs((period.end - self.end).days) <= 7
        if period.fiscal_year != self.year:
            return False
        return self.quarter is None or period.quarter == self.quarter


_YEAR_QUARTER = re.compile(
    r"\b(?P<ord>first|second|third|fourth)[\s-]+quarter\s+(?:of\s+)?(?:the\s+)?(?:(?:fiscal|calendar)\s+)?"
    r"(?:year\s+)?(?P<y3>\d{4})\b"
    r"|\bQ(?P<q2>[1-4])\s+(?:of\s+)?(?:fiscal|FY)\s*(?:year\s+)?'?(?P<y2>\d{4}|\d{2})\b"
    r"|\b(?:FY\s?'?)?(?P<y>20\d\d|\d\d)\s*[-/ ]?\s*Q(?P<q>[1-4])\b",
    re.I,
)
_YEAR_ONLY = re.compile(
    r"\b(?:FY|F|fiscal(?:\s+year)?|full[-\s]year|calendar(?:\s+year)?|year)\s*'?(?P<y>\d{4}|\d{2})\b"
    r"|\b(?P<y2>(?:19|20)\d\d)\b",
    re.I,
)


# a quarter named without its year ("first-quarter report", "in Q2"); paired with the year the query names
_BARE_QUARTER = re.compile(r"\b(?P<ord>first|second|third|fourth)[\s-]+quarter\b|\bQ(?P<q>[1-4])\b", re.I)


def _quarter_number(m: re.Match[str]) -> int:
    return _ORD[m.group("ord").lower()] if m.group("ord") else int(m.group("q"))


def _year(text: str) -> int:
    return int(text) + (2000 if len(text) == 2 else 0)


def query_periods(query: str) -> list[PeriodRef]:
    """The periods a query names, in order: "Q2 2023", "the second quarter of fiscal 2024", "FY2018",
    "full-year 2022", "2023 Q1", "the quarter ended April 29, 2023"."""
    found: list[tuple[int, PeriodRef]] = []
    taken: list[tuple[int, int]] = []

    def free(m: re.Match[str]) -> bool:
        return all(m.end() <= a or m.start() >= b for a, b in taken)

    for m in _QUARTER_ENDED.finditer(query):
        end = parse_date(m.group(0))
        if end is not None:
            found.append((m.start(), PeriodRef(m.group(0), end=end)))
            taken.append(m.span())
    for m in _YEAR_QUARTER.finditer(query):
        y = m.group("y") or m.group("y2") or m.group("y3")
        q = _ORD[m.group("ord").lower()] if m.group("ord") else int(m.group("q") or m.group("q2"))
        found.append((m.start(), PeriodRef(m.group(0), _year(y), q)))
        taken.append(m.span())
    for m in _DOC_QUARTER.finditer(query):
        if not free(m):
            continue
        quarter, y = _quarter_named(m)
        if y is not None:
            found.append((m.start(), PeriodRef(m.group(0), y, quarter)))
            taken.append(m.span())
        else:  # "fiscal second quarter": the year may stand elsewhere ("... of 2024")
            found.append((m.start(), PeriodRef(m.group(0), None, quarter)))
            taken.append(m.span())
    for m in _BARE_QUARTER.finditer(query):  # "after its first-quarter report": the year stands elsewhere
        if free(m):
            found.append((m.start(), PeriodRef(m.group(0), None, _quarter_number(m))))
            taken.append(m.span())
    years = [m for m in _YEAR_ONLY.finditer(query) if free(m)]
    open_quarters = [i for i, (_, r) in enumerate(found) if r.year is None and r.end is None]
    for m in years:
        ref = PeriodRef(m.group(0), _year(m.group("y") or m.group("y2")))
        if open_quarters:  # "fiscal second quarter ... 2024"
            i = open_quarters.pop(0)
            pos, q = found[i]
            found[i] = (pos, PeriodRef(f"{q.text} {m.group(0)}", ref.year, q.quarter))
        else:
            found.append((m.start(), ref))
    refs = [r for _, r in sorted(found, key=lambda x: x[0]) if r.year is not None or r.end is not None]
    return list(dict.fromkeys(refs))
