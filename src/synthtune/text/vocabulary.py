"""What an analyst says and what a filing writes: "top line" for revenue, "capex" for purchases of property
and equipment, "borrowing costs" for interest expense. Lexical search looks for a filing's words as well
when a query uses an analyst's (``search.expand_terms``); a user adds their own with ``search.synonyms``.

One way only: a query that already uses a filing's word ("revenue") is not widened to its neighbours
("sales"), which would rank every page that says them. Pure functions: no store, no model.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

# (what a query may say, as a regular expression; what filings and releases write for it)
FINANCE_TERMS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (r"top[- ]line", ("revenue", "revenues", "net sales")),
    (r"bottom[- ]line", ("net income", "net earnings")),
    (r"profit per share|earnings per share|\bEPS\b", ("earnings per share", "per diluted share", "EPS")),
    (r"cash after cap(?:ital )?ex|free cash flow|\bFCF\b", ("free cash flow",)),
    (
        r"\bcapex\b|capital expenditures?|capital spending",
        (
            "capital expenditures",
            "purchases of property and equipment",
            "purchases of property, plant and equipment",
            "capital spending",
        ),
    ),
    (r"borrowing costs?|interest costs?|cost of debt", ("interest expense",)),
    (r"head ?count|workforce", ("employees",)),
    (
        r"\bcomps\b|comparable[- ]store sales|same[- ]store sales|like[- ]for[- ]like sales",
        ("comparable sales", "comparable store sales"),
    ),
    (r"\bD&A\b", ("depreciation and amortization",)),
    (r"\bCOGS\b|cost of goods sold", ("cost of sales", "cost of revenue", "cost of goods sold")),
    (r"\bSG&A\b", ("selling, general and administrative",)),
    (r"\bR&D\b", ("research and development",)),
    (
        r"operating cash flow|cash (?:flow )?from operations",
        ("cash provided by operating activities", "operating cash flow"),
    ),
    (r"buy ?backs?|share repurchases?|bought back", ("repurchased", "share repurchases")),
    (r"\bAFFO\b", ("adjusted funds from operations",)),
    (r"\bFFO\b", ("funds from operations",)),
    (r"\bPP&E\b", ("property, plant and equipment", "property and equipment")),
    # a statement by an analyst's name: "P&L" is no word a filing's index holds
    (
        r"\bP&L\b|profit (?:and|&) loss|income statements?",
        ("statements of operations", "statements of income", "statements of earnings"),
    ),
    (r"balance sheets?", ("statements of financial position",)),
    # a ratio an analyst computes is asked by its name; the statements write its parts, and the page with
    # them is the evidence ("What is 3M's FY2022 quick ratio?" -> the balance sheet)
    (
        r"quick ratio|acid[- ]test",
        (
            "total current liabilities",
            "cash and cash equivalents",
            "accounts receivable",
            "marketable securities",
        ),
    ),
    (r"current ratio|working capital", ("total current assets", "total current liabilities")),
    (
        r"fixed[- ]asset turnover",
        ("property, plant and equipment", "property and equipment", "net sales", "total revenues"),
    ),
    (r"(?<!fixed )(?<!fixed-)asset turnover|return on (?:total )?assets|\bROA\b", ("total assets",)),
    (r"inventory turnover|days (?:of |in )?inventory|\bDIO\b", ("inventories", "cost of sales")),
    (r"days payables?(?: outstanding)?|\bDPO\b", ("accounts payable", "cost of sales")),
    (r"days sales outstanding|\bDSO\b|receivables? turnover", ("accounts receivable",)),
    (r"(?:dividend )?payout ratio", ("dividends", "net income")),
    (
        r"return on (?:shareholders'?|stockholders'?|common )?\s*equity|\bROE\b",
        ("shareholders' equity", "stockholders' equity", "net income"),
    ),
    (r"debt[- ]to[- ]equity|debt[- ]to[- ]capital", ("long-term debt", "total debt", "stockholders' equity")),
    (r"interest coverage", ("interest expense", "operating income")),
    (r"unadjusted EBITDA", ("operating income", "depreciation and amortization")),
    (r"cash conversion cycle", ("inventories", "accounts receivable", "accounts payable")),
)


@dataclass(frozen=True)
class Vocabulary:
    """Compiled query phrasings and the words to look for besides them."""

    entries: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...]

    @classmethod
    def build(cls, finance: bool = True, synonyms: Mapping[str, list[str]] | None = None) -> Vocabulary:
        """The built-in finance terms (unless ``finance`` is off) and the user's ``synonyms``: a phrase a
        query may use (matched as whole words, any case) -> what documents write for it."""
        entries = [(re.compile(p, re.I), words) for p, words in FINANCE_TERMS] if finance else []
        for said, written in (synonyms or {}).items():
            if said.strip() and written:
                pattern = r"(?<!\w)" + r"\s+".join(map(re.escape, said.split())) + r"(?!\w)"
                entries.append((re.compile(pattern, re.I), tuple(w for w in written if w.strip())))
        return cls(tuple(entries))

    def expand(self, query: str) -> tuple[str, ...]:
        """The phrases to look for besides the query's own words ("revenue", "net sales" for "What was
        Acme's top line?"), leaving out those the query already says."""
        said = query.lower()
        extra: dict[str, None] = {}
        for pattern, written in self.entries:
            if pattern.search(query):
                for w in written:
                    if not re.search(r"(?<!\w)" + re.escape(w.lower()) + r"(?!\w)", said):
                        extra[w] = None
        return tuple(extra)
