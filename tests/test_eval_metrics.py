"""Metrics and bootstrap statistics of ``synthtune eval`` (synthtune.evaluate.metrics, .stats): no models."""

from __future__ import annotations

import math

import numpy as np
import pytest

from synthtune.evaluate import stats
from synthtune.evaluate.metrics import (
    HIGHER_IS_BETTER,
    METRICS,
    cosine_similarities,
    mean_or_none,
    normalize_tokens,
    numeric_match,
    recall_at_k,
    reciprocal_rank,
    refusal_correct,
    retrieval_ranks,
    rouge_l,
    token_f1,
)
from synthtune.evaluate.stats import bootstrap_ci, paired_bootstrap

# --------------------------------------------------------------------------------------------------
# numeric_match: each reference number must be supported by the answer


@pytest.mark.parametrize(
    ("answer", "reference", "expected"),
    [
        # scales and currencies normalised
        ("Revenue was 5,100 million dollars.", "Revenue was $5.1 billion.", 1.0),
        ("About 5.1B.", "$5.1 billion", 1.0),
        ("Revenue was $5.1 billion.", "Revenue was 5,100 million dollars.", 1.0),
        ("Revenue was $5.2 billion.", "Revenue was $5.1 billion.", 0.0),
        # a more precise answer is fine; one that rounds the reference is not
        ("$5,104 million", "$5.1 billion", 1.0),
        ("$5.1 billion", "$5,104 million", 0.0),
        # percentages only match percentages
        ("Margin was 12 percent.", "Margin was 12%.", 1.0),
        ("Margin was 13%.", "Margin was 12%.", 0.0),
        ("Margin was 12.", "Margin was 12%.", 0.0),
        # negatives in parentheses
        ("Operating income was -3.5 million.", "Operating income was (3.5) million.", 1.0),
        ("Operating income was negative $3.5 million.", "Operating income was $(3.5) million.", 1.0),
        ("An operating loss of $3.5 million.", "Operating income was $(3.5) million.", 1.0),
        ("An operating loss of $3.6 million.", "Operating income was $(3.5) million.", 0.0),
        # every reference number is needed
        ("Revenue was $152.2 million.", "Revenue was $152.2 million and gross margin 43.4%.", 0.0),
        (
            "Gross margin 43.4% on $152.2 million of revenue.",
            "Revenue was $152.2 million and gross margin 43.4%.",
            1.0,
        ),
        ("", "$5", 0.0),
        # citation markers are not numbers, in the reference or in the answer
        ("Revenue rose 5%.", "Revenue rose 5% [2].", 1.0),
        ("Stores grew [12].", "There are 12 stores.", 0.0),
    ],
)
def test_numeric_match(answer: str, reference: str, expected: float) -> None:
    assert numeric_match(answer, reference) == expected


@pytest.mark.parametrize("reference", ["The CEO is Jane Doe.", "It was founded in 1998.", "See [1]."])
def test_numeric_match_is_none_without_reference_numbers(reference: str) -> None:
    assert numeric_match("Revenue was $5.1 billion in 1998 [1].", reference) is None


# --------------------------------------------------------------------------------------------------
# tokens, F1, ROUGE-L


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("The revenue was $1,234.5 million [1].", ["revenue", "was", "1234.5", "million"]),
        ("Growth of 5.1%, year-over-year.", ["growth", "of", "5.1", "year", "over", "year"]),
        ("An apple, a pear; the end [1, 3]", ["apple", "pear", "end"]),
        ("1,234,567 in 2024,2025", ["1234567", "in", "2024", "2025"]),
        ("The company's results.", ["companys", "results"]),
        ("", []),
    ],
)
def test_normalize_tokens(text: str, tokens: list[str]) -> None:
    assert normalize_tokens(text) == tokens


