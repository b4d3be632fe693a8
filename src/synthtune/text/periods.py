"""Reporting periods: what "Three months ended Sep 30, 2025", "Q3 FY2025", "Fiscal 2024" and "the
year-ago quarter" mean, so that a fact's period can be named several ways and compared.

A :class:`Period` keeps the text it was read from and what could be read out of it: the length in
months (None for a balance at a date), the end date, the fiscal year and quarter. A column header is
tied to the document's fiscal calendar by its end date: in a release for Q3 FY2025 (ended September
30, 2025), "Three months ended Sep 30, 2024" is Q3 FY2024.

Pure functions: no store, no model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

_MONTHS = {
    m: i + 1
    for i, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ]
    )
    for m in names
}
MONTH_NAMES = [
    "January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
    "November", "December",
]  # fmt: skip
ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4}
_ORDINAL_WORDS = {1: "first", 2: "second", 3: "third", 4: "fourth"}
_COUNTS = {"three": 3, "six": 6, "nine": 9, "twelve": 12, "3": 3, "6": 6, "9": 9, "12": 12}
_WEEKS = {"12": 3, "13": 3, "24": 6, "26": 6, "36": 9, "39": 9, "52": 12, "53": 12}

DATE = (
    r"(?:(?P<month>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?\s+(?P<day>\d{1,2}),?\s+(?P<year>\d{4})"
    r"|(?P<m>\d{1,2})/(?P<d>\d{1,2})/(?P<y>\d{4}))"
)
_DATE = re.compile(DATE, re.IGNORECASE)
_ENDED = re.compile(
    r"\b(?P<n>three|six|nine|twelve|\d{1,2})[\s-]+(?P<unit>months?|weeks?)\s+(?:ended|ending)\b",
    re.IGNORECASE,
)
# "Year Ended September 30, 2019", "For the fiscal years ended December 31": a year up to the date
_YEARS_ENDED = re.compile(r"\byears?\s+(?:ended|ending)\b", re.IGNORECASE)
_QUARTER_LABEL = re.compile(
    r"\b(?:Q(?P<q>[1-4])\s*(?:FY|F)?\s*'?(?P<y>\d{4}|\d{2})\b|(?P<q2>[1-4])Q\s*(?:FY)?'?(?P<y2>\d{2,4})\b)"
)
_QUARTER_WORDS = re.compile(
    r"\b(?P<ord>first|second|third|fourth)[\s-]+quarter\b(?:\s+(?:of\s+)?(?P<fiscal>fiscal\s+)?(?:year\s+)?(?P<y>\d{4}))?"
    r"|\b(?P<fiscal2>fiscal\s+)(?:year\s+)?(?P<y2>\d{4})\s+(?P<ord2>first|second|third|fourth)[\s-]+quarter\b",
    re.IGNORECASE,
)
_FISCAL_YEAR = re.compile(
    r"\b(?:fiscal\s+(?:year\s+)?|FY\s?'?)(?P<y>\d{4}|\d{2})\b|\bfull[\s-]year\s+(?P<y2>\d{4})\b", re.I
)
_BARE_YEAR = re.compile(r"^\s*(?P<y>(?:19|20)\d\d)\s*$")


@dataclass(frozen=True)
class Period:
    """A reporting period, with the text it was read from."""

    text: str
    months: int | None = None  # 3 for a quarter, 12 for a year; None when unknown or a balance at a date
    end: date | None = None
    fiscal_year: int | None = None
    quarter: int | None = None  # 1-4 for a fiscal quarter
    fiscal: bool = False  # the document says "fiscal" (its year is not the calendar year)
    instant: bool = False  # a balance at a date ("September 30, 2025")
    weeks: int | None = None  # written in weeks ("12 Weeks Ended"): named so, months is its approximation

    @property
    def label(self) -> str:
        """The short label: "Q3 FY2025", "FY2024", "September 30, 2025", else the text."""
        if self.quarter and self.fiscal_year:
            return (
                f"Q{self.quarter} FY{self.fiscal_year}"
                if self.fiscal
                else f"Q{self.quarter} {self.fiscal_year}"
            )
        if self.fiscal_year and self.months == 12:
            return f"FY{self.fiscal_year}" if self.fiscal else str(self.fiscal_year)
        if self.instant and self.end:
            return date_text(self.end)
        return self.text

    def names(self) -> list[str]:
        """Ways a reader names this period, most specific first (each usable after "in"/"for")."""
        out: list[str] = []
        if self.quarter and self.fiscal_year:
            fiscal = "fiscal " if self.fiscal else ""
            out.append(f"the {_ORDINAL_WORDS[self.quarter]} quarter of {fiscal}{self.fiscal_year}")
            out.append(self.label)
        elif self.fiscal_year and self.months == 12:
            out.append(f"fiscal {self.fiscal_year}" if self.fiscal else f"the full year {self.fiscal_year}")
            out.append(self.label)
        if self.weeks and self.end:
            out.append(f"the {self.weeks} weeks ended {date_text(self.end)}")
        elif self.months and self.end and not self.instant:
            words = {3: "three", 6: "six", 9: "nine", 12: "twelve"}.get(self.months, str(self.months))
            out.append(f"the {words} months ended {date_text(self.end)}")
        if self.instant and self.end:
            out.append(f"{date_text(self.end)}")
        if not out:
            out.append(self.text)
        seen: list[str] = []
        for name in out:
            if name not in seen:
                seen.append(name)
        return seen

    def keywords(self) -> list[set[str]]:
        """Alternative token sets; a text names this period when it holds every token of one set."""
        sets = []
        if self.quarter and self.fiscal_year:
            year = str(self.fiscal_year)
            sets += [{f"q{self.quarter}", year}, {_ORDINAL_WORDS[self.quarter], "quarter", year}]
            sets += [{f"q{self.quarter}", f"fy{year}"}, {f"q{self.quarter}", f"fy{year[2:]}"}]
        if self.fiscal_year and self.months == 12:
            sets += [{str(self.fiscal_year)}]
        if self.end:
            sets += [{MONTH_NAMES[self.end.month - 1].lower(), str(self.end.day), str(self.end.year)}]
        return sets

    def prior_year(self) -> Period | None:
        """The same period a year earlier ("the year-ago quarter"). Its end date is known only when the
        period ends on a month's last day: a 52/53-week calendar's year-ago quarter ends on another day
        (Costco's 12 weeks ended May 7, 2023 against May 8, 2022), so it is named by quarter and year
        alone, and a date that cannot be derived is None."""
        if not (self.fiscal_year or self.end):
            return None
        end = _shift_year(self.end, -1) if self.end and _is_month_end(self.end) else None
        if self.end and end is None and (self.instant or not self.fiscal_year):
            return None
        fy = self.fiscal_year - 1 if self.fiscal_year else None
        made = replace(self, text="", end=end, fiscal_year=fy)
        if made.label:
            return replace(made, text=made.label)
        return replace(made, text=self.text.replace(str(self.fiscal_year), str(fy)) if fy else self.text)

    def prior_quarter(self) -> Period | None:
        """The quarter before ("the prior quarter", "sequentially")."""
        if not (self.quarter and self.fiscal_year):
            return None
        quarter, fy = (self.quarter - 1, self.fiscal_year) if self.quarter > 1 else (4, self.fiscal_year - 1)
        end = _quarter_before(self.end) if self.end and _is_month_end(self.end) else None  # as prior_year
        made = replace(self, text="", quarter=quarter, fiscal_year=fy, end=end)
        return replace(made, text=made.label)


def date_text(d: date) -> str:
    return f"{MONTH_NAMES[d.month - 1]} {d.day}, {d.year}"


def _is_month_end(d: date) -> bool:
    return (d + timedelta(days=1)).day == 1


def _shift_year(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # February 29
        return d.replace(year=d.year + years, day=28)


def _quarter_before(d: date) -> date:
    month = d.month - 3
    year = d.year
    if month < 1:
        month += 12
        year -= 1
    last_day = (date(year + (month == 12), month % 12 + 1, 1) - timedelta(days=1)).day
    return date(year, month, min(d.day, last_day) if d.day < 28 else last_day)


def parse_date(text: str) -> date | None:
    """The first date written in ``text`` ("Sep 30, 2025", "September 30, 2025", "6/17/2023")."""
    m = _DATE.search(text)
    if not m:
        return None
    try:
        if m.group("month"):
            return date(
                int(m.group("year")), _MONTHS[m.group("month").lower().rstrip(".")], int(m.group("day"))
            )
        return date(int(m.group("y")), int(m.group("m")), int(m.group("d")))
    except ValueError:
        return None


def _year(text: str) -> int:
    y = int(text)
    return 2000 + y if y < 100 else y


def parse_period(text: str, document: Period | None = None) -> Period | None:
    """The period a column header or phrase names, tied to the document's fiscal calendar when the end
    dates agree; None when ``text`` names no period ("Change", "% of revenue")."""
    text = " ".join(text.split())
    if not text:
        return None
    fiscal = bool(re.search(r"\bfiscal\b|\bFY", text, re.IGNORECASE)) or bool(document and document.fiscal)
    end = parse_date(text)
    months = weeks = None
    m = _ENDED.search(text)
    if m:
        n = m.group("n").lower()
        if m.group("unit").lower().startswith("week"):
            months, weeks = _WEEKS.get(n), int(n) if n.isdigit() else None
        else:
            months = _COUNTS.get(n)
    elif _YEARS_ENDED.search(text):
        months = 12
    q = _QUARTER_LABEL.search(text)
    if q:
        quarter = int(q.group("q") or q.group("q2"))
        return Period(text, 3, end, _year(q.group("y") or q.group("y2")), quarter, fiscal)
    w = _QUARTER_WORDS.search(text)
    if w and (w.group("y") or w.group("y2")):
        quarter = ORDINALS[(w.group("ord") or w.group("ord2")).lower()]
        return Period(text, 3, end, int(w.group("y") or w.group("y2")), quarter, fiscal)
    if w and document and document.fiscal_year and not end:
        # "Second-Quarter 2023" split over two header lines reads as "Second-Quarter 2023"; a bare
        # "Second-Quarter" column takes the document's year
        year = re.search(r"\b((?:19|20)\d\d)\b", text)
        fy = int(year.group(1)) if year else document.fiscal_year
        return Period(text, 3, None, fy, ORDINALS[w.group("ord").lower()], fiscal)
    f = _FISCAL_YEAR.search(text)
    if f and not end:
        return Period(text, 12, None, _year(f.group("y") or f.group("y2")), None, True)
    if end is not None:
        period = Period(text, months, end, None, None, fiscal, instant=months is None, weeks=weeks)
        return _on_calendar(period, document)
    b = _BARE_YEAR.match(text)
    if b:
        return Period(text, None, None, int(b.group("y")), None, fiscal)
    return None


def _on_calendar(period: Period, document: Period | None) -> Period:
    """Name a dated period by the document's fiscal calendar: same end (±7 days) -> the document's
    quarter or year; a year earlier -> the year-ago one."""
    if document is None or document.end is None or period.end is None or period.instant:
        return period
    for years_back in (0, 1):
        anchor = _shift_year(document.end, -years_back)
        if abs((period.end - anchor).days) <= 7:
            fy = document.fiscal_year - years_back if document.fiscal_year else None
            if period.months == 3 and document.quarter:
                return replace(period, fiscal_year=fy, quarter=document.quarter, fiscal=document.fiscal)
            if period.months == 12 or (
                period.months and document.quarter and period.months == 3 * document.quarter
            ):
                # year to date: twelve months, or the months from the start of the fiscal year
                return replace(period, fiscal_year=fy, fiscal=document.fiscal)
    return period


def period_json(period: Period | None) -> dict[str, Any] | None:
    if period is None:
        return None
    data = {k: getattr(period, k) for k in Period.__dataclass_fields__}
    data["end"] = period.end.isoformat() if period.end else None
    return data


def period_from_json(data: dict[str, Any] | None) -> Period | None:
    if not data:
        return None
    return Period(**{**data, "end": date.fromisoformat(data["end"]) if data.get("end") else None})
