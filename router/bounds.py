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


def excess_error_evidence(errors: int, n: int, allowed: float) -> float:
    """How strongly `errors` wrong out of `n` speak against an error rate of at most `allowed`: the likelihood
    ratio of the data under an error rate drawn uniformly from (allowed, 1] against `allowed` itself.

    Checked after every new outcome, it crosses 1/alpha with probability at most alpha over the whole stream
    when the true rate is at most `allowed` (a nonnegative supermartingale starting at 1: Ville's
    inequality), whereas a fixed-sample test repeated after each outcome rejects far more often. Closed form:
    the integral of q^e (1-q)^m over (allowed, 1] is B(e+1, m+1) P(Binomial(n+1, allowed) <= e).
    """
    if n <= 0:
        return 1.0
    if allowed <= 0.0:
        return math.inf if errors else 0.0
    right = n - errors
    tail = binomial_cdf(errors, n + 1, allowed)
    if tail <= 0.0:
        return 0.0
    log_beta = math.lgamma(errors + 1) + math.lgamma(right + 1) - math.lgamma(n + 2)
    log_null = errors * math.log(allowed) + right * math.log1p(-allowed)
    return math.exp(min(700.0, log_beta + math.log(tail) - log_null - math.log1p(-allowed)))
