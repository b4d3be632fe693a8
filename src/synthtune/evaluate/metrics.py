"""Per-question metrics for ``synthtune eval``: pure functions over strings, vectors and ranked hits.

No model is loaded here: semantic similarity takes vectors the caller embedded with the project embedder,
and LLM-judge scores come from elsewhere. Numbers are compared with the same normalisation curation uses
(:mod:`synthtune.text.numbers`), so "$5.1 billion" in a reference is matched by "5,100 million" in an
answer, and refusals are detected with the same :func:`~synthtune.synth.parsing.is_refusal`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from synthtune.text.numbers import Num, extract_numbers, number_supported
from synthtune.text.refusals import is_refusal

METRICS: dict[str, str] = {
    "numeric_match": "Share of answers that state every number in the reference answer "
    "(scales, currencies, percentages and rounding normalised); questions whose reference has no number are skipped.",
    "token_f1": "SQuAD-style bag-of-words F1 between answer and reference after lowercasing and "
    "removing punctuation, articles and citation markers.",
    "rouge_l": "F-measure of the longest common subsequence of answer and reference tokens (ROUGE-L).",
    "semantic_similarity": "Cosine similarity of answer and reference embeddings from the project embedder.",
    "refusal_accuracy": "Share of questions where the model refused exactly when the question is "
    "unanswerable from the documents.",
    "judge_correctness": "Share of answers an LLM judge rated correct against the reference answer.",
    "recall_at_k": "Share of questions whose gold document and page are among the top k retrieved passages.",
    "mrr": "Mean reciprocal rank of the first retrieved passage from the gold document and page (0 when absent).",
}
HIGHER_IS_BETTER: dict[str, bool] = dict.fromkeys(METRICS, True)

# --------------------------------------------------------------------------------------------------
# numbers


def numeric_match(answer: str, reference: str) -> float | None:
    """1.0 when the answer states every number of the reference, 0.0 when one is missing, None without any.

    The direction matters: each reference number must be *supported by the answer text*, as curation
    checks an answer's numbers against its sources (:func:`number_supported`, the answer's own table
    scale detected). So an answer may add numbers or state a reference figure more precisely ("$5,104
    million" for "$5.1 billion"); it may not round the reference ("$5.1 billion" for "$5,104 million"),
    drop a scale ("5.1" for "$5.1 billion") or turn a percentage into a plain number ("12" for "12%").
    Years, dates, quarter labels and citation markers are not numbers to check (see ``extract_numbers``),
    so a reference that is only a year gives None.

    One departure from curation: a negative reference number is also matched by its magnitude ("a loss
    of $3.5 million" for "$(3.5) million"). Curation lets an unsigned *answer* match a negative *source*
    because the sign is usually in words; here the answer is the source, and without this an answer
    that says "loss" or "fell" instead of writing a minus sign would score 0.
    """
    numbers = extract_numbers(reference)
    if not numbers:
        return None
    return 1.0 if all(_answer_supports(num, answer) for num in numbers) else 0.0


def _answer_supports(num: Num, answer: str) -> bool:
    if number_supported(num, answer):
        return True
    return num.value < 0 and number_supported(replace(num, value=-num.value), answer)


# --------------------------------------------------------------------------------------------------
# tokens

_CITATION = re.compile(r"\[\s*\d{1,3}(?:\s*[,;–-]\s*\d{1,3})*\s*\]")
_THOUSANDS_COMMA = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_APOSTROPHE = re.compile(r"['’]")
# a decimal figure ("5.1") stays one token; anything else that is not a letter or digit separates tokens
_TOKEN = re.compile(r"\d+(?:\.\d+)+|[^\W_]+")
_ARTICLES = frozenset({"a", "an", "the"})


def normalize_tokens(text: str) -> list[str]:
    """SQuAD-style tokens: lowercase, no citation markers, punctuation or articles; numbers kept whole.

    Differences from SQuAD's ``normalize_answer``, each so that equal facts give equal tokens:
    thousands separators are dropped ("1,234" -> "1234") and a decimal point between digits is kept
    ("5.1" is one token, not "51"); other punctuation separates words instead of gluing them, so
    "year-over-year" = "year over year"; apostrophes are dropped ("company's" -> "companys"). Signs and
    currency symbols go with the punctuation ("-3.5" -> "3.5"): ``numeric_match`` is the metric that
    checks them.
    """
    text = _CITATION.sub(" ", text.lower())
    text = _THOUSANDS_COMMA.sub("", text)
    text = _APOSTROPHE.sub("", text)
    return [t for t in _TOKEN.findall(text) if t not in _ARTICLES]


def _empty_case(answer: list[str], reference: list[str]) -> float | None:
    """Both empty: they agree (1.0); one empty: nothing in common (0.0); else None (compute the metric)."""
    if not answer and not reference:
        return 1.0
    if not answer or not reference:
        return 0.0
    return None


def _f_measure(overlap: int, n_answer: int, n_reference: int) -> float:
    if overlap == 0:
        return 0.0
    precision, recall = overlap / n_answer, overlap / n_reference
    return 2 * precision * recall / (precision + recall)


def token_f1(answer: str, reference: str) -> float:
    """Bag-of-tokens F1 of ``answer`` against ``reference`` over :func:`normalize_tokens` (SQuAD's F1)."""
    a, r = normalize_tokens(answer), normalize_tokens(reference)
    empty = _empty_case(a, r)
    if empty is not None:
        return empty
    overlap = sum((Counter(a) & Counter(r)).values())
    return _f_measure(overlap, len(a), len(r))


def _lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence: the O(len(a)·len(b)) DP, keeping one row."""
    if len(b) > len(a):
        a, b = b, a
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b, start=1):
            current.append(previous[j - 1] + 1 if x == y else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


def rouge_l(answer: str, reference: str) -> float:
    """ROUGE-L F-measure (beta = 1): LCS of the token sequences over their lengths, as precision and recall.

    Unlike :func:`token_f1` it rewards words in the reference's order.
    """
    a, r = normalize_tokens(answer), normalize_tokens(reference)
    empty = _empty_case(a, r)
    if empty is not None:
        return empty
    return _f_measure(_lcs_length(a, r), len(a), len(r))


# --------------------------------------------------------------------------------------------------
# refusals and similarity


def refusal_correct(answer: str, answerable: bool) -> float:
    """1.0 when the model refused exactly when it should: a refusal on an unanswerable question, an
    answer on an answerable one."""
    return 1.0 if is_refusal(answer) == (not answerable) else 0.0


def cosine_similarities(a: np.ndarray, b: np.ndarray) -> list[float]:
    """Row-wise cosine similarity of two (n, d) arrays; a zero row gives 0.0 rather than NaN.

    Computed in float64 and clipped to [-1, 1], so normalised float32 embeddings of equal texts give 1.0.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(
            f"cosine_similarities needs two (n, d) arrays of one shape, got {a.shape} and {b.shape}"
        )
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    dots = np.einsum("ij,ij->i", a, b)
    sims = dots / np.where(norms > 0, norms, 1.0)  # a zero row has a zero dot product: 0 / 1
    return [float(s) for s in np.clip(sims, -1.0, 1.0)]


# --------------------------------------------------------------------------------------------------
# retrieval

_EXTENSION = re.compile(r"\.[A-Za-z][A-Za-z0-9]{0,4}\Z")


def _document_keys(name: str) -> set[str]:
    """The spellings a document can be matched by: the whole string, and for a file name or path its
    base name and its stem ("reports/Q3.pdf" -> "q3.pdf", "q3").

    A base name and stem are taken only when the last part ends in a file extension, so that titles
    such as "Plan v2.1" or "Q3 / Earnings" are not cut at a dot or slash and confused with each other.
    """
    full = " ".join(name.split()).casefold()
    keys = {full}
    base = re.split(r"[\\/]", full)[-1].strip()
    if _EXTENSION.search(base):
        keys |= {base, _EXTENSION.sub("", base)}
    return keys


def retrieval_ranks(
    hits: list[tuple[str, int, int]], gold_document: str, gold_page: int | None
) -> int | None:
    """1-based rank of the first hit from the gold document (and, given ``gold_page``, covering it).

    ``hits`` are (document title or source file name, page_start, page_end) in rank order. Names match
    case-insensitively as written, or by file name or stem when a side is a file name or path
    ("Q3.pdf" = "reports/q3.pdf" = "q3"). A title on one side and a file name on the other match only
    when the title is the file's stem: pass the same kind of name on both sides. None when no hit matches.
    """
    gold = _document_keys(gold_document)
    for rank, (document, page_start, page_end) in enumerate(hits, start=1):
        if not gold & _document_keys(document):
            continue
        if gold_page is None or page_start <= gold_page <= page_end:
            return rank
    return None


def recall_at_k(rank: int | None, k: int) -> float:
    """1.0 when the gold passage was retrieved at rank ``k`` or better, else 0.0."""
    if k < 1:
        raise ValueError(f"recall_at_k needs k >= 1, got {k}")
    return 1.0 if rank is not None and rank <= k else 0.0


def reciprocal_rank(rank: int | None) -> float:
    """1 / rank, or 0.0 when the gold passage was not retrieved (the term MRR averages)."""
    return 1.0 / rank if rank is not None else 0.0


def mean_or_none(values: list[float | None]) -> float | None:
    """Mean of the values that are not None; None when there are none (a metric that applied to no
    question is absent, not zero)."""
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None
