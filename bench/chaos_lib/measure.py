"""Small statistics helpers for the benchmarks: percentiles, median and spread of repeats."""

from __future__ import annotations

import contextlib
import statistics
from collections.abc import Sequence
from typing import Any

import psutil


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values (q in 0..1)."""
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q * len(sorted_values)) - 1))
    return float(sorted_values[index])


def latency_summary(values_ms: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99/max of latencies in ms."""
    s = sorted(values_ms)
    if not s:
        return {"n": 0}
    return {
        "n": len(s),
        "p50": round(percentile(s, 0.50), 1),
        "p95": round(percentile(s, 0.95), 1),
        "p99": round(percentile(s, 0.99), 1),
        "max": round(s[-1], 1),
    }


def spread(values: Sequence[float]) -> dict[str, Any]:
    """Median, min, max and relative spread ((max-min)/median) of repeated measurements."""
    vals = [v for v in values if v == v]  # drop NaN
    if not vals:
        return {"median": None, "min": None, "max": None, "spread_pct": None, "runs": []}
    med = statistics.median(vals)
    return {
        "median": round(med, 2),
        "min": round(min(vals), 2),
        "max": round(max(vals), 2),
        "spread_pct": round(100 * (max(vals) - min(vals)) / med, 1) if med else None,
        "runs": [round(v, 2) for v in vals],
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its children so far (0.0 once it is gone)."""
    total = 0.0
    with contextlib.suppress(psutil.Error):
        proc = psutil.Process(pid)
        for p in [proc, *proc.children(recursive=True)]:
            times = p.cpu_times()
            total += times.user + times.system
    return total
