"""Retrieval with citations: lexical (BM25) and dense candidates from the store, fused by weighted
reciprocal rank (``search.fusion: rrf``) or by their scores scaled to [0, 1] (``scores``).

The store ranks the candidates (SQLite: FTS5 and an exact numpy search over vectors it keeps in memory
until the knowledge base changes); this module decides what to ask for and how to fuse the answers.

A query that names a company (name or ticker) or a period is matched against what ingest found each
document to be about (``text/identity.py``): the named company's documents are searched alone or ranked
higher, and among them the named period's (``search.subject_match`` / ``period_match``). A boost fuses a
second ranking restricted to those documents; the :class:`Scope` says what was matched, for the user.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from typing import Literal

from synthtune.config import SearchSettings, Settings
from synthtune.embed import Embedder, check_model
from synthtune.errors import SynthtuneError
from synthtune.store import Passage, Store
from synthtune.text.identity import (
    PeriodRef,
    first_word,
    identity_from_json,
    query_periods,
    short_name,
)
from synthtune.text.periods import Period
from synthtune.text.vocabulary import Vocabulary

Mode = Literal["hybrid", "dense", "lexical"]

# words too common to help BM25; dropping them keeps OR-queries fast on large stores
_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "did",
        "do",
        "does",
        "for",
        "from",
        "had",
        "has",
        "have",
        "how",
        "i",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "than",
        "that",
        "the",
        "their",
        "there",
        "these",
        "this",
        "to",
        "was",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "whom",
        "why",
        "will",
        "with",
    ]
)
_WORD = re.compile(r"\w+", re.UNICODE)
_PAGED = "application/pdf"  # the format whose pages are pages (a text or HTML file is one "page")
_WIDEN = 4  # BM25 candidates taken for a query whose company or period ranks some documents higher


@dataclass
class Hit:
    chunk_id: int
    document_id: int
    title: str
    source_path: str
    page_start: int
    page_end: int
    char_start: int
    char_end: int
    score: float
    text: str

    def to_json(self) -> dict:
        return asdict(self)

    @property
    def citation(self) -> str:
        pages = (
            f"p. {self.page_start}"
            if self.page_start == self.page_end
            else f"pp. {self.page_start}-{self.page_end}"
        )
        return f"{self.title}, {pages}"


def query_terms(query: str) -> list[str]:
    """The words lexical search looks for: lower-cased, unique, stopwords dropped (unless that leaves
    nothing, when matching a stopword beats matching nothing)."""
    words = [w.lower() for w in _WORD.findall(query)]
    keep = [w for w in words if w not in _STOPWORDS] or words
    return list(dict.fromkeys(keep))


Ranking = list[tuple[int, float]]  # (chunk id, score), best first


def rrf(rankings: list[tuple[list[int], float]], k: int) -> list[tuple[int, float]]:
    """Weighted reciprocal rank fusion of ranked id lists: score = sum w / (k + rank), rank from 1."""
    scores: dict[int, float] = {}
    for ids, weight in rankings:
        if weight <= 0:
            continue
        for rank, cid in enumerate(ids, start=1):
            scores[cid] = scores.get(cid, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


def fuse_scores(rankings: list[tuple[Ranking, float, float]]) -> list[tuple[int, float]]:
    """Weighted sum of each ranking's scores scaled to [0, 1] between its best candidate (1) and its
    ``floor`` (0): the score of the first candidate it left out, or 0 when it left none out (a small
    store), so that every candidate taken counts for something. A chunk a ranking did not return counts 0
    there. Unlike ranks, scaled scores keep how far apart two candidates are: a chunk far ahead on one
    ranking stays ahead of one that is merely second on both."""
    fused: dict[int, float] = {}
    for ranked, weight, floor in rankings:
        if weight <= 0 or not ranked:
            continue
        top = max(s for _, s in ranked)
        span = top - floor
        for cid, s in ranked:
            fused[cid] = fused.get(cid, 0.0) + weight * ((s - floor) / span if span > 0 else 1.0)
    return sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))


def cut(ranked: Ranking, n: int) -> tuple[Ranking, float]:
    """The first ``n`` candidates of a ranking asked for ``n + 1``, and the floor :func:`fuse_scores` scales
    them to: the score of the one left out, else 0 (or the worst score, when that is below 0)."""
    floor = ranked[n][1] if len(ranked) > n else min(0.0, min((s for _, s in ranked), default=0.0))
    return ranked[:n], floor


@dataclass(frozen=True)
class KnownDocument:
    """What search knows of a document's identity (found at ingest, see ``text/identity.py``)."""

    id: int
    names: tuple[str, ...]  # "Best Buy Co., Inc.", "Best Buy": matched case-insensitively
    ticker: str | None  # "BBY": matched as written
    period: Period | None
    initials: str | None = None  # "AMD" for Advanced Micro Devices: matched as written


