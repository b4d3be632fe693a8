"""Facts before questions: each figure of a document with its meaning attached.

A :class:`Fact` says whose figure it is (subject), what it measures (metric: the row label, or the noun
phrase of the clause), for which period, its value, unit and scale, and exactly where it is written
(page and character span, and the table cell when it comes from a table). Questions and reference
answers are made from facts (``synth/templates.py``), and an answer's number is checked against the
fact of the metric and period the question asks about, not against any passage holding the digits.

- The company and period a document is about come from ``text/identity.py`` (ingest needs them too):
  what cannot be found is None with the reason, never a silent guess.
- :func:`table_facts`: one fact per numeric table cell (row label -> metric, column header -> period,
  scale note and cell -> unit and scale).
- :func:`prose_facts`: numeric statements in prose ("Net income was $7.1 million, or $0.16 per
  diluted share"), precision over recall: a number whose metric is not in its own clause is skipped.

Pure functions: no store, no model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from synthtune.ingest.tables import Table
from synthtune.text.identity import DocIdentity, short_name
from synthtune.text.numbers import Num, extract_numbers
from synthtune.text.periods import DATE, ORDINALS, Period, parse_date, parse_period

# ------------------------------------------------------------------------------------------ records


@dataclass(frozen=True)
class Fact:
    subject: str | None
    metric: str  # "Gross margin", "Net income (loss) per share, diluted"
    period: Period | None
    value: Decimal  # the figure as written, signed: "(1.7)" -> -1.7; "$7.1 million" -> 7.1
    unit: str  # "USD", "%", "per share USD", "shares", "robots", ... ; "" when not stated
    scale: Decimal  # 1, 1E+3, 1E+6, 1E+9: value * scale is the amount
    raw: str  # the text as written: "$(0.04)", "43.4%", "$7.1 million"
    page_no: int
    char_start: int | None
    char_end: int | None
    table_cell: tuple[int, int, int] | None  # (table index, row, column) for a table fact
    source: str  # "table" or "prose"
    problems: tuple[str, ...] = field(default=())  # e.g. "unit not stated", "no period": shown, not guessed
    high: Decimal | None = None  # the upper end of a range ("$150 million to $156 million"): guidance

    @property
    def amount(self) -> Decimal:
        return self.value * self.scale


# -------------------------------------------------------------------------------------- table facts

_UNIT_PAREN = re.compile(r"\s*\((?P<inner>[^()]*)\)\s*")
_FOOTNOTE = re.compile(r"(?<=[a-z\)])\d{1,2}(?:,\d{1,2})*(?=\s|$|\()|\s*\(\d{1,2}\)|\s*\([a-z]\)$|\*+$")
_COUNT_NOUNS = (
    "robots", "units", "customers", "employees", "stores", "restaurants", "locations", "subscribers", "users",
    "members", "warehouses", "clubs", "vehicles", "patients",
)  # fmt: skip
_COUNT_LABEL = re.compile(
    r"\bnumber of\b|\bopenings\b|\bclosings\b|\bstores?\b|\bheadcount\b|\bcount\b", re.I
)
_PER_SHARE = re.compile(
    r"per (?:diluted |basic )?(?:common )?share|\bEPS\b|earnings per|loss per|dividends? per", re.I
)
_RATIO_LABEL = re.compile(r"\bmargin\b|\brate\b|\bpercent|%|\bratio\b|\bas a % of\b|\bROA\b|\bROI\b", re.I)


# the operating-expense lines of a statement of operations, which name a function, not a measure
_EXPENSE_LINE = re.compile(
    r"^(?:research(?:,)? (?:and|&) development|r&d|sales (?:and|&) marketing|selling(?:,)? (?:and|&) marketing"
    r"|general (?:and|&) administrative|selling(?:,)? general(?:,)? (?:and|&) administrative|sg&a"
    r"|marketing|technology (?:and|&) (?:development|content|infrastructure)|fulfill?ment|product development"
    r"|engineering(?:,)? research(?:,)? (?:and|&) development)$",
    re.I,
)


def expense_metric(metric: str) -> str:
    """A statement's "Research and development" line is the expense: "Research and development expenses"."""
    return f"{metric} expenses" if _EXPENSE_LINE.match(metric) else metric


def clean_metric(label: str) -> str:
    """A row label without footnote marks and unit notes: "Backlog ($ in millions)" -> "Backlog"."""
    label = _FOOTNOTE.sub("", label.strip())
    label = _UNIT_PAREN.sub(lambda m: " " if _is_unit_note(m.group("inner")) else m.group(0), label)
    return " ".join(label.split()).rstrip(":").strip()


def _is_unit_note(inner: str) -> bool:
    inner = inner.lower().strip()
    return bool(
        re.fullmatch(r"(?:[$€£]|usd)?\s*(?:in\s+)?(?:thousands|millions|billions|units|%|percent)", inner)
        or re.fullmatch(r"(?:[$€£]\s*)?in\s+(?:thousands|millions|billions)", inner)
        or inner in _COUNT_NOUNS
    )


def _unit_and_scale(label: str, cell: str, num: Num, table: Table) -> tuple[str, Decimal, str | None]:
    """Unit, scale and a problem (None when the unit is clear) for one table cell."""
    table_scale = Decimal(str(table.scale)) if table.scale else Decimal(1)
    currency = (
        "$" in cell
        or "$" in (table.scale_note or "")
        or any("$" in c.text for r in table.rows for c in r.cells)
    )
    notes = " ".join(m.group("inner").lower() for m in _UNIT_PAREN.finditer(label))
    label_scale = None
    for word, scale in (
        ("thousand", Decimal(10) ** 3),
        ("million", Decimal(10) ** 6),
        ("billion", Decimal(10) ** 9),
    ):
        if word in notes:
            label_scale = scale
    if re.search(r"\b000s?\b", notes):
        label_scale = Decimal(10) ** 3  # "(000s)"
    if re.search(r"\bbps\b|\bbp\b|basis points", cell, re.I):
        return "basis points", Decimal(1), None
    if num.kind == "percent" or re.search(r"\(%\)|%\s*$|\bpercent\b", label, re.I) and "$" not in cell:
        return "%", Decimal(1), None
    if re.search(r"\bshares (?:used|outstanding)|weighted[- ]average (?:\w+ )?shares", label, re.I):
        return "shares", label_scale or table_scale, None
    if _PER_SHARE.search(label):
        return ("per share USD" if currency else "per share"), Decimal(1), None
    for noun in _COUNT_NOUNS:
        if noun in notes or re.search(rf"\b{noun}\b", label, re.I) and "$" not in cell:
            return noun, label_scale or Decimal(1), None
    if re.search(r"\bshares\b", label, re.I):
        return "shares", label_scale or table_scale, None
    if _COUNT_LABEL.search(label) and "$" not in cell:
        return "", Decimal(1), "unit unclear: a count label without its noun"
    if "$" in notes or "$" in cell or currency:
        if _RATIO_LABEL.search(label) and abs(num.value) < 100 and "$" not in cell and table.scale:
            return "", label_scale or table_scale, "ambiguous unit: a ratio label in a money table, no % sign"
        scale = label_scale or table_scale
        if scale >= 1000 and abs(num.mantissa) < 10 and re.search(r"\.\d\d\b", cell):
            return "", scale, "ambiguous unit: cents in a table of thousands or millions (per share?)"
        if scale == 1:
            return "USD", scale, "scale not stated (no 'in millions' note)"
        return "USD", scale, None
    if _RATIO_LABEL.search(label):
        return "%", Decimal(1), "unit from the row label (no % sign in the cell)"
    if table.scale:
        return "", table_scale, "unit not stated (scale only)"
    return "", Decimal(1), "unit not stated"


