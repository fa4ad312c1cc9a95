"""Anyone can send the bank an e-mail, so the cleaner must take time in proportion to its input: one line of
40,000 `=` took 55 s (a separator pattern retried from every position of the run, O(n^2)), and with the
regex engine holding the GIL the whole service stalled meanwhile. Not a speed goal: the bound is two orders of
magnitude above the linear time (about 1 s on 2 CPU cores) and two below the quadratic one (about 4 hours)."""

from __future__ import annotations

import time

import pytest

from postroom.cleaning import clean_message

RUN = 100_000  # characters in one line
BOUND_S = 20.0


@pytest.mark.parametrize("unit", ["=", "-", "_", "*", "!", "-- ", "> ", "From: x\n", "On Mon wrote:\n"])
def test_a_long_run_of_one_pattern_cleans_in_linear_time(unit: str) -> None:
    footer = "\n\nRegards\n\nThis email was sent by Nordhafen Bank"
    text = "Hello, my card is lost.\n" + unit * (RUN // len(unit)) + footer
    started = time.perf_counter()
    cleaned = clean_message(text, "text")
    assert time.perf_counter() - started < BOUND_S
    assert "my card is lost" in cleaned.text