@dataclass(frozen=True)
class Scope:
    """What a query names and what search did with it: the documents it searched (None: all), the ones
    it ranked higher, and notes for the user ("'Globex' names no document")."""

    subjects: tuple[str, ...] = ()
    periods: tuple[str, ...] = ()
    searched: frozenset[int] | None = None
    boosted: tuple[frozenset[int], ...] = ()
    notes: tuple[str, ...] = ()
    # the query without the names and periods that chose the documents above ("What was capex in ?" of
    # "What was Globex's capex in FY2018?"): among those documents they tell nothing apart, and the dense
    # ranking of them follows the rest of the query more closely without them; None: no change
    narrowed: str | None = None
    # what lexical search looked for besides the query's words ("revenue" for "top line"; search.synonyms)
    expanded: tuple[str, ...] = ()

    def describe(self, n_documents: int) -> str:
        """One line for the user: "company: Best Buy -> searched 2 of 25 documents; period: Q4 2023 ->
        ranked 1 document higher"; "" when the query named nothing."""
        parts = []
        if self.subjects:
            parts.append("company: " + ", ".join(self.subjects))
        if self.periods:
            parts.append("period: " + ", ".join(self.periods))
        if self.searched is not None:
            parts.append(f"searched {len(self.searched)} of {n_documents} documents")
        for docs in self.boosted:
            parts.append(f"ranked {len(docs)} document{'s' if len(docs) != 1 else ''} higher")
        if self.expanded:
            parts.append("also looked for: " + ", ".join(self.expanded))
        return "; ".join(parts + list(self.notes))

    def to_json(self) -> dict:
        return {
            "subjects": list(self.subjects),
            "periods": list(self.periods),
            "searched_documents": sorted(self.searched) if self.searched is not None else None,
            "boosted_documents": [sorted(d) for d in self.boosted],
            "notes": list(self.notes),
            "narrowed_query": self.narrowed,
            "expanded_terms": list(self.expanded),
        }


def _without(query: str, names: Collection[str], periods: Collection[str]) -> str | None:
    """``query`` with ``names`` (and their possessive "'s" or "'") and ``periods`` taken out; None when that
    leaves no word to look for."""
    out = query
    for name in sorted(names, key=len, reverse=True):
        out = re.sub(r"(?<![\w&])" + re.escape(name) + r"(?:['’]s?)?(?![\w&])", " ", out)
    for text in sorted(periods, key=len, reverse=True):
        out = out.replace(text, " ")
    out = re.sub(r"\s+", " ", out).strip()
    return out if any(w.lower() not in _STOPWORDS for w in _WORD.findall(out)) else None


# "Globex's", "Initech’s": a name the query asks about, to say so when no document is about it
_POSSESSIVE = re.compile(r"\b(?P<name>[A-Z][\w&.-]*(?:\s+[A-Z][\w&.-]*){0,3})['’]s\b")
# "the Company's", "Today's", "Management's": possessives that name no one in particular
_GENERIC_OWNERS = frozenset(
    [
        "company",
        "companies",
        "firm",
        "group",
        "corporation",
        "business",
        "segment",
        "management",
        "board",
        "today",
        "year",
        "quarter",
        "month",
        "week",
        "world",
        "nation",
        "country",
        "industry",
        "market",
        "customer",
        "customers",
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ]
)


