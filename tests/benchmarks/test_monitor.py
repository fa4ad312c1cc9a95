"""`python -m benchmarks.monitor`: the replies after which each test first suspends, on fixed sequences."""

from __future__ import annotations

import numpy as np

from benchmarks.monitor import first_suspension


def test_both_tests_on_sequences_worked_by_hand() -> None:
    assert first_suspension(np.ones(5, dtype=bool)) == (2, 2)  # two wrong of two: p 0.0025, ratio 140
    assert first_suspension(np.zeros(500, dtype=bool)) == (None, None)  # all right: never
    ten_right_then_wrong = np.array([False] * 10 + [True] * 6)
    assert first_suspension(ten_right_then_wrong) == (13, 15)  # 10 of 13 (p 0.025) against 10 of 15 (117)