def test_token_f1_known_values() -> None:
    # answer tokens: revenue was 5 million (4); reference: revenue 5 million (3); overlap 3
    # precision 3/4, recall 1 -> F1 = 2 * 0.75 / 1.75 = 6/7
    assert token_f1("the revenue was 5 million", "revenue 5 million") == pytest.approx(6 / 7)
    assert token_f1("Revenue: $1,234 million [2].", "revenue 1234 million") == 1.0
    assert token_f1("revenue was 5.1", "revenue was 51") == pytest.approx(2 / 3)  # "5.1" is not "51"
    # a token repeated in the answer counts once against one occurrence in the reference: P 1/3, R 1
    assert token_f1("growth growth growth", "growth") == pytest.approx(2 * (1 / 3) * 1 / (1 / 3 + 1))
    assert token_f1("cash", "debt") == 0.0


def test_token_f1_and_rouge_empty_cases() -> None:
    for metric in (token_f1, rouge_l):
        assert metric("", "") == 1.0
        assert metric("the", "a") == 1.0  # articles only: both empty after normalisation
        assert metric("revenue", "") == 0.0
        assert metric("", "revenue") == 0.0


def test_rouge_l_known_values() -> None:
    # tokens: [cat sat on mat] vs [on mat cat sat]; LCS 2 -> P = R = 1/2 -> 0.5 (bag-of-words F1 says 1.0)
    assert rouge_l("the cat sat on the mat", "on the mat the cat sat") == pytest.approx(0.5)
    assert token_f1("the cat sat on the mat", "on the mat the cat sat") == 1.0
    # [revenue grew in march] vs [revenue in march grew strongly]: LCS 3, P 3/4, R 3/5 -> 2/3
    assert rouge_l("revenue grew in march", "revenue in march grew strongly") == pytest.approx(2 / 3)
    assert rouge_l("Revenue grew in March.", "revenue grew in march") == 1.0


# --------------------------------------------------------------------------------------------------
# refusals and cosine


@pytest.mark.parametrize(
    ("answer", "answerable", "expected"),
    [
        ("The documents do not say.", False, 1.0),
        ("I don't know.", False, 1.0),
        ("The provided context does not mention the CEO's salary.", False, 1.0),
        ("Revenue was $152.2 million [1].", False, 0.0),  # answered an unanswerable question
        ("Revenue was $152.2 million [1].", True, 1.0),
        ("Revenue did not decline; it rose 5%.", True, 1.0),  # a negation, not a refusal
        ("The documents do not say.", True, 0.0),  # refused an answerable question
        ("Not mentioned.", True, 0.0),
    ],
)
def test_refusal_correct(answer: str, answerable: bool, expected: float) -> None:
    assert refusal_correct(answer, answerable) == expected


def test_cosine_similarities() -> None:
    a = np.array([[1.0, 0.0], [0.0, 0.0], [1.0, 1.0], [3.0, 4.0]], dtype=np.float32)
    b = np.array([[2.0, 0.0], [1.0, 0.0], [-1.0, -1.0], [4.0, 3.0]], dtype=np.float32)
    sims = cosine_similarities(a, b)
    assert sims == pytest.approx([1.0, 0.0, -1.0, 24 / 25])
    assert all(isinstance(s, float) for s in sims)
    assert cosine_similarities(np.zeros((0, 3)), np.zeros((0, 3))) == []
    with pytest.raises(ValueError, match="shape"):
        cosine_similarities(a, b[:2])


# --------------------------------------------------------------------------------------------------
# retrieval

HITS = [
    ("Annual Report 2024", 1, 3),
    ("reports/q3_earnings.pdf", 1, 2),
    ("Q3 Earnings Release", 4, 6),
    ("Plan v2.1", 1, 9),
    ("2024 / Outlook", 1, 1),
]