_MEASURE = re.compile(
    r"revenue|sales|income|earnings|EPS|margin|EBIT|profit|loss|cash|expense|cost|backlog|ARR|debt|expenditure"
    r"|bookings|dividend|asset|liabilit|equity|customer|employee|shipment|shipped|order|base\b|capex|billings|RPO"
    r"|obligation|headcount|spending|tax|rate|share|inventor|receivable|payable|goodwill|intangible|amortization"
    r"|depreciation|capital|compensation|charge|gain|interest|borrowing|lease|deficit|surplus|growth|change|return"
    r"|yield|ratio|%|percent|count|number|units|robots|stores|restaurants|locations|members|subscribers|users"
    r"|deposits|loans|premium|reserve|provision|comprehensive|investments?|securities|property|equipment|accrued"
    r"|deferred|prepaid|payments|purchases|proceeds|repurchase|issuance|repayment|outstanding|weighted|contribution"
    r"|benefit|impairment|restructuring|acquisition|divestiture|operating|fees|royalt|volume|price|pricing|ticket"
    r"|transactions|traffic|ebitda|fcf|working capital|net\b",
    re.IGNORECASE,
)


_FLOW = re.compile(
    r"revenue|sales|income|earnings|cost|expense|profit|loss|amortization|depreciation|effect of|provided by"
    r"|used in|proceeds|purchases|payments|compensation|charges|EPS|per share|margin|growth|dividends paid"
    r"|impact|costs",
    re.I,
)
_STOCK = re.compile(
    r"asset|liabilit|equity|payable|receivable|inventor|debt|cash and cash equivalents|deficit", re.I
)
_FLOW_TABLE = re.compile(r"cash flows?|statements? of (?:income|operations|earnings)|income statement", re.I)
_STRONG_FLOW = re.compile(
    r"impairment|amortization|depreciation|expense|proceeds|purchases|payments|gain|loss", re.I
)
_RATIO_WORDS = re.compile(
    r"margin|rate|%|percent|growth|change|ratio|share of|mix|comparable|return on|yield|as a percentage", re.I
)


_QUALIFIERS = {"net", "total", "gaap", "non-gaap", "adjusted", "reported", "the", "a", "an", "our", "its"}
_GENERIC = {
    "margin", "margins", "expense", "expenses", "change", "growth", "amount", "value", "rate",
    "ratio", "percentage", "percent", "increase", "decrease", "cost", "costs", "other", "gain",
    "benefit", "charge", "charges", "number", "figure", "result", "results", "balance", "share",
}  # fmt: skip


def metric_problem(metric: str) -> str | None:
    """A metric that does not say what it measures ("margin", "net expense": which one?)."""
    if metric.lower().strip() in ("loss", "income", "profit", "a loss"):
        return f"metric: '{metric}' does not say of what (which {metric.lower().split()[-1]}?)"
    words = [w for w in re.findall(r"[a-z][a-z-]*", metric.lower()) if w not in _QUALIFIERS]
    if len(words) == 1 and words[0] in _GENERIC:
        return f"metric: '{metric}' does not say of what (which {words[0]}?)"
    return None


def _period_problems(metric: str, unit: str, period: Period | None) -> list[str]:
    """What makes a table fact's period or unit unsafe to state: a date heading a flow (cost of sales "at
    December 31": of which length?), a bare year in a column (quarter or year?), a percentage under a
    label that names no ratio."""
    problems = [p] if (p := metric_problem(metric)) else []
    flow = _FLOW.search(metric) and (not _STOCK.search(metric) or _STRONG_FLOW.search(metric))
    if period is not None and period.instant and flow:
        problems.append("period: a date heads a flow metric (the period's length is not said)")
    if period is not None and not period.instant and period.months is None and period.quarter is None:
        problems.append("period: a bare year (a quarter or the full year?)")
    if unit == "%" and not _RATIO_WORDS.search(metric):
        problems.append("unit: a percentage under a label that names no ratio")
    return problems


def _after(period: Period | None, document: Period | None) -> bool:
    """Whether ``period`` ends after the document's period (a figure reported before it happened)."""
    if period is None or document is None:
        return False
    if period.end and document.end:
        return period.end > document.end + timedelta(days=7)
    if period.fiscal_year and document.fiscal_year:
        later_year = period.fiscal_year > document.fiscal_year
        same_year_later_quarter = period.fiscal_year == document.fiscal_year and (period.quarter or 0) > (
            document.quarter or 4
        )
        return later_year or same_year_later_quarter
    return False


def _table_value(num: Num, unit: str) -> Decimal:
    """The figure as written: a percentage as is, basis points back from the percentage points that
    ``extract_numbers`` reads them as, an amount without the scale written in the cell."""
    if unit == "basis points":
        return (num.value * 100).normalize() + 0
    return num.value if num.kind == "percent" else num.mantissa


def table_facts(table: Table, identity: DocIdentity | None, table_index: int = 0) -> list[Fact]:
    """One fact per numeric cell of ``table``: the row's metric, the column's period, unit and scale."""
    doc_period = identity.period if identity else None
    subject = identity.subject if identity else None
    facts = []
    periods = [parse_period(column, doc_period) for column in table.columns]
    by = re.match(
        r"^(?P<metric>[A-Z][\w&' -]{2,40}?)\s+by\s+(?:segment|region|product|geography|category|channel)",
        table.title or "",
        re.I,
    )
    dimension_of = by.group("metric").lower() if by else None  # "Revenue by Segment": rows are segments
    outlook = bool(
        _OUTLOOK_HEADING.search(f"{table.title or ''} {' '.join(' '.join(r) for r in table.header_rows)}")
    )
    for r, row in enumerate(table.rows):
        base_metric = expense_metric(clean_metric(row.metric))
        if not base_metric or not re.search(r"[A-Za-z]", base_metric):
            continue  # a row without a label says nothing a question could ask
        if dimension_of and dimension_of.split()[-1] not in base_metric.lower():
            base_metric = f"{base_metric} {dimension_of}"
        if table.stub:
            base_metric = f"{base_metric} ({clean_metric(table.stub)})"  # "Operating income (International Segment Results)"
        for cell in row.cells:
            written = re.sub(r"\(\s+", "(", re.sub(r"\s+\)", ")", cell.text))  # "(35,569 )"
            nums = extract_numbers(written, words=False)
            if len(nums) != 1:
                continue
            num = nums[0]
            problems = []
            unit, scale, problem = _unit_and_scale(row.metric, written, num, table)
            if problem:
                problems.append(problem)
            header = table.columns[cell.column] if cell.column < len(table.columns) else ""
            period = periods[cell.column] if cell.column < len(periods) else None
            metric = base_metric
            if period is None:
                if header:  # "Change", "% of revenue": the column qualifies the metric
                    metric = f"{base_metric} ({header})"
                    period = doc_period
                    problems.append("period: the document's (the column header names none)")
                else:
                    problems.append("no column header: period unknown")
                    period = None
            if subject is None:
                problems.append("subject unknown")
            if not _MEASURE.search(metric):
                problems.append("metric: the row label names no measure (a segment or a category?)")
            if not row.label and table.source != "pdf":
                # a cell-structured table's row without a label under a section: its total? its first item?
                problems.append("metric: the row has no label of its own (a total of the section above?)")
            problems += _period_problems(metric, unit, period)
            if period is not None and period.instant and _FLOW_TABLE.search(table.title or ""):
                problems.append("period: a date heads a column of a statement of flows")
            if outlook:
                problems.append("outlook: the table's title says guidance")
            elif _after(period, doc_period):
                problems.append("period after the document's: guidance?")
            facts.append(
                Fact(
                    subject=subject,
                    metric=metric,
                    period=period,
                    value=_table_value(num, unit),
                    unit=unit,
                    scale=scale,
                    raw=cell.text,
                    page_no=table.page_no,
                    char_start=cell.char_start,
                    char_end=cell.char_end,
                    table_cell=(table_index, r, cell.column),
                    source="table",
                    problems=tuple(problems),
                )
            )
    return facts


