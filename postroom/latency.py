"""Latency summaries for benchmarks: the export side (training) and the service side (serving) share one."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence


def percentiles(values: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99 and mean in milliseconds (nearest rank) of latencies given in seconds."""
    ordered = sorted(values)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    return {
        "p50_ms": round(1000 * pick(0.5), 2),
        "p95_ms": round(1000 * pick(0.95), 2),
        "p99_ms": round(1000 * pick(0.99), 2),
        "mean_ms": round(1000 * statistics.fmean(ordered), 2),
    }


def time_batch(predict: Callable[[list[str]], object], batch: list[str]) -> dict[str, float]:
    """One call of `predict` on `batch`: its seconds and messages per second."""
    started = time.perf_counter()
    predict(batch)
    seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 3), "per_second": round(len(batch) / seconds, 1)}
