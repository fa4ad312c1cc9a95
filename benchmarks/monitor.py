"""How often the feedback monitor switches off an automated reply, by the class's true precision: the test it
uses now (`router.feedback.below_target`: a likelihood ratio, asked after every reply) beside the fixed-sample
test it used until session 27 (`P(X <= correct | n, target) < alpha`, asked after every reply too).

Simulated replies, no store: each run draws right/wrong replies at the true precision and asks both tests
after every reply, as the monitor does after every feedback. Run: `python -m benchmarks.monitor`.
"""

from __future__ import annotations

import numpy as np

from router.bounds import binomial_cdf
from router.feedback import RealizedPrecision, below_target

TARGET, ALPHA = 0.95, 0.05
CASES = (
    (0.95, 200), (0.95, 1000), (0.96, 1000), (0.90, 200), (0.90, 1000), (0.85, 200), (0.80, 200), (0.70, 200)
)


def first_suspension(wrong: np.ndarray) -> tuple[int | None, int | None]:
    """The reply after which each test first suspends (old, now), None when it never does."""
    old = now = None
    errors = 0
    for n, miss in enumerate(wrong, start=1):
        errors += int(miss)
        if old is None and binomial_cdf(n - errors, n, TARGET) < ALPHA:
            old = n
        if now is None and below_target(RealizedPrecision("x", n, n - errors, 0), TARGET, ALPHA):
            now = n
        if old is not None and now is not None:
            break
    return old, now


def main(runs: int = 200, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    print(f"target {TARGET}, alpha {ALPHA}, {runs} runs per row, both tests asked after every reply")
    print("| true precision | replies | old: P(suspended) | now: P(suspended) | now: median replies to it |")
    print("|---|---|---|---|---|")
    for precision, replies in CASES:
        found = [first_suspension(rng.random(replies) > precision) for _ in range(runs)]
        old = sum(o is not None for o, _ in found) / runs
        now = [n for _, n in found if n is not None]
        median = f"{np.median(now):.0f}" if now else "—"
        print(f"| {precision:.2f} | {replies} | {old:.3f} | {len(now) / runs:.3f} | {median} |")


if __name__ == "__main__":
    main()