# -------------------------------------------------------------------------------------- prose facts

_HEADS = (
    r"(?:earnings|income|loss|EPS|FFO|AFFO)(?:\s+\(loss\))?\s+per\s+(?:diluted\s+|basic\s+)?(?:common\s+)?share"
    r"|revenues?|sales|income|earnings|EPS|margin|EBITDA|profit|loss|cash flow|cash equivalents|cash|expenses?"
    r"|backlog|ARR|debt|expenditures|bookings|dividends?|assets|liabilities|equity|customers|employees"
    r"|shipments|orders|base|deferred revenue|capex|billings|RPO|obligations|headcount|margins|spending"
    r"|FFO|AFFO|sales growth|revenue growth|research and development|sales and marketing"
    r"|general and administrative"
)
_VERBS = (
    r"was|were|is|are|of|totaled|totalled|totaling|totalling|reached|grew to|rose to|increased to|decreased to"
    r"|declined to|fell to|came in at|amounted to|improved to|expanded to|at|to"
)
_PRIMARY = re.compile(
    rf"(?P<metric>(?:[\w&'’()./-]+\s+){{0,6}}?(?:{_HEADS})(?:\s*\(\d\))?(?:\s+\([A-Z]{{2,6}}\))?)\s+(?:{_VERBS})"
    r"(?:\s+(?:approximately|about|nearly|a record|record|negative|an all-time high of))?\s*$",
    re.IGNORECASE,
)
_GROWTH = re.compile(
    rf"(?:(?P<metric>(?:[\w&'’()./-]+\s+){{0,6}}?(?:{_HEADS}))\s+(?:grew|rose|increased|decreased|declined|fell|was up|were up|was down|were down)"
    r"|\b(?:up|down|an increase of|a decrease of|a decline of|growth of|increased|decreased|grew|declined))\s*(?:by\s+)?$",
    re.IGNORECASE,
)
_STOP = {
    "the", "its", "our", "their", "while", "with", "which", "that", "as", "where", "whereas", "but", "also",
    "reported", "total", "quarterly", "a", "an", "company", "compared", "vs", "versus", "from", "in", "for", "on",
    "results", "highlights", "and", "or", "we", "i", "they", "it", "you", "delivered", "generated", "achieved",
    "posted", "had", "record", "strong", "solid", "this", "these", "sequential", "paid", "returned",
    "include", "includes", "included", "recorded", "recognized", "delivering", "generating", "reporting",
    "so", "thus", "hence", "therefore", "then", "resulting", "leaving", "bringing",
}  # fmt: skip
_COMPOUNDS = {
    ("cash", "cash"), ("research", "development"), ("sales", "marketing"), ("general", "administrative"),
    ("property", "equipment"), ("depreciation", "amortization"), ("software", "services"),
}  # fmt: skip
_KEEP_TOTAL = re.compile(r"^total\s+(?:revenues?|sales)$", re.I)
_YEAR_AGO = re.compile(
    r"\b(?:a year ago|(?:in\s+)?the year[- ]ago (?:quarter|period)|(?:in\s+)?the (?:same|comparable|prior[- ]year) "
    r"(?:quarter|period)(?: (?:of|in|last|a) (?:the prior year|the previous year|last year|year))?|last year)\b",
    re.IGNORECASE,
)
_PRIOR_QUARTER = re.compile(r"\b(?:the (?:prior|previous|preceding|sequential) quarter|last quarter)\b", re.I)
_EXPLICIT = re.compile(
    r"\b(?:in|for|during)\s+the\s+(?:first|second|third|fourth)\s+quarter\s+of\s+(?:fiscal\s+)?(?:year\s+)?\d{4}"
    r"|\bin\s+(?:Q[1-4]\s*(?:FY)?\s*'?\d{2,4}|fiscal\s+(?:year\s+)?\d{4})",
    re.I,
)
_AT_DATE = re.compile(rf"\b(?:at|as of|on)\s+(?:the end of\s+)?{DATE}", re.I)
_OUTLOOK = re.compile(
    r"\b(?:expects?|expected|expecting|outlook|guidance|anticipates?|forecasts?|projects?|projected|plans? to|"
    r"will|would|could|target(?:s|ing)?|intends?|estimates?)\b",
    re.I,
)
_SECTION_HEADING = re.compile(r"^(?!.*[$%])(?:\S+\s+){0,7}\S+$")
_OUTLOOK_HEADING = re.compile(r"\b(?:outlook|guidance|forecast|expectations)\b", re.I)
_LEADING_PERIOD = re.compile(
    r"^(?:(?P<q>first|second|third|fourth)[\s-]+quarter|Q[1-4]|(?P<fy>full[\s-]year|fiscal[\s-]year|annual))\s+",
    re.I,
)
_FULL_YEAR = re.compile(r"\b(?:for|in) the (?:full|fiscal) year\b|\bfull[\s-]year\b", re.I)
_STATED_PERIOD = re.compile(
    r"^[^$%]{0,30}?\b(?:for|in|during)\s+(?:the\s+)?(?:(?P<ytd>first half|first (?:six|nine) months|year[\s-]to[\s-]date)"
    r"|(?P<quarter>(?:first|second|third|fourth)[\s-]+quarter(?:\s+of)?(?:\s+fiscal)?(?:\s+(?:year\s+)?\d{4})?))",
    re.I,
)
_RESPECTIVELY = re.compile(r"\brespectively\b", re.I)
_LAST_YEARS = re.compile(r"\b(?:last|prior|previous) year['’]s\b|\bin the prior year\b", re.I)
_COMPARE = re.compile(r",?\s*\b(?:compared\s+(?:with|to)|versus|vs\.?|from)\s+", re.I)
_SENTENCE = re.compile(r"(?<=[.!?;])\s+(?=[A-Z$“\"(-])|\n\s*[-•▪\uf0b7]\s+")