# a run of capitalised words in a query ("Home Depot", "Sherwin-Williams", "FactSet", "McCormick"), joined
# by spaces, "&", "and" or "of" ("Pacific Gas and Electric", "Bank of America"): a name the query may ask
# about when no document's identity gives it
_CAPITALISED_RUN = re.compile(
    r"(?<![\w&.'’-])[A-Z][a-z]+[\w&-]*(?:[ \t]+(?:(?:&|and|of)[ \t]+)?[A-Z][a-z]+[\w&-]*)*"
)
# words a question or request starts with, capitalised as the first word of any sentence is
_OPENERS = frozenset(
    ["according", "after", "before", "compare", "describe", "during", "give", "list", "per", "show", "since",
     "summarize", "summarise", "tell"]
)  # fmt: skip
_MENTION_CHUNKS = 200  # a name in more chunks than this is too common to tell documents apart


def _said_names(query: str) -> list[tuple[str, list[str]]]:
    """The capitalised names a query says, each with the forms a text may write it in, most complete
    first: the name, its shorter forms (:func:`_aliases`), and the parts "and" or "of" join. Not a
    first word that any question starts with ("What", "How", "According"), months, "The", or words
    that name no one in particular ("Company", "Quarter") at a name's ends."""
    out: dict[str, list[str]] = {}
    for m in _CAPITALISED_RUN.finditer(query):
        words = m.group(0).split()
        if m.start() == 0 and words[0].lower() in _STOPWORDS | _OPENERS:
            words = words[1:]
        while words and (words[0] in ("The", "&", "and", "of") or words[0].lower() in _GENERIC_OWNERS):
            words = words[1:]
        while words and (words[-1] in ("&", "and", "of") or words[-1].lower() in _GENERIC_OWNERS):
            words = words[:-1]
        if not words:
            continue
        said = " ".join(words)
        forms = [said, *_aliases(said)]
        parts = re.split(r" (?:and|of) ", said)
        if len(parts) > 1:
            forms += [f for part in parts for f in (part, *_aliases(part))]
        out.setdefault(said, list(dict.fromkeys(forms)))
    return list(out.items())


# a last word a company's everyday name drops ("MGM Resorts International" -> "MGM Resorts")
_DROPPED_LAST = frozenset({"International", "Holdings", "Group", "Worldwide"})
# abbreviations of finance words, never taken for a company's initials
_NOT_INITIALS = frozenset(
    {"EPS", "GAAP", "FCF", "ROE", "ROA", "ROI", "ROIC", "SGA", "CEO", "CFO", "ARR", "TTM"}
)


def _aliases(subject: str) -> tuple[str, ...]:
    """The names a query may use for a company: "Costco Wholesale Corporation", "Costco Wholesale",
    "Costco"; "Amazon" for Amazon.com; "MGM Resorts" for MGM Resorts International. A one-word name
    counts only capitalised in a query (see :class:`_Catalog`)."""
    short = short_name(subject)
    names = [subject, short]
    words = short.split()
    if short.lower().endswith(".com"):
        names.append(short[: -len(".com")])
    if len(words) > 2 and words[-1] in _DROPPED_LAST:
        names.append(" ".join(words[:-1]))
    names.append(first_word(subject) or "")
    return tuple(dict.fromkeys(n for n in names if n.strip()))


def _initials(subject: str) -> str | None:
    """What analysts call a company of three or more words by: "AMD" for Advanced Micro Devices, and
    "J&J" for Johnson & Johnson. Matched as written, like a ticker."""
    words = short_name(subject).split()
    if len(words) == 3 and words[1] == "&":
        return f"{words[0][0]}&{words[2][0]}".upper()
    words = [w for w in words if w.lower() not in ("&", "and", "of", "the")]
    if any(w.isupper() and len(w) > 1 for w in words):  # "MGM Resorts": called by its own capitals
        return None
    initials = "".join(w[0] for w in words).upper()
    if len(initials) >= 3 and initials.isalpha() and initials not in _NOT_INITIALS:
        return initials
    return None


def _name_key(name: str) -> str:
    """A name as matching compares it: case, spaces, hyphens and dots aside ("Coca Cola" = "Coca-Cola",
    "Walmart" = "Wal-Mart")."""
    return re.sub(r"[\s.\-]+", "", name.lower())


