"""The rate searches of ``make bench``: the sustained maximum, and its re-check before each latency repeat.

Both take ``step_at(rate)``, one step of :func:`system_bench.keeps_up` (steady arrivals on a fresh
pipeline; ``kept_up`` when every event arrived and the latency did not grow), so the decisions here can
be table-tested without a pipeline.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

StepAt = Callable[[float], Awaitable[dict[str, Any]]]

RECHECK_FLOOR = 0.5
"""How far a re-check lowers the ramp's maximum at most: below half of it the host is not in a slower
phase but broken, and the latency phases run anyway at half (their figures then say so)."""


async def sustained_max(step_at: StepAt, burst_max: float) -> dict[str, Any]:
    """The highest offered rate the pipeline keeps up with, in tenths of the burst maximum: up from 50 %
    until a step is not kept up with (or 120 %); down from 40 % when 50 % is not. 0 when it keeps up with
    none."""
    steps: list[dict[str, Any]] = []
    best = 0.0
    tenth = 5
    while 1 <= tenth <= 12:
        step = await step_at(burst_max * tenth / 10)
        print(f"ramp {tenth * 10}% of the burst maximum: {step}", flush=True)
        steps.append(step)
        if step["kept_up"]:
            best = step["offered_per_s"]
            if tenth < 5:
                break  # going down: the first rate kept up with is the answer
            tenth += 1
        elif best:
            break  # going up: the last rate kept up with is the answer
        else:
            tenth = min(tenth, 5) - 1
    return {"sustained_per_s": best, "of_burst_max": round(best / burst_max, 2), "steps": steps}


async def recheck_max(step_at: StepAt, ramp_max: float) -> dict[str, Any]:
    """The ramp's maximum if the pipeline still keeps up with it, else the first of 90 %, 80 %, ... of it
    that it keeps up with (not below :data:`RECHECK_FLOOR`).

    Why: the ramp and the latency repeats run minutes apart, and on a shared 2-core host the machine's
    speed drifts between them by more than a tenth (2026-12-03 22:27: two of three "50 %" repeats ran
    saturated, p50 137 and 124 ms against 29 in the first). Each repeat takes its fractions of the rate
    the pipeline sustains right before it, so "50 %" means half load in every repeat.
    """
    steps: list[dict[str, Any]] = []
    tenth = 10
    while True:
        step = await step_at(ramp_max * tenth / 10)
        print(f"re-check {tenth * 10}% of the ramp's maximum: {step}", flush=True)
        steps.append(step)
        if step["kept_up"] or tenth / 10 <= RECHECK_FLOOR:
            break
        tenth -= 1
    rate = ramp_max * tenth / 10
    return {"max_per_s": round(rate, 1), "of_ramp_max": tenth / 10, "steps": steps}


def rate_text(rate: dict[str, Any] | float) -> str:
    """A phase's rate for the report: one figure, or min-max when the re-checks set different ones
    (results written before the re-check hold a plain number)."""
    if not isinstance(rate, dict):
        return f"{rate}"
    low, high = rate["min"], rate["max"]
    return f"{high}" if low == high else f"{low}-{high}"