def _sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans; a short title-case line without closing punctuation (a heading, a headline) ends one
    too."""
    cuts: list[tuple[int, int]] = [m.span() for m in _SENTENCE.finditer(text)]
    pos = 0
    for line in text.split("\n"):
        end = pos + len(line)
        stripped = line.strip()
        short = bool(stripped) and len(stripped) <= 80 and not stripped.endswith((".", ",", ";", ":", "-"))
        if short and _title_case(stripped) and end < len(text):  # a heading or a headline
            cuts.append((end, end + 1))
        pos = end + 1
    spans = []
    start = 0
    for a, b in sorted(set(cuts)):
        if a < start:
            continue
        spans.append((start, a))
        start = b
    spans.append((start, len(text)))
    return [(a, b) for a, b in spans if b > a]


def _clean_phrase(phrase: str) -> str | None:
    """The metric words of a noun phrase: determiners, possessives and clause words before it dropped."""
    words = phrase.replace("\n", " ").split()
    keep: list[str] = []
    for i in range(len(words) - 1, -1, -1):
        word = words[i]
        bare = word.lower().strip(",;:")
        if bare in ("and", "&") and keep and i + 1 < len(words):
            pair = (words[i - 1].lower().strip(",") if i else "", keep[-1].lower())
            if pair in _COMPOUNDS:
                keep.append(word)
                continue
        if bare in ("has", "have"):
            return None  # "Magnetrol has annual sales of": another subject's figure
        if (
            bare in ("in", "of")
            and i
            and re.fullmatch(
                r"(?:increases?|decreases?|growth|declines?|changes?|improvements?)", words[i - 1].lower()
            )
        ):
            return None  # "an increase in base business net sales of": the change, not the figure
        if bare in _STOP and not _KEEP_TOTAL.match(
            " ".join([bare, *(w.lower() for w in reversed(keep))][:2])
        ):
            break
        if word.endswith((",", ";", ":")) or re.search(r"['’]s$", word) or bare.isdigit():
            break
        keep.append(word)
    if not keep:
        return None
    metric = " ".join(reversed(keep))
    metric = re.sub(r"\(\d\)", "", metric).strip(" -")
    if re.match(r"(?:of|for|to|in|on|at|by|from|with)\b", metric, re.I) or "\ufffd" in metric:
        return None  # a fragment ("of certain assets"), not a metric
    if re.match(r"(?:percent|percentage|%)\s+of\b", metric, re.I):
        return None  # "as a percent of sales was 17.2%": of which figure is said before "as"
    if re.search(r"\btrailing\b|\b(?:LTM|TTM)\b|\blast twelve months\b", metric, re.I):
        return None  # a trailing-twelve-months figure is not the period's
    return metric if re.search(_HEADS, metric, re.I) else None


# "ended the quarter with 1,310 full-time employees": a count at the end of the period
_ENDED_WITH = re.compile(r"\bended (?:the|this) (?:quarter|year|period|fiscal year)\s+with\s*$", re.I)
_COUNT_WORD = rf"(?:[a-z]+-[a-z]+\s+|active\s+|paying\s+)?(?P<noun>{'|'.join(_COUNT_NOUNS)})\b"
_COUNTED = re.compile(rf"\s+(?P<phrase>{_COUNT_WORD})", re.I)


def _prose_unit(num: Num, after: str, metric: str) -> tuple[str, Decimal, Decimal] | None:
    """(unit, value as written, scale) for a prose number, or None when its unit is unclear."""
    count = _COUNTED.match(after)
    if num.kind == "percent":
        return "%", num.value, Decimal(1)
    if num.kind == "currency":
        if re.match(r"\s+(?:per|a) (?:diluted |basic )?(?:common )?share", after, re.I) or _PER_SHARE.search(
            metric
        ):
            return (
                "per share USD" if num.currency == "USD" else f"per share {num.currency}",
                num.mantissa,
                num.scale,
            )
        return num.currency or "", num.mantissa, num.scale
    if count:
        return count.group("noun").lower(), num.mantissa, num.scale
    return None


def prose_facts(page_text: str, identity: DocIdentity | None, page_no: int = 1) -> list[Fact]:
    """Numeric statements in prose, each tied to the metric and period of its own clause."""
    subject = identity.subject if identity else None
    doc_period = identity.period if identity else None
    facts: list[Fact] = []
    in_outlook = outlook_list = after_outlook = False
    section_period = doc_period  # "For the First Six Months of Fiscal 2023" changes it until the next heading
    for s_start, s_end in _sentences(page_text):
        sentence = page_text[s_start:s_end]
        if _is_heading(sentence.strip()):
            in_outlook = bool(_OUTLOOK_HEADING.search(sentence))
            section_period = _section_period(sentence, doc_period)
        bullet = bool(re.search(r"[-•▪\uf0b7]\s*$", page_text[max(0, s_start - 3) : s_start]))
        if outlook_list and not bullet:
            outlook_list = False
        if _OUTLOOK.search(sentence) and sentence.rstrip().endswith(":"):
            outlook_list = True  # "guidance ... is as follows:" and the bullets under it
        if (
            in_outlook
            or outlook_list
            or _OUTLOOK.search(sentence)
            or _RESPECTIVELY.search(sentence)
            or (after_outlook and re.match(r"\s*(?:And|Also|Plus)\b", sentence))
        ):
            after_outlook = (
                True  # "... we expect revenue of $4.1 billion. And adjusted EBITDA of $660 million"
            )
            continue  # forward-looking, or figures paired with metrics by "respectively"
        after_outlook = False
        for c_start, c_end in _clauses(sentence):
            facts += _clause_facts(
                page_text, s_start + c_start, s_start + c_end, subject, section_period, page_no
            )
    return facts


# -------------------------------------------------------------------------------- outlook (guidance)

_GUIDE_VERB = r"(?:expects?|expected|expecting|anticipates?|forecasts?|projects?|sees|guides?(?:\s+to)?)"
_GUIDE_METRIC = r"(?P<metric>[A-Za-z][\w&'’\s-]{1,60}?)"
_NOTE = r"(?:\s*\(\d{1,2}\))?"  # a footnote mark: "Guidance(4)"
# what a report does to its outlook: "Raises Full Year FY24 Revenue Guidance to", "narrowed its ... guidance"
_GUIDE_CHANGE = (
    r"initiates|reiterates|raises|lowers|narrows|reaffirms|maintains|updates|narrowed|raised|lowered|updating"
    r"|raising|narrowing|maintaining|reaffirming"
)
_GUIDE_BEFORE = [
    # "expects revenue of", "now expect full-year gross margin of", "expects revenue to be"
    re.compile(
        rf"\b{_GUIDE_VERB}\s+{_GUIDE_METRIC}{_NOTE}\s+(?:of|to be|at|in the range of|between)\s*$", re.I
    ),
    # "raising its full fiscal year 2025 revenue outlook to", "Revenue Guidance of", "EPS guidance ... in
    # the range of", "revenue guidance(4) range to"
    re.compile(
        rf"(?:\b(?:its|our|the|{_GUIDE_CHANGE})\s+|[•▪]\s*){_GUIDE_METRIC}"
        rf"{_NOTE}\s+(?:outlook|guidance|forecast){_NOTE}(?:\s+range)?\s+(?:to|of|at|is|in the range of)\s*$",
        re.I,
    ),
    # "Capital expenditures for the full year are now expected to be"
    re.compile(
        rf"(?:^\s*|[.;]\s+){_GUIDE_METRIC}\s+(?P<when>(?:for|in)\s+[\w -]{{3,40}}?\s+)?(?:is|are)\s+(?:now\s+)?"
        r"(?:expected|projected|forecast|anticipated)\s+to\s+(?:be|total|reach)\s*$",
        re.I,
    ),
]
# in an outlook section: "Revenue of $43.8 billion to $44.5 billion" (a list under "FY24 Guidance")
_GUIDE_ITEM = re.compile(rf"^\s*(?:[•▪-]\s*)?{_GUIDE_METRIC}{_NOTE}\s+(?:of|to be|at)\s*$", re.I)
_GUIDE_LEAD_WORDS = re.compile(rf"^.*\b(?:its|our|the|{_GUIDE_CHANGE}|expects?|expected)\s+", re.I | re.S)
_PREVIOUS = re.compile(
    r"\b(?:prior|previous|previously|earlier|original)\s+(?:\w+\s+){0,2}(?:guidance|outlook)\b", re.I
)
# a further figure of the same outlook: "revenue of $158 million to $165 million and gross margin of"
_GUIDE_MORE = re.compile(rf"(?:,|\band\b)\s+(?:(?:of\s+)?{_GUIDE_METRIC})\s+(?:of|at)\s*$", re.I)
_ESTIMATE = re.compile(r"(?:\b(?:approximately|about|roughly|around|nearly|close to)\s*|~\s*)$", re.I)
_GUIDE_PERIOD = re.compile(
    r"\b(?:(?P<q>first|second|third|fourth)[\s-]+quarter"
    r"(?:\s+(?:of\s+)?(?:fiscal\s+(?:year\s+)?|FY\s?'?)?(?P<qy>(?:19|20)?\d\d)\b)?"
    r"|Q(?P<qn>[1-4])(?:\s*(?:FY)?\s*'?(?P<qny>\d{2,4}))?"
    r"|(?:full\s+)?(?:fiscal|FY)\s*(?:year\s+)?'?(?P<fy>(?:19|20)?\d\d)\b"
    r"|(?P<year>(?:19|20)\d\d)\b"
    r"|(?P<full>full[\s-]year|the\s+full\s+year|the\s+year|(?:this|the)\s+fiscal\s+year))",
    re.I,
)
# what may come before the metric's own words in its phrase: verbs, periods, qualifiers of the outlook
_GUIDE_LEAD = re.compile(
    r"^(?:(?:the|its|our|total|full|fiscal|year|quarter|first|second|third|fourth|FY\s?'?\d{2,4}|Q[1-4]|"
    r"(?:19|20)\d\d|full-year|initiates|reiterates|raises|lowers|narrows|reaffirms|maintains|updates|"
    r"projected|current|now|its)\s+)+",
    re.I,
)


def _guidance_period(text: str, doc_period: Period) -> Period | None:
    """The period an outlook is for, from the last period named in ``text``: a quarter without a year
    is the document's fiscal year's if it is still to come, else the next year's; "full-year" is the
    document's fiscal year."""
    found = list(_GUIDE_PERIOD.finditer(text))
    if not found or doc_period.fiscal_year is None:
        return None
    m = found[-1]
    fy, fiscal = doc_period.fiscal_year, doc_period.fiscal
    if m.group("q") or m.group("qn"):
        quarter = ORDINALS[m.group("q").lower()] if m.group("q") else int(m.group("qn"))
        year = m.group("qy") or m.group("qny")
        if year:
            fy = int(year) if len(year) == 4 else 2000 + int(year)
        elif doc_period.quarter and quarter <= doc_period.quarter:
            fy += 1  # "for the first quarter" in a fourth-quarter release: next year's
        return Period(m.group(0), 3, None, fy, quarter, fiscal)
    if m.group("fy") or m.group("year"):
        year = m.group("fy") or m.group("year")
        fy = int(year) if len(year) == 4 else 2000 + int(year)
        fiscal = fiscal if m.group("year") is None else doc_period.fiscal
    return Period(m.group(0), 12, None, fy, None, fiscal)