def _period_fits(ref: PeriodRef, period: Period | None, whole_year: bool) -> bool:
    """Whether a document of ``period`` is one the query's period points to. A year asked ("capex in
    FY2018") is answered by the year's annual report or fourth-quarter release first (``whole_year``);
    a document whose period is unknown (an 8-K about a settlement) is not ranked below for a year."""
    if ref.quarter is not None or ref.end is not None:
        return ref.matches(period)
    if period is None:
        return True
    if not ref.matches(period):
        return False
    return not whole_year or period.months == 12 or period.quarter in (None, 4)


class _Catalog:
    """The documents search knows the identity of, with one regex over all their names (case-insensitive)
    and one over their tickers and initials (as written), so a query is matched in one pass."""

    def __init__(
        self,
        version: str | None,
        documents: list[KnownDocument],
        n_stored: int,
        paged: frozenset[int] = frozenset(),
    ):
        self.version = version
        self.documents = documents
        self.n_stored = n_stored  # documents in the store, known or not
        self.paged = paged  # the documents with pages (PDFs): search.per_page counts their results per page
        self.by_name: dict[str, set[int]] = {}
        self.by_ticker: dict[str, set[int]] = {}
        # documents of one ticker are one company's, whichever of them names it: a call transcript that
        # never says "Maximus" is found by the name its sibling (MMS's other call) says
        of_ticker: dict[str, set[int]] = {}
        for d in documents:
            if d.ticker and len(d.ticker) >= 2:
                of_ticker.setdefault(d.ticker, set()).add(d.id)
        self.siblings = {d: same for same in of_ticker.values() for d in same}
        self.one_word: dict[str, set[str]] = {}  # key -> the one-word names it stands for, as written
        names: dict[str, None] = {}
        for d in documents:
            for n in d.names:
                self.by_name.setdefault(_name_key(n), set()).add(d.id)
                names[n] = None
                if len(n.split()) == 1:
                    self.one_word.setdefault(_name_key(n), set()).add(n)
            for t in (d.ticker, d.initials):  # as written
                if t and len(t) >= 2:
                    self.by_ticker.setdefault(t, set()).add(d.id)
        self.names = _alternation(list(names), re.IGNORECASE, loose=True)
        self.tickers = _alternation(list(self.by_ticker), 0)

    def named(self, query: str) -> tuple[tuple[str, ...], set[int]]:
        """The names and tickers the query uses, and their documents. A one-word name counts only
        capitalised or as its documents write it ("Block" or "BLOCK", not "block trades"; "eBay")."""
        found: dict[str, None] = {}
        docs: set[int] = set()
        for pattern, index, key in (
            (self.names, self.by_name, _name_key),
            (self.tickers, self.by_ticker, str),
        ):
            if pattern is None:
                continue
            for m in pattern.finditer(query):
                said = m.group(0)
                written = self.one_word.get(key(said)) if index is self.by_name else None
                if written and not (said[0].isupper() or said in written):
                    continue
                found[said] = None
                docs |= index[key(said)]
        return tuple(found), docs.union(*(self.siblings.get(d, ()) for d in docs))


def _alternation(names: list[str], flags: int, loose: bool = False) -> re.Pattern[str] | None:
    """One regex for all ``names``, longest first ("Costco Wholesale" before "Costco"); ``loose``: any
    run of spaces, hyphens or dots in a name matches any other, or none ("Coca Cola", "Wal-Mart")."""
    if not names:
        return None
    names = sorted(names, key=len, reverse=True)
    parts = []
    for n in names:
        if loose:
            bits = [re.escape(b) for b in re.split(r"[\s.\-]+", n) if b]
            parts.append(r"[\s.\-]*".join(bits) + (r"\.?" if n.endswith(".") else ""))
        else:
            parts.append(re.escape(n))
    return re.compile(r"(?<![\w&])(?:" + "|".join(parts) + r")(?![\w&])", flags)


