"""Bootstrap statistics for ``synthtune eval``: a CI for one system's mean, and a paired comparison.

Evaluation sets are small (tens to a few thousand questions) and metrics are bounded and often binary,
so normal-theory intervals mislead; the percentile bootstrap makes no such assumption. Everything is
seeded, so a report regenerated from the same scores shows the same intervals. Resampling is vectorised:
one matrix of indices per block of resamples, the block sized to keep memory bounded on large sets.
"""

from __future__ import annotations

from typing import TypedDict

import numpy as np

_MAX_CELLS = 1 << 22
"""Indices drawn per block (32 MiB of int64): 2,000 resamples of 2,000 questions fit in one."""


class PairedBootstrap(TypedDict):
    """The result of :func:`paired_bootstrap` (a plain dict at runtime, ready for JSON)."""

    n: int
    mean_a: float
    mean_b: float
    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    significant: bool


def _check(n_resamples: int, confidence: float) -> None:
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")


def _is_constant(x: np.ndarray) -> bool:
    """Equal up to float rounding: b = a + 0.2 gives differences that vary in the 17th digit, and an
    interval 1e-17 wide should read as the zero-width interval it is."""
    return float(np.ptp(x)) <= 1e-12 * max(1.0, float(np.max(np.abs(x))))


def _bootstrap_means(x: np.ndarray, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Means of ``n_resamples`` resamples of ``x`` with replacement, drawn as index matrices."""
    n = len(x)
    block = max(1, _MAX_CELLS // n)
    means = np.empty(n_resamples, dtype=np.float64)
    for start in range(0, n_resamples, block):
        stop = min(start + block, n_resamples)
        idx = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = x[idx].mean(axis=1)
    return means


def _percentile_interval(means: np.ndarray, confidence: float) -> tuple[float, float]:
    alpha = (1 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return float(low), float(high)


def bootstrap_ci(
    values: list[float | None], *, n_resamples: int = 2000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float] | None:
    """Percentile bootstrap interval for the mean of the values that are not None.

    None with fewer than two values (no spread to resample); (v, v) when all values equal v.
    """
    _check(n_resamples, confidence)
    x = np.array([v for v in values if v is not None], dtype=np.float64)
    if len(x) < 2:
        return None
    if _is_constant(x):
        v = float(x[0])  # not x.mean(): fifty 0.7s average to 0.7000000000000002
        return v, v
    return _percentile_interval(_bootstrap_means(x, n_resamples, np.random.default_rng(seed)), confidence)


def _bootstrap_p_value(observed: float, means: np.ndarray) -> float:
    """Two-sided bootstrap p-value for "the mean difference is 0".

    p = min(1, 2 * (1 + #{resampled differences on the far side of 0 from the observed one, 0 itself
    included}) / (B + 1)), and 1 when the observed difference is 0. It is about the smallest
    ``1 - confidence`` at which the percentile interval excludes 0, so ``p < 0.05`` and the 95% interval
    agree up to resampling noise. The +1s (Davison & Hinkley) keep a Monte Carlo p-value from reading
    as exactly 0: with B resamples nothing below 2 / (B + 1) can be claimed.
    """
    if observed == 0:
        return 1.0
    far = int(np.count_nonzero(means <= 0)) if observed > 0 else int(np.count_nonzero(means >= 0))
    return min(1.0, 2 * (far + 1) / (len(means) + 1))


def paired_bootstrap(
    a: list[float | None],
    b: list[float | None],
    *,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> PairedBootstrap | None:
    """Compare a candidate (``a``) with a baseline (``b``) scored on the same questions in the same order.

    Resamples questions, not scores, so each resample keeps a question's pair together: the
    question-to-question variation both systems share cancels, which makes the test far more sensitive
    than comparing two independent intervals. Only positions where both scores are present count (``n``);
    ``difference`` is mean(a - b), its interval the percentile bootstrap of that mean, ``significant``
    whether the interval excludes 0. None when fewer than two complete pairs remain.
    """
    _check(n_resamples, confidence)
    if len(a) != len(b):
        raise ValueError(f"paired_bootstrap needs scores for the same questions, got {len(a)} and {len(b)}")
    pairs = [(x, y) for x, y in zip(a, b, strict=True) if x is not None and y is not None]
    if len(pairs) < 2:
        return None
    xa = np.array([x for x, _ in pairs], dtype=np.float64)
    xb = np.array([y for _, y in pairs], dtype=np.float64)
    d = xa - xb
    difference = float(d.mean())
    if _is_constant(d):
        scale = max(1.0, float(np.max(np.abs(xa))), float(np.max(np.abs(xb))))
        if abs(difference) <= 1e-12 * scale:
            difference = 0.0  # 0.1 + 0.2 against 0.3: rounding, not a difference to call significant
        low = high = difference
        means = np.full(n_resamples, difference)
    else:
        means = _bootstrap_means(d, n_resamples, np.random.default_rng(seed))
        low, high = _percentile_interval(means, confidence)
    return PairedBootstrap(
        n=len(pairs),
        mean_a=float(xa.mean()),
        mean_b=float(xb.mean()),
        difference=difference,
        ci_low=low,
        ci_high=high,
        p_value=_bootstrap_p_value(difference, means),
        significant=bool(low > 0 or high < 0),
    )