def _to_come(period: Period, document: Period) -> bool:
    """Whether an outlook for ``period`` given in the ``document``'s period is about the future: a later
    quarter, or a fiscal year that has not ended (the full year in a first-to-third-quarter report)."""
    if period.quarter is None and period.fiscal_year == document.fiscal_year:
        return (document.quarter or 4) < 4
    return _after(period, document)


def _figure(num: Num, scale: Decimal) -> Decimal:
    """A range end in the range's scale: "$150 to $156 million" -> 150 and 156 (millions)."""
    if num.kind == "percent" or num.scale == scale or num.scale == 1:
        return num.mantissa
    return num.value / scale


def outlook_facts(page_text: str, identity: DocIdentity | None, page_no: int = 1) -> list[Fact]:
    """Guidance: what the company expects for a coming quarter or year ("For the third quarter of fiscal
    2025, Acme expects revenue of $150 million to $156 million"). A range keeps both ends (``high``); a
    single figure is kept only when it is said as an estimate ("approximately $70 million"). The fact's
    period is the one guided for; the document's period says when the outlook was given. A previous
    outlook ("from $570 million to $590 million previously") is not a fact of this document."""
    subject = identity.subject if identity else None
    doc_period = identity.period if identity else None
    if doc_period is None or subject is None:
        return []
    facts: list[Fact] = []
    in_outlook = False
    heading = ""  # an outlook section's heading, which may name the period ("FY24 Financial Guidance")
    for s_start, s_end in _sentences(page_text):
        sentence = page_text[s_start:s_end]
        if _is_heading(sentence.strip()):
            in_outlook = bool(_OUTLOOK_HEADING.search(sentence))
            heading = sentence if in_outlook else ""
            continue
        if not (in_outlook or _OUTLOOK.search(sentence)):
            continue
        nums = extract_numbers(sentence, words=False)
        metric: str | None = None  # the sentence's outlook metric so far
        i = 0
        while i < len(nums):
            low, high = nums[i], None
            if i + 1 < len(nums) and re.fullmatch(
                r"\s*(?:to|-|–|—)\s*", sentence[low.span[1] : nums[i + 1].span[0]]
            ):
                high = nums[i + 1]
            i += 2 if high else 1
            before = sentence[: low.span[0]]
            if re.search(r"\bfrom\s*$", before, re.I):
                continue  # the outlook it replaces
            estimate = _ESTIMATE.search(before)
            if high is None and estimate is None:
                continue
            lead = before[: estimate.start()] if estimate else before
            if _PREVIOUS.search(lead[-60:]):
                continue  # "which compares to prior guidance of ..."
            m = next((m for rx in _GUIDE_BEFORE if (m := rx.search(lead))), None)
            if m is None and in_outlook:
                m = _GUIDE_ITEM.search(lead)
            if m is None and metric is not None:
                m = _GUIDE_MORE.search(lead)
            if m is None:
                continue
            phrase = " ".join(m.group("metric").split())
            name = clean_metric(_GUIDE_LEAD.sub("", _GUIDE_LEAD_WORDS.sub("", phrase)))  # "rate2": a footnote
            if not name or len(name.split()) > 5 or not _MEASURE.search(name) or metric_problem(name):
                continue
            metric = name[0].upper() + name[1:]
            when = m.groupdict().get("when") or ""
            period = _guidance_period(f"{heading} {before[: m.start()]} {phrase} {when}", doc_period)
            if period is None or not _to_come(period, doc_period):
                continue
            tail = sentence[(high or low).span[1] :]
            unit = _prose_unit(high or low, tail, metric)
            if unit is None or (high is not None and high.kind != low.kind):
                continue
            unit_name, _, scale = unit
            if low.kind == "percent" and not re.search(r"margin|rate|growth|percent", metric, re.I):
                continue
            lo_value = _figure(low, scale)
            hi_value = _figure(high, scale) if high else None
            start = s_start + (estimate.start() if estimate and high is None else low.span[0])
            end = s_start + (high or low).span[1]
            facts.append(
                Fact(
                    subject=subject,
                    metric=metric,
                    period=period,
                    value=lo_value,
                    unit=unit_name,
                    scale=scale,
                    raw=page_text[start:end],
                    page_no=page_no,
                    char_start=start,
                    char_end=end,
                    table_cell=None,
                    source="outlook",
                    high=hi_value,
                )
            )
    return facts