class Searcher:
    """Search one store. Reuse it for many queries: the store keeps its vectors loaded between them, and
    the searcher what it knows of each document."""

    def __init__(self, store: Store, settings: Settings, embedder: Embedder | None = None):
        self.store = store
        self.settings = settings
        self.embedder = embedder or Embedder(settings.embedding)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="synthtune-bm25")
        self._catalog: _Catalog | None = None
        self._doc_of: tuple[str | None, dict[int, int]] | None = None
        self._mentions: dict[tuple[str | None, str], frozenset[int]] = {}
        self._vocabulary = Vocabulary.build(settings.search.expand_terms, settings.search.synonyms)

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    # -- what the query names ------------------------------------------------------------------------

    def documents(self) -> _Catalog:
        """Each document's names, ticker and period, read again only when the knowledge base changes."""
        version = self.store.kb_version()
        if self._catalog is None or self._catalog.version != version:
            known = []
            stored = self.store.documents()
            paged = frozenset(d.id for d in stored if d.media_type == _PAGED)
            for d in stored:
                ident = identity_from_json(d.metadata.get("identity"))
                if ident is None:
                    continue
                names = _aliases(ident.subject) if ident.subject else ()
                initials = _initials(ident.subject) if ident.subject else None
                known.append(KnownDocument(d.id, names, ident.ticker, ident.period, initials))
            self._catalog = _Catalog(version, known, len(stored), paged)
        return self._catalog

    def scope(self, query: str, catalog: _Catalog | None = None) -> Scope:
        """The documents a query's company and period point to, under `search.subject_match` and
        `search.period_match` (``catalog``: :meth:`documents`, when the caller has it)."""
        cfg: SearchSettings = self.settings.search
        catalog = catalog or self.documents()
        subjects, by_subject = catalog.named(query) if cfg.subject_match != "off" else ((), set())
        notes = []
        # no document's identity names the company asked about: the documents whose text says it (a call
        # transcript that never states its company's legal name) rank higher, never alone
        mentioned: tuple[str, ...] = ()
        by_mention: set[int] = set()
        if not by_subject and cfg.subject_match != "off":
            for said, forms in _said_names(query):
                for form in forms:  # "Universal Insurance Holdings", "Universal Insurance", ...
                    docs = self._said_by(form, catalog)
                    if docs:
                        mentioned += (said,)
                        by_mention |= docs
                        break
        if not by_subject and not by_mention:
            for m in _POSSESSIVE.finditer(query):
                name = m.group("name")
                if not {w.lower() for w in name.split()} & (_STOPWORDS | _GENERIC_OWNERS):
                    notes.append(
                        f"no document is about {name!r} (as far as synthtune can tell): searched all"
                    )
        # A period narrows a company's documents (its Q2 release, not its Q1 one); across companies it
        # would rank every filing of that quarter higher, which the search dev set shows hurts. A quarter
        # named is the period asked about; a bare year ("2029 bonds", "fiscal 2024 outlook") often is not,
        # so years count only when no quarter is named.
        chosen = by_subject or by_mention
        refs = query_periods(query) if cfg.period_match != "off" and chosen else []
        if any(r.quarter or r.end for r in refs):
            refs = [r for r in refs if r.quarter or r.end]
        pool = [d for d in catalog.documents if d.id in chosen]
        by_period = {d.id for d in pool if any(_period_fits(r, d.period, whole_year=True) for r in refs)}
        if not by_period:  # no annual report or fourth-quarter release of that year: any filing of it
            by_period = {d.id for d in pool if any(_period_fits(r, d.period, whole_year=False) for r in refs)}
        if refs and not by_period:
            among = "those searched" if by_subject else "those that say " + " or ".join(map(repr, mentioned))
            notes.append("no document of " + ", ".join(r.text for r in refs) + " among " + among)
        searched: set[int] | None = None
        boosted: list[frozenset[int]] = []
        if by_subject:
            if cfg.subject_match == "filter":
                searched = set(by_subject)
            else:
                boosted.append(frozenset(by_subject))
        if by_mention:
            boosted.append(frozenset(by_mention))
            notes.append(
                f"no document is about {' or '.join(map(repr, mentioned))} (as far as synthtune can tell): "
                f"ranked the {len(by_mention)} that say{'s' if len(by_mention) == 1 else ''} it higher"
            )
        if by_period:
            if cfg.period_match == "filter" and by_subject:  # a text's mention only ranks higher
                searched = by_period if searched is None else searched & by_period
            else:
                boosted.append(frozenset(by_period))
        narrowed = None
        if chosen:
            narrowed = _without(query, subjects + mentioned, [r.text for r in refs] if by_period else [])
        return Scope(
            subjects=tuple(subjects),
            periods=tuple(r.label for r in refs),
            searched=frozenset(searched) if searched is not None else None,
            boosted=tuple(b for b in boosted if searched is None or not searched <= b),
            notes=tuple(notes),
            narrowed=narrowed if narrowed != query.strip() else None,
            expanded=self._vocabulary.expand(query),
        )

    def _said_by(self, name: str, catalog: _Catalog) -> frozenset[int]:
        """The documents whose text says ``name`` with its capitals as written (spaces, hyphens and dots
        loose), when no more than a tenth of the stored documents say it, or one: a name more of them say
        is no one company's. Remembered until the knowledge base changes."""
        key = (catalog.version, name)
        if key in self._mentions:
            return self._mentions[key]
        if len(self._mentions) > 4096:
            self._mentions.clear()
        found: frozenset[int] = frozenset()
        ids = [c for c, _ in self.store.lexical_candidates([name], _MENTION_CHUNKS + 1)]
        if len(ids) <= _MENTION_CHUNKS:
            pattern = _alternation([name], 0, loose=True)
            assert pattern is not None
            docs = frozenset(p.document_id for p in self.store.passages(ids) if pattern.search(p.text))
            if docs and len(docs) <= max(1, catalog.n_stored // 10):
                found = docs
        self._mentions[key] = found
        return found

    def _chunk_documents(self) -> dict[int, int]:
        """Each chunk's document, read again only when the knowledge base changes."""
        version = self.store.kb_version()
        if self._doc_of is None or self._doc_of[0] != version:
            by_doc = self.store.chunk_ids_by_document()
            self._doc_of = (version, {c: d for d, ids in by_doc.items() for c in ids})
        return self._doc_of[1]

    # -- rankings ----------------------------------------------------------------------------------

    def lexical(
        self,
        query: str,
        n: int,
        documents: Collection[int] | None = None,
        expanded: Collection[str] = (),
    ) -> list[tuple[int, float]]:
        """BM25 candidates for the query's words and the ``expanded`` phrases (each looked for whole)."""
        terms = query_terms(query)
        terms += [t for t in expanded if t.lower() not in terms]
        return self.store.lexical_candidates(terms, n, document_ids=documents)

    # -- public ------------------------------------------------------------------------------------

    def search(
        self,
        query: str,
        k: int | None = None,
        mode: Mode | None = None,
        document_ids: Collection[int] | None = None,
    ) -> list[Hit]:
        """The ``k`` best chunks for ``query``; with ``document_ids``, only chunks of those documents."""
        return self.search_scoped(query, k, mode, document_ids)[0]

    def search_scoped(
        self,
        query: str,
        k: int | None = None,
        mode: Mode | None = None,
        document_ids: Collection[int] | None = None,
    ) -> tuple[list[Hit], Scope]:
        """The ``k`` best chunks for ``query`` and the scope the query's company and period gave it."""
        cfg: SearchSettings = self.settings.search
        k = k or cfg.k
        mode = mode or cfg.mode
        if mode not in ("hybrid", "dense", "lexical"):
            raise SynthtuneError(f"unknown search mode '{mode}': use hybrid, dense or lexical")
        if not query.strip():
            raise SynthtuneError("empty query: say what to look for")
        if not _WORD.search(query):
            raise SynthtuneError(f"the query {query!r} has no words to look for")
        if mode != "lexical":
            check_model(self.store, self.embedder)
        if all(w.lower() in _STOPWORDS for w in _WORD.findall(query)):
            raise SynthtuneError(
                f"the query {query!r} has only common words ('the', 'of', ...): name what to look for"
            )
        catalog = self.documents()  # one read of the store's version per search
        if not catalog.n_stored:
            raise SynthtuneError(
                "nothing to search: the knowledge base is empty (run `synthtune ingest PATH`)"
            )
        scope = self.scope(query, catalog)
        if mode == "dense":  # nothing lexical was looked for
            scope = replace(scope, expanded=())
        searched: set[int] | None = None if scope.searched is None else set(scope.searched)
        if document_ids is not None:
            searched = set(document_ids) if searched is None else searched & set(document_ids)
        n = max(k, cfg.candidates)
        model = self.store.embedding_model(self.embedder.name) if mode != "lexical" else None
        weights = {"dense": cfg.dense_weight, "lexical": cfg.lexical_weight}
        if mode != "hybrid":
            weights = {mode: 1.0}
        groups: list[tuple[set[int] | None, float]] = [(searched, 1.0)]
        groups += [
            (set(b) if searched is None else set(b) & searched, cfg.match_boost)
            for b in scope.boosted
            if cfg.match_boost > 0
        ]
        rankings: list[tuple[Ranking, float, float]] = []  # (candidates, weight, floor)
        raw: Ranking = []
        # one BM25 query (FTS5 scans every match whatever the LIMIT): a boosted group's ranking is its
        # documents' share of a wider list; dense ranks each group exactly (a matmul over its rows)
        wide = n * _WIDEN if len(groups) > 1 else n
        # one candidate more than taken: its score is the floor that score fusion scales against
        lexical = (
            self._pool.submit(self.lexical, query, wide + 1, searched, scope.expanded)
            if "lexical" in weights
            else None
        )
        if "dense" in weights and model is not None:
            vector = self.embedder.encode_query(query)  # once, for every group
            # the groups the query's names chose (its company's documents, boosted or filtered to) rank
            # by the rest of the query; the whole store by all of it, names included
            narrowed = self.embedder.encode_query(scope.narrowed) if scope.narrowed else vector
            for i, (docs, scale) in enumerate(groups):
                by_names = i > 0 or scope.searched is not None
                v = narrowed if by_names else vector
                den, floor = cut(self.store.dense_candidates(model.id, v, n + 1, document_ids=docs), n)
                rankings.append((den, weights["dense"] * scale, floor))
                raw = raw or den
        if lexical is not None:
            everything = lexical.result()
            doc_of = self._chunk_documents() if len(groups) > 1 else {}
            for i, (docs, scale) in enumerate(groups):
                lex = everything if i == 0 else [(c, s) for c, s in everything if doc_of.get(c) in docs]
                lex, floor = cut(lex, n)
                rankings.append((lex, weights["lexical"] * scale, floor))
                raw = raw or lex
        # a single ranking keeps its own scores (cosine, BM25); more are fused
        if mode != "hybrid" and len(groups) == 1:
            ranked = raw
        elif cfg.fusion == "scores":
            ranked = fuse_scores(rankings)
        else:
            ranked = rrf([([c for c, _ in r], w) for r, w, _ in rankings], cfg.rrf_k)
        return self._hits(ranked, k, cfg.per_page, catalog.paged), scope

    def _hits(
        self, ranked: list[tuple[int, float]], k: int, per_page: int, paged: frozenset[int]
    ) -> list[Hit]:
        """The first ``k`` candidates as hits, at most ``per_page`` of them (0: any number) from one page
        of a ``paged`` document (a PDF): the next chunk of a page already shown mostly repeats it, and a
        page further down the list is likelier to add what the first one lacks."""
        paged = paged if per_page else frozenset()
        taken: list[tuple[int, float]] = []
        passages: dict[int, Passage] = {}
        shown: dict[tuple[int, int], int] = {}
        window = k if not paged else 4 * k
        for start in range(0, len(ranked), window):
            part = ranked[start : start + window]
            passages.update((p.chunk_id, p) for p in self.store.passages([cid for cid, _ in part]))
            for cid, score in part:
                p = passages.get(cid)
                if p is None:
                    continue
                if p.document_id in paged:
                    page = (p.document_id, p.page_start)
                    if shown.get(page, 0) >= per_page:
                        continue
                    shown[page] = shown.get(page, 0) + 1
                taken.append((cid, score))
                if len(taken) == k:
                    break
            if len(taken) == k:
                break
        return [
            Hit(
                chunk_id=cid,
                document_id=p.document_id,
                title=p.title,
                source_path=p.source_path,
                page_start=p.page_start,
                page_end=p.page_end,
                char_start=p.char_start,
                char_end=p.char_end,
                score=round(score, 6),
                text=p.text,
            )
            for cid, score in taken
            for p in (passages[cid],)
        ]
