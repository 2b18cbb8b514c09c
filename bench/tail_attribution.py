"""Whose is the pipeline's p99 tail: the broker's (or the machine's), or ours? (latency budget, item 3)

The raw hop probe beside the pipeline (``bench/hop_probe.py``: its own process, a tenth of the rate,
the same broker) has a record in flight every few milliseconds. When the pipeline's slowest events
are slow because the broker or the shared cores stalled, the probe's records in flight at the same
moments are slow too; when the time is lost in our services, they are not.

Counted against a baseline from the same run: the same windows placed at ordinary moments (the send
times of the pipeline's middle events, p40-p60, each with the tail's median window length), which
meet a probe stall only by chance. A tail share well above that baseline says the tail is the
broker's or the machine's; a share near it says the tail is ours. For each tail event the stage that
ran furthest over its own median (``slowest_stage``) says where in the pipeline the time went.

Pure functions over timestamps, table-tested in ``tests/bench/test_tail_attribution.py``.
"""

from __future__ import annotations

import bisect
import math
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chaos_lib.measure import percentile

Interval = tuple[float, float]
"""(start, end) in seconds."""


@dataclass(frozen=True)
class EventTimes:
    """One pipeline event: when it was published, its publish -> receipt latency, its stages (ms)."""

    sent_s: float
    latency_ms: float
    stages: Mapping[str, float]


def slowest_share(latencies_ms: Sequence[float], share: float) -> list[int]:
    """Indexes of the slowest ``share`` of ``latencies_ms`` (at least one), slowest first; a count
    rather than a quantile cut, so that ties at the cut cannot pull in the whole sample."""
    count = max(1, math.ceil(share * len(latencies_ms) - 1e-9))
    return sorted(range(len(latencies_ms)), key=lambda i: latencies_ms[i], reverse=True)[:count]


def stall_intervals(probe: Sequence[tuple[float, float]], share: float = 0.05) -> list[Interval]:
    """(sent, received) of the slowest ``share`` of the probe's records, sorted by start."""
    chosen = slowest_share([ms for _, ms in probe], share)
    return sorted((probe[i][0], probe[i][0] + probe[i][1] / 1000) for i in chosen)


def meets(window: Interval, stalls: Sequence[Interval], longest_s: float) -> bool:
    """Whether ``window`` overlaps any of ``stalls`` (sorted by start; none longer than ``longest_s``)."""
    start, end = window
    # Only stalls that start after ``start - longest_s`` can still be running at ``start``.
    i = bisect.bisect_left(stalls, (start - longest_s, float("-inf")))
    while i < len(stalls) and stalls[i][0] <= end:
        if stalls[i][1] >= start:
            return True
        i += 1
    return False


def share_meeting(windows: Sequence[Interval], stalls: Sequence[Interval]) -> float | None:
    """Share of ``windows`` overlapping a stall (None without windows)."""
    if not windows:
        return None
    longest = max((b - a for a, b in stalls), default=0.0)
    return round(sum(meets(w, stalls, longest) for w in windows) / len(windows), 3)


def slowest_stage(stages: Mapping[str, float], medians: Mapping[str, float]) -> str | None:
    """The stage that ran furthest over its own median (None without stages)."""
    over = {name: ms - medians[name] for name, ms in stages.items() if name in medians}
    return max(over, key=lambda name: over[name]) if over else None


def attribute_tail(
    events: Sequence[EventTimes], probe: Sequence[tuple[float, float]], tail_q: float = 0.99
) -> dict[str, Any]:
    """How many of the slowest events (the slowest ``1 - tail_q`` of them, at least one) overlapped a
    probe stall (one of the probe's slowest 5 % of records), against the same share for ordinary
    windows, and which stage each tail event spent its extra time in. ``{"tail_events": 0}`` without
    data."""
    if not events or not probe:
        return {"tail_events": 0}
    latencies = [e.latency_ms for e in events]
    tail = [events[i] for i in slowest_share(latencies, 1 - tail_q)]
    cut = tail[-1].latency_ms
    ordered = sorted(latencies)
    low, high = percentile(ordered, 0.40), percentile(ordered, 0.60)
    middle = [e for e in events if low <= e.latency_ms <= high]
    window_s = statistics.median(e.latency_ms for e in tail) / 1000
    stalls = stall_intervals(probe)
    names = sorted({name for e in events for name in e.stages})
    medians = {name: statistics.median(e.stages[name] for e in events if name in e.stages) for name in names}
    slowest = Counter(slowest_stage(e.stages, medians) for e in tail if e.stages)
    return {
        "tail_events": len(tail),
        "tail_from_ms": round(cut, 1),
        "probe_stall_from_ms": round(min(b - a for a, b in stalls) * 1000, 1),
        "tail_meeting_probe_stall": share_meeting(
            [(e.sent_s, e.sent_s + e.latency_ms / 1000) for e in tail], stalls
        ),
        "ordinary_meeting_probe_stall": share_meeting(
            [(e.sent_s, e.sent_s + window_s) for e in middle], stalls
        ),
        "slowest_stage": {
            name: round(count / len(tail), 3) for name, count in slowest.most_common() if name is not None
        },
    }


def combine(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The repeats of :func:`attribute_tail` at one rate: medians of the two shares, the per-run pairs
    (tail, ordinary), and each stage's median share of being the slowest."""
    measured = [r for r in runs if r.get("tail_events")]
    if not measured:
        return {"runs": 0}

    def median_of(key: str) -> float | None:
        values = [r[key] for r in measured if r.get(key) is not None]
        return round(statistics.median(values), 3) if values else None

    stages = sorted({name for r in measured for name in r.get("slowest_stage", {})})
    return {
        "runs": len(measured),
        "tail_meeting_probe_stall": median_of("tail_meeting_probe_stall"),
        "ordinary_meeting_probe_stall": median_of("ordinary_meeting_probe_stall"),
        "per_run": [
            [r.get("tail_meeting_probe_stall"), r.get("ordinary_meeting_probe_stall")] for r in measured
        ],
        "slowest_stage": {
            name: round(statistics.median(r.get("slowest_stage", {}).get(name, 0.0) for r in measured), 3)
            for name in stages
        },
    }