_YEAR_TO_DATE = re.compile(
    r"\b(?:first|1st)\s+(?P<n>six|nine|6|9)\s+months\b|\b(?P<half>first half)\b|\b(?P<ytd>year[\s-]to[\s-]date)\b",
    re.I,
)


def _section_period(heading: str, doc_period: Period | None) -> Period | None:
    """The period a section heading sets: year to date ("For the First Six Months of Fiscal 2023"), else
    the document's."""
    m = _YEAR_TO_DATE.search(heading)
    if not m or doc_period is None or doc_period.fiscal_year is None:
        return doc_period
    if m.group("n"):
        months = 6 if m.group("n").lower() in ("six", "6") else 9
    elif m.group("half"):
        months = 6
    else:
        months = 3 * doc_period.quarter if doc_period.quarter else None
    if months is None:
        return None
    words = {6: "six", 9: "nine", 12: "twelve", 3: "three"}[months]
    fiscal = "fiscal " if doc_period.fiscal else ""
    return Period(f"the first {words} months of {fiscal}{doc_period.fiscal_year}", months, doc_period.end,
                  doc_period.fiscal_year, None, doc_period.fiscal)  # fmt: skip


def _is_heading(line: str) -> bool:
    """A section heading ("FY24 Financial Guidance", "Cash Flow and Balance Sheet"): short, title case."""
    return bool(_SECTION_HEADING.match(line)) and line[:1].isalnum() and _title_case(line)


def _title_case(line: str) -> bool:
    long_words = [w for w in line.split() if len(w) >= 4 and w[0].isalpha()]
    return bool(long_words) and sum(w[0].isupper() for w in long_words) >= 0.6 * len(long_words)


def _clauses(sentence: str) -> list[tuple[int, int]]:
    spans = []
    start = 0
    for m in re.finditer(r";\s*", sentence):
        spans.append((start, m.start()))
        start = m.end()
    spans.append((start, len(sentence)))
    return spans