@pytest.mark.parametrize(
    ("gold_document", "gold_page", "rank"),
    [
        ("annual report 2024", None, 1),  # title, case-insensitive
        ("Q3_Earnings.PDF", None, 2),  # file name against a path
        ("q3_earnings", 2, 2),  # file stem, page inside the range
        ("q3_earnings.pdf", 5, None),  # right file, wrong pages; the title hit is another name
        ("Q3 Earnings Release", 5, 3),  # title, page inside 4-6
        ("Q3 Earnings Release", 7, None),
        ("Plan v2.3", None, None),  # a dot in a title is not a file extension
        ("Plan v2.1", 9, 4),
        ("2025 / Outlook", None, None),  # nor is a slash in a title a folder
        ("2024 / outlook", 1, 5),
        ("Unknown.pdf", None, None),
    ],
)
def test_retrieval_ranks(gold_document: str, gold_page: int | None, rank: int | None) -> None:
    assert retrieval_ranks(HITS, gold_document, gold_page) == rank


def test_retrieval_ranks_title_given_as_gold_matches_file_hit_by_stem() -> None:
    assert retrieval_ranks([("other.pdf", 1, 1), ("Q3 Results.pdf", 2, 2)], "q3 results", 2) == 2


def test_recall_and_reciprocal_rank() -> None:
    assert [recall_at_k(r, 3) for r in (1, 3, 4, None)] == [1.0, 1.0, 0.0, 0.0]
    assert [reciprocal_rank(r) for r in (1, 4, None)] == [1.0, 0.25, 0.0]
    with pytest.raises(ValueError):
        recall_at_k(1, 0)


def test_metric_descriptions_and_means() -> None:
    names = {
        "numeric_match", "token_f1", "rouge_l", "semantic_similarity", "refusal_accuracy",
        "judge_correctness", "recall_at_k", "mrr",
    }  # fmt: skip
    assert set(METRICS) == names
    assert all(METRICS[m].strip() for m in names)
    assert dict.fromkeys(names, True) == HIGHER_IS_BETTER
    assert mean_or_none([None, 1.0, 0.0, None, 0.5]) == 0.5
    assert mean_or_none([None, None]) is None
    assert mean_or_none([]) is None


# --------------------------------------------------------------------------------------------------
# bootstrap_ci


def test_bootstrap_ci_constant_and_too_few() -> None:
    assert bootstrap_ci([0.7] * 50) == (0.7, 0.7)
    assert bootstrap_ci([0.1] * 7) == (0.1, 0.1)  # the mean of seven 0.1s is not exactly 0.1
    assert bootstrap_ci([0.3]) is None
    assert bootstrap_ci([None, 0.3, None]) is None
    assert bootstrap_ci([]) is None


def test_bootstrap_ci_normal_sample() -> None:
    n = 2000
    values = list(np.random.default_rng(123).normal(0.5, 0.1, n))
    ci = bootstrap_ci(values)
    assert ci is not None
    low, high = ci
    assert low < 0.5 < high
    expected_width = 2 * 1.96 * 0.1 / math.sqrt(n)
    assert high - low == pytest.approx(expected_width, rel=0.3)
    # a 50% interval is narrower and inside the 95% one
    low50, high50 = bootstrap_ci(values, confidence=0.5) or (math.nan, math.nan)
    assert low < low50 < high50 < high


def test_bootstrap_ci_skips_none_and_is_deterministic() -> None:
    values: list[float | None] = [0.0, 1.0, None, 1.0, 0.0, 1.0, 1.0, None, 0.0, 1.0]
    present = [v for v in values if v is not None]
    assert bootstrap_ci(values, seed=3) == bootstrap_ci(present, seed=3)
    assert bootstrap_ci(values, seed=3) == bootstrap_ci(values, seed=3)
    continuous = list(np.random.default_rng(0).uniform(size=30))
    assert bootstrap_ci(continuous, seed=3) == bootstrap_ci(continuous, seed=3)
    assert bootstrap_ci(continuous, seed=3) != bootstrap_ci(continuous, seed=4)
    ci = bootstrap_ci(values)
    assert ci is not None and 0.0 <= ci[0] < np.mean(present) < ci[1] <= 1.0


