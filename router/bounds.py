"""Exact binomial confidence bounds (Clopper–Pearson) in NumPy: the router runs in pods without SciPy."""

from __future__ import annotations

import math

import numpy as np


def _log_factorials(n: int) -> np.ndarray:
    """log(i!) for i = 0..n."""
    return np.concatenate(([0.0], np.cumsum(np.log(np.arange(1, n + 1)))))


def binomial_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p), summed in log space."""
    if k < 0:
        return 0.0
    if k >= n or p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 0.0
    log_fact = _log_factorials(n)
    i = np.arange(k + 1)
    log_terms = log_fact[n] - log_fact[i] - log_fact[n - i] + i * math.log(p) + (n - i) * math.log1p(-p)
    peak = log_terms.max()
    return float(min(1.0, math.exp(peak) * np.exp(log_terms - peak).sum()))


def error_rate_upper_bound(errors: int, n: int, delta: float) -> float:
    """One-sided Clopper–Pearson upper bound on an error rate: P(true rate > bound) <= delta.

    The smallest p with P(X <= errors | n, p) <= delta, found by bisection. With n = 0 nothing is known: 1.0.
    """
    if n == 0:
        return 1.0
    if errors >= n:
        return 1.0
    low, high = errors / n, 1.0
    for _ in range(60):
        mid = (low + high) / 2
        if binomial_cdf(errors, n, mid) > delta:
            low = mid
        else:
            high = mid
    return high


def examples_needed(
    error_rate: float, target_precision: float, delta: float, max_n: int = 100_000
) -> int | None:
    """Calibration examples (predicted in the class, above threshold) needed to certify `target_precision`.

    Assumes future examples keep `error_rate`; None when that rate itself is above the allowed error.
    """
    allowed = 1.0 - target_precision
    if error_rate >= allowed:
        return None

    def enough(n: int) -> bool:
        return error_rate_upper_bound(math.floor(error_rate * n), n, delta) < allowed

    low, n = 0, 1  # steps of 25 % to a size that is enough, then the smallest one after the last that is not
    while n <= max_n:
        if enough(n):
            while n - low > 1:
                mid = (low + n) // 2
                low, n = (low, mid) if enough(mid) else (mid, n)
            return n
        low, n = n, max(n + 1, int(n * 1.25))
    return None