def _clause_facts(
    text: str, start: int, end: int, subject: str | None, doc_period: Period | None, page_no: int
) -> list[Fact]:
    clause = text[start:end]
    nums = extract_numbers(clause, words=False)
    if not nums:
        return []
    facts: list[Fact] = []
    current: str | None = None  # the clause's metric so far
    clause_period: Period | None = None  # the period of the clause's current figures ("for the first half")
    comparing = False  # after "compared with" / "from": figures of another period
    prev_end = 0
    for i, num in enumerate(nums):
        before = clause[prev_end : num.span[0]]
        if i and nums[i - 1].kind == num.kind and re.fullmatch(r"\s*(?:to|-|–|—)\s*\$?", before):
            # a range ("$370 million to $430 million") is an estimate, not a figure: drop both ends
            facts = [f for f in facts if f.char_start != start + nums[i - 1].span[0]]
            prev_end = num.span[1]
            continue
        next_start = nums[i + 1].span[0] if i + 1 < len(nums) else len(clause)
        after = clause[num.span[1] : next_start]
        prev_end = num.span[1]
        if _COMPARE.search(before):
            comparing = True
        metric: str | None = None
        period: Period | None = doc_period
        found = _PRIMARY.search(before)
        growth = _GROWTH.search(before) if num.kind == "percent" else None
        if growth:
            base = _clean_phrase(growth.group("metric")) if growth.group("metric") else current
            if base is None:
                continue
            current = base
            if re.search(
                r"\b(?:down|decrease|decreased|decline|declined|fell|lower)\b", growth.group(0), re.I
            ):
                num = Num(
                    -num.value, num.kind, num.raw, num.span, num.unit, num.scale, num.scaled, num.currency
                )
            if re.match(
                r"\s*(?:sequentially|quarter[- ]over[- ]quarter|from the (?:prior|previous|preceding) quarter"
                r"|from last quarter)",
                after,
                re.I,
            ) or _from_prior_quarter(after, doc_period):
                metric = f"{base} growth (sequential)"
            elif re.match(
                r"\s*(?:year[- ]over[- ]year|from (?:a year ago|the year-ago))", after, re.I
            ) or re.search(
                r"\byear[- ]over[- ]year\b|\ba year ago\b|\byear-ago\b", clause[num.span[1] :], re.I
            ):
                metric = f"{base} growth (year over year)"
            else:
                continue  # growth against what is not said in the clause
        elif re.search(r"(?:,\s*or|\()\s*$", before) and current:
            if re.match(r"\s+per (?:diluted )?share", after, re.I) and not re.search(
                r"income|earnings|profit|loss", current, re.I
            ):
                metric = f"{current} per share"  # "expenses of $127 million, or $0.13 per share"
            elif re.match(r"\s+per (?:diluted )?share", after, re.I):
                prefix = re.match(r"(?i)(GAAP|non-GAAP|adjusted)\s", current)
                loss = re.search(r"\bloss\b", current, re.I) and not re.search(
                    r"income|earnings|profit", current, re.I
                )
                # "a net loss of $8.9 million, or $0.08 per diluted share": a loss per share, not earnings
                metric = f"{prefix.group(1) + ' ' if prefix else ''}diluted {'net loss' if loss else 'earnings'} per share"
                if "diluted" not in after.lower()[:25]:
                    metric = metric.replace("diluted ", "")
            elif num.kind == "percent" and re.match(
                r"\s+of (?:total )?(?:net )?(?:revenues?|sales)", after, re.I
            ):
                metric = re.sub(r"\s+income$", "", current) + " margin"
            else:
                continue
        elif found:
            metric = _clean_phrase(found.group("metric"))
            if metric is None:
                continue
            metric = _with_basis(expense_metric(metric), clause[: num.span[0]])
            current = metric
        elif current and (
            (comparing and re.search(r"(?:compared\s+(?:with|to)|versus|vs\.?|from|and)\s*$", before, re.I))
            or re.search(r"\b(?:to|at)\s*$", before)
        ):
            metric = current
        elif _ENDED_WITH.search(before) and (counted := _COUNTED.match(after)):
            metric = counted.group("phrase")  # "We ended the quarter with 461 customers"
        elif re.search(r"\bshipped\s*$", before, re.I):
            unit_word = re.match(rf"\s+({'|'.join(_COUNT_NOUNS)})\b", after, re.I)
            if not unit_word:
                continue
            metric = f"{unit_word.group(1).lower()} shipped"
        else:
            continue
        metric = _without_subject(metric, subject)
        if not metric:
            continue
        leading = _LEADING_PERIOD.match(metric)
        said_before = clause[: num.span[0]]
        if leading:
            metric = metric[leading.end() :]
        ytd = _YEAR_TO_DATE.search(said_before)
        if (leading and leading.group("fy")) or (not leading and _FULL_YEAR.search(said_before)):
            period = _full_year(doc_period)
        elif ytd:
            period = _section_period(ytd.group(0), doc_period)
        if period is not None and _LAST_YEARS.search(said_before):
            period = period.prior_year()
        years = {int(y) for y in re.findall(r"\b((?:19|20)\d\d)\b", said_before)}
        if period is not None and years and not comparing and not years & _years_of(period):
            continue  # the clause names another year ("Results for 2022 included ...")
        if period is None and doc_period is not None:
            continue
        if (comparing or _COMPARE.search(before)) and growth is None:  # a growth rate is the current period's
            relative = _relative_period(after, clause[num.span[1] :], clause_period or doc_period)
            if relative is None:
                continue  # a comparison figure whose period the clause does not say
            period = relative
        else:
            dated = _AT_DATE.match(after.lstrip(" ,")) or _AT_DATE.search(after[:40])
            stated = _STATED_PERIOD.search(after)
            if dated and not metric.endswith(")"):
                period = Period(
                    dated.group(0).split(maxsplit=1)[1], None, parse_date(dated.group(0)), instant=True
                )
            elif period is None and (year := _FISCAL_YEAR_AFTER.match(after)):
                period = parse_period(year.group(1))  # "revenue was $152.2 million in fiscal 2025"
            elif stated and stated.group("ytd"):
                period = _section_period(stated.group("ytd"), doc_period)
            elif stated:
                period = parse_period(stated.group("quarter"), doc_period)
                if (
                    period is None or period.fiscal_year is None
                ):  # "for the first quarter": the document's year?
                    same = (
                        doc_period is not None and period is not None and period.quarter == doc_period.quarter
                    )
                    period = doc_period if same else None
                if period is None:
                    continue
            clause_period = period
        unit = _prose_unit(num, after, metric)
        if unit is None:
            continue
        unit_name, value, scale = unit
        if unit_name.startswith("per share") and not _PER_SHARE.search(metric):
            metric += " per diluted share" if re.match(r"\s+per diluted share", after, re.I) else " per share"
        if num.kind == "percent" and not (
            re.search(r"margin|rate|growth|percent|%|share of", metric, re.I) or "% of" in after[:8]
        ):
            continue  # a percentage of what is not said
        if _SEGMENT_WORDS.search(
            text, max(0, start + num.span[0] - 300), start + num.span[0]
        ) and not _names_part(metric):
            continue  # said while talking about a segment or a subsidiary: not the company's own figure
        if period is doc_period and _year_not_quarter(text, start + num.span[0], doc_period):
            continue  # a fourth-quarter report talking about its full year: the period is not the quarter
        problems = () if period is not None else ("period unknown",)
        if vague := metric_problem(metric):
            problems += (vague,)
        facts.append(
            Fact(
                subject=subject,
                metric=metric[0].upper() + metric[1:],
                period=period,
                value=value,
                unit=unit_name,
                scale=scale,
                raw=num.raw,
                page_no=page_no,
                char_start=start + num.span[0],
                char_end=start + num.span[1],
                table_cell=None,
                source="prose",
                problems=problems,
            )
        )
    return facts


_SEGMENT_WORDS = re.compile(r"\bsegments?\b|\bdivisions?\b|\bbusiness units?\b|\bsubsidiar(?:y|ies)\b", re.I)
_COMMON_FIRST = {
    "total", "net", "gross", "operating", "adjusted", "organic", "core", "consolidated", "reported", "gaap",
    "non-gaap", "diluted", "basic", "revenue", "revenues", "sales", "income", "earnings", "margin", "margins",
    "profit", "loss", "cash", "free", "capital", "comparable", "same", "sequential", "interest", "tax",
    "effective", "average", "orders", "bookings", "backlog", "expenses", "cost", "costs", "research",
    "selling", "general", "customers", "employees", "full-time", "dividend", "dividends", "shipments",
    "headcount", "other", "annual", "quarterly", "segment", "pre-tax", "pretax", "underlying", "overall",
}  # fmt: skip


def _names_part(metric: str) -> bool:
    """Whether a metric names the segment or business it belongs to ("Fleet Systems revenue", "Roto-Rooter
    revenue"): its first word is a name, not a measure's word or an acronym ("EBITDA", "EPS")."""
    first = metric.split()[0] if metric.split() else ""
    return first[:1].isupper() and not first.isupper() and first.lower() not in _COMMON_FIRST


_QUARTER_WORDS = r"\bQ4\b|\bfourth[\s-]quarter\b|\b(?:the|this) quarter\b|\bquarterly\b|\bthree months\b"
_YEAR_WORDS = (
    r"\bfull[\s-]year\b|\b(?:the|this) year\b(?![\s-](?:ago|over))|\bfiscal year\b|\bannual(?:ly)?\b"
    r"|\btwelve months\b|\b12 months\b|\byear[\s-]to[\s-]date\b|\b(?:for|in) (?:fiscal )?(?:19|20)\d\d\b"
    r"|(?<!quarter\s)(?<!quarter of\s)\bfiscal (?:19|20)\d\d\b(?!\s+(?:first|second|third|fourth)\s+quarter)"
)
_LAST_PERIOD_WORD = re.compile(rf"(?P<q>{_QUARTER_WORDS})|(?P<y>{_YEAR_WORDS})", re.I)


def _year_not_quarter(text: str, at: int, doc_period: Period | None) -> bool:
    """Whether a figure of a fourth-quarter report, whose clause names no period, is not the quarter's:
    such a report talks about the quarter and the full year in turn ("For the full year, ... Record
    adjusted diluted earnings per share of $8.51"), so the period last named in the 600 characters
    before it decides, and a figure after none is skipped."""
    if doc_period is None or doc_period.quarter != 4:
        return False
    said = list(_LAST_PERIOD_WORD.finditer(text, max(0, at - 600), at))
    return not said or said[-1].group("y") is not None