def test_bootstrap_ci_in_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """A set too large for one index matrix is resampled in blocks and gives the same kind of interval."""
    values = list(np.random.default_rng(5).normal(0.5, 0.1, 500))
    whole = bootstrap_ci(values)
    monkeypatch.setattr(stats, "_MAX_CELLS", 1000)  # 2 resamples per block
    blocked = bootstrap_ci(values)
    assert whole is not None and blocked is not None
    assert blocked == pytest.approx(whole, abs=0.003)
    assert blocked[0] < np.mean(values) < blocked[1]


# --------------------------------------------------------------------------------------------------
# paired_bootstrap


def test_paired_bootstrap_constant_shift_is_significant() -> None:
    a = [0.1, 0.5, 0.7, 0.33, 0.9]
    b = [x + 0.2 for x in a]
    r = paired_bootstrap(a, b)
    assert r is not None
    assert r["n"] == 5
    assert r["difference"] == pytest.approx(-0.2)
    assert r["ci_low"] == r["ci_high"] == pytest.approx(-0.2)
    assert r["significant"] is True
    assert r["p_value"] == pytest.approx(
        2 / 2001
    )  # no resample on the far side of 0: (0 + 1) / (B + 1), doubled
    assert r["mean_a"] == pytest.approx(np.mean(a))
    assert r["mean_b"] == pytest.approx(np.mean(b))


def test_paired_bootstrap_identical_lists_not_significant() -> None:
    a = [0.0, 1.0, 1.0, 0.0, 0.5]
    r = paired_bootstrap(a, list(a))
    assert r is not None
    assert (r["difference"], r["ci_low"], r["ci_high"]) == (0.0, 0.0, 0.0)
    assert r["significant"] is False
    assert r["p_value"] == 1.0
    # equal up to float rounding is still no difference
    r = paired_bootstrap([0.1 + 0.2] * 4, [0.3] * 4)
    assert r is not None and r["difference"] == 0.0 and r["significant"] is False


def test_paired_bootstrap_skips_incomplete_pairs() -> None:
    a: list[float | None] = [1.0, None, 0.0, 1.0, 1.0, None]
    b: list[float | None] = [0.0, 1.0, None, 0.0, 1.0, None]
    r = paired_bootstrap(a, b)
    assert r is not None
    assert r["n"] == 3  # positions 0, 3 and 4
    assert r["mean_a"] == 1.0
    assert r["mean_b"] == pytest.approx(1 / 3)
    assert r["difference"] == pytest.approx(2 / 3)
    assert paired_bootstrap([1.0, None], [None, 0.0]) is None
    assert paired_bootstrap([1.0, 0.0], [0.0, None]) is None
    with pytest.raises(ValueError, match="same questions"):
        paired_bootstrap([1.0, 0.0], [1.0])


def test_paired_bootstrap_noisy_improvement_and_null() -> None:
    rng = np.random.default_rng(7)
    base = rng.uniform(0.0, 1.0, 300)
    better = list(base + 0.05 + rng.normal(0.0, 0.1, 300))
    r = paired_bootstrap(better, list(base))
    assert r is not None
    assert r["ci_low"] < r["difference"] < r["ci_high"]
    assert r["ci_low"] > 0 and r["significant"] is True and r["p_value"] < 0.05
    # the paired interval is much narrower than the spread of either system
    assert r["ci_high"] - r["ci_low"] < 0.05
    # the same noise without the shift: an interval around 0, nothing significant
    same = list(base + rng.normal(0.0, 0.1, 300))
    null = paired_bootstrap(same, list(base), seed=1)
    assert null is not None
    assert null["significant"] is False
    assert null["ci_low"] < 0 < null["ci_high"] and null["p_value"] > 0.05


def test_paired_bootstrap_is_deterministic() -> None:
    rng = np.random.default_rng(11)
    a, b = list(rng.uniform(size=40)), list(rng.uniform(size=40))
    assert paired_bootstrap(a, b, seed=5) == paired_bootstrap(a, b, seed=5)
    assert paired_bootstrap(a, b, seed=5) != paired_bootstrap(a, b, seed=6)