def _from_prior_quarter(after: str, doc_period: Period | None) -> bool:
    """ "up 6.7% from the second quarter" in a third-quarter document: growth over the quarter before."""
    m = re.match(r"\s*(?:from|over|compared (?:with|to)|versus)\s+the\s+(first|second|third|fourth)\s+quarter\b",
                 after, re.I)  # fmt: skip
    prior = doc_period.prior_quarter() if doc_period is not None else None
    return bool(m and prior is not None and ORDINALS.get(m.group(1).lower()) == prior.quarter)


_BASIS = re.compile(r"\bon an? (?P<b>non-GAAP|GAAP|adjusted) basis\b", re.I)


def _with_basis(metric: str, said_before: str) -> str:
    """ "On a non-GAAP basis, diluted earnings per share were $0.83": the basis belongs to the metric."""
    basis = _BASIS.search(said_before)
    if basis is None or re.search(r"\b(?:GAAP|adjusted)\b", metric, re.I):
        return metric
    word = basis.group("b")
    return f"{'adjusted' if word.lower() == 'adjusted' else word} {metric}"


_FISCAL_YEAR_AFTER = re.compile(r"\s+(?:in|for)\s+((?:fiscal(?:\s+year)?|FY)\s?'?\d{2,4})\b", re.I)


def _without_subject(metric: str, subject: str | None) -> str:
    """The metric without the company's name before it ("Alpha Corp revenue" -> "revenue"), also when
    a heading ran into the sentence ("Alpha Corp annual report Alpha Corp revenue")."""
    if not subject:
        return metric
    lowered = metric.lower()
    for name in (subject, short_name(subject)):
        at = lowered.rfind(name.lower())
        if at >= 0:
            return metric[at + len(name) :].lstrip(" '’s").strip()
    return metric


def _years_of(period: Period) -> set[int]:
    return {y for y in (period.fiscal_year, period.end.year if period.end else None) if y}


def _full_year(doc_period: Period | None) -> Period | None:
    if doc_period is None or doc_period.fiscal_year is None:
        return None
    return Period(f"fiscal {doc_period.fiscal_year}" if doc_period.fiscal else str(doc_period.fiscal_year), 12,
                  doc_period.end if doc_period.quarter == 4 else None, doc_period.fiscal_year, None, doc_period.fiscal)  # fmt: skip


def _relative_period(after: str, rest: str, doc_period: Period | None) -> Period | None:
    """The period a comparison figure belongs to: said right after it, else later in the clause."""
    bare = re.match(
        r"\s*,?\s*(?:in|for|during) the (first|second|third|fourth) quarter\b(?!\s+of)", after, re.I
    )
    if bare:  # "up from $43 million in the first quarter": the quarter before, or not said which year
        prior = doc_period.prior_quarter() if doc_period is not None else None
        return prior if prior is not None and ORDINALS[bare.group(1).lower()] == prior.quarter else None
    for text in (after, rest):
        explicit = _EXPLICIT.search(text)
        year_ago = _YEAR_AGO.search(text)
        prior_q = _PRIOR_QUARTER.search(text)
        found = sorted(
            (m.start(), kind, m)
            for kind, m in (("explicit", explicit), ("year", year_ago), ("prior", prior_q))
            if m
        )
        if not found:
            continue
        _, kind, m = found[0]
        if kind == "explicit":
            return parse_period(m.group(0).split(maxsplit=1)[1], doc_period)
        if doc_period is None:
            return None
        return doc_period.prior_year() if kind == "year" else doc_period.prior_quarter()
    return None


# ---------------------------------------------------------------------------------------- spec facts

# "Payload | 300 kg (661 lb)": a measured quantity with its unit, nothing else counted in the cell
_SPEC_UNITS = (
    r"kg|g|lbs?|tonnes?|t|m/s|km/h|mph|mm|cm|m|km|in|ft|hours?|hrs?|minutes?|mins?|seconds?|kWh|Wh|kW|W|V|"
    r"mAh|Ah|GB|TB|MB|GHz|MHz|Hz|°C|°F|dB|liters?|litres?|L|gallons?|robots|units|users|sites"
)
_SPEC_VALUE = re.compile(rf"^(?P<num>\d[\d,]*(?:\.\d+)?)\s*(?P<unit>{_SPEC_UNITS})(?![\w/])(?P<rest>.*)$")
_PIPE_ROW = re.compile(r"^[ \t]*(?P<label>[^|\n]{1,60}?)[ \t]*\|[ \t]*(?P<value>[^|\n]{1,80}?)[ \t]*$", re.M)
_GENERIC_HEADERS = {
    "value",
    "values",
    "specification",
    "specifications",
    "spec",
    "specs",
    "detail",
    "details",
}
_MONTH_YEAR = re.compile(
    r"\b(?P<m>January|February|March|April|May|June|July|August|September|October|November|December)"
    r"\s+(?P<y>(?:19|20)\d\d)\b"
)


def spec_facts(page_text: str, identity: DocIdentity | None, page_no: int = 1) -> list[Fact]:
    """Product specifications in a two-column table ("Specification | Strider S2", then "Payload |
    300 kg (661 lb)"): one fact per row whose value is one measured quantity, the product named from the
    header, dated by the month the document is dated (a specification has no reporting period). Rows
    with more than one figure ("112 cm x 72 cm", "80% in 30 minutes") or no unit are skipped."""
    subject = identity.subject if identity else None
    dated = _MONTH_YEAR.search(page_text[:1500])
    facts: list[Fact] = []
    rows = list(_PIPE_ROW.finditer(page_text))
    product: str | None = None
    prev_end = -2
    for m in rows:
        label, value = m.group("label").strip(), m.group("value").strip()
        contiguous = page_text[prev_end + 1 : m.start()].strip() == "" if prev_end >= 0 else False
        prev_end = m.end()
        if not contiguous and not _SPEC_VALUE.match(value):  # a new table's header row
            product = None if value.lower() in _GENERIC_HEADERS else value
            continue
        spec = _SPEC_VALUE.match(value)
        if spec is None or product is None:
            continue
        rest = re.sub(r"\([^)]*\)", "", spec.group("rest"))
        if re.search(r"\d", rest) or not label[:1].isalpha():
            continue
        problems = () if dated else ("no date: a specification is asked as of the document's date",)
        period = Period(f"{dated.group('m')} {dated.group('y')}", None, None, int(dated.group("y")), None,
                        False, True) if dated else None  # fmt: skip
        num_text = spec.group("num")
        start = m.start("value") + spec.start("num")
        facts.append(
            Fact(
                subject=subject,
                metric=f"{product} {label[0].lower() + label[1:] if not label.isupper() else label}",
                period=period,
                value=Decimal(num_text.replace(",", "")),
                unit=spec.group("unit"),
                scale=Decimal(1),
                raw=f"{num_text} {spec.group('unit')}",
                page_no=page_no,
                char_start=start,
                char_end=m.start("value") + spec.end("unit"),
                table_cell=None,
                source="spec",
                problems=problems,
            )
        )
    return facts
