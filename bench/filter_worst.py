"""The most expensive filters the config API accepts, against events built to make them expensive.

Part of ``bench/matching_bench.py`` (issue 15.8): each filter stays within the limits of
``webhook_core.filters`` (256 predicates, 2,000 operand values, depth 8, 16 path segments, 1,024-character
strings), is indexed by a real ``WebhookIndex`` (so it passed ``compile_filter``) and is matched against
events whose arrays / strings are as large as an input record may be (``DISPATCHER_MAX_INPUT_BYTES``).
The figure is CPU time of ``WebhookIndex.match`` per event with the dispatcher's default evaluation
budget (``DISPATCHER_FILTER_BUDGET_STEPS``). Events that exhaust the budget are counted: for them the
webhook is skipped, which is the point of the budget.

Pass/fail is a ratio to a baseline measured in the same run, interleaved with the worst filters: the
whole processing of one ordinary event (``reference``, from the matching benchmark: parse, match, three
filters, three jobs built and serialised). The worst filter may cost at most ``TARGET_RATIO`` ordinary
events. The issue's "under 1 ms" was an absolute figure, and the shared host's speed moves it by half:
the same code read 0.83 ms and 1.10 ms in two runs an hour apart (2026-12-04), while the ratio read 4.7
and 4.5. 6 is the 1 ms target where an ordinary event costs 0.17 ms (5,900 events per CPU-second,
this benchmark in a quiet phase). The absolute figure is still reported.
"""

from __future__ import annotations

import gc
import json
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from contracts.base import utcnow
from contracts.webhooks import WebhookConfigV1
from dispatcher.events import NormalisedEvent
from dispatcher.fhir import parse_fhir
from dispatcher.matching import WebhookIndex
from dispatcher.settings import DispatcherSettings
from webhook_core.filters import MAX_NODES, MAX_OPERANDS, MAX_STRING, FilterEvaluationError, compile_filter

TARGET_RATIO = 6.0
"""Most ordinary events' processing one worst-filter match may cost (see the module's docstring)."""


def worst_filters() -> dict[str, dict[str, Any]]:
    """Filters that make every predicate scan every value (none short-circuits)."""
    per_list = MAX_OPERANDS // (MAX_NODES - 1)
    long_needle = "b" * (MAX_STRING - 1) + "c"
    deep = ".".join(["data", "items"] + ["x"] * 13)
    return {
        "nin_every_value": {
            "$and": [
                {"data.items.v": {"$nin": list(range(-per_list * (i + 1), -per_list * i))}}
                for i in range(MAX_NODES - 1)
            ]
        },
        "ordered_every_value": {
            "$and": [{"$not": {"data.items.v": {"$gt": 10**9 + i}}} for i in range((MAX_NODES - 1) // 2)]
        },
        "contains_long_needle": {
            "$and": [
                {"$not": {"data.items.s": {"$contains": long_needle[i:]}}}
                for i in range((MAX_NODES - 1) // 2)
            ]
        },
        "distinct_deep_paths": {
            "$and": [
                {f"{deep[: len(deep) - 2 * (i % 13)]}.p{i}": {"$exists": False}} for i in range(MAX_NODES - 1)
            ]
        },
        "nested_or": _nested_or(7),
    }


def _nested_or(depth: int) -> dict[str, Any]:
    if depth == 0:
        return {"data.items.v": {"$in": list(range(-30, 0))}}
    return {"$or": [_nested_or(depth - 1), {"data.items.v": {"$lt": -1}}]}


def worst_events() -> dict[str, NormalisedEvent]:
    """FHIR Tasks with wide arrays: 18 (most filters just fit the budget), 100, 2,000, and ~900 KB."""
    out: dict[str, NormalisedEvent] = {}
    for label, count, text in (
        ("18_items", 18, 50),
        ("100_items", 100, 50),
        ("2000_items", 2000, 50),
        ("900KB", 900, 990),
    ):
        resource = {
            "resourceType": "Task",
            "id": f"worst-{label.lower().replace('_', '-')}",
            "items": [{"v": i, "s": "b" * text} for i in range(count)],
        }
        doc = json.loads(json.dumps(resource))
        out[label] = parse_fhir(doc, "ehr", None, datetime.now(UTC)).events[0]
    return out


def run(reference: Callable[[], float], repeats: int = 15, confirm_rounds: int = 9) -> dict[str, Any]:
    """Per filter and event: median CPU ms of one match; the worst of all, and as a ratio to
    ``reference()`` (CPU ms of one ordinary event's processing, measured before each filter and event).

    The worst of 20 medians is biased upward on a noisy host: on 2026-12-04 the slowest cell of a sweep
    read 0.50 ms where the same filter and event read 0.29 in an interleaved microbenchmark, and a
    different cell was "the worst" in each of four runs. So the three slowest cells are measured again,
    ``confirm_rounds`` times each, every round right after a reference measurement; a cell's ratio is
    the median of its rounds' ratios. Pass when the largest confirmed ratio is at most ``TARGET_RATIO``
    (the sweep's own maximum is reported beside it).

    The heap built before (the matching benchmark's indexes of up to 100,000 webhooks) is frozen for
    the run: otherwise whichever measurement a full collection of it falls in reads slow."""
    gc.collect()
    gc.freeze()
    try:
        return _run(reference, repeats, confirm_rounds)
    finally:
        gc.unfreeze()


def _run(reference: Callable[[], float], repeats: int, confirm_rounds: int) -> dict[str, Any]:
    budget = DispatcherSettings.model_fields["filter_budget_steps"].default
    events = worst_events()
    results: dict[str, Any] = {}
    cells: dict[tuple[str, str], Callable[[int], tuple[float, bool]]] = {}
    sweep: dict[tuple[str, str], float] = {}
    reference_ms: list[float] = []
    for name, flt in worst_filters().items():
        compiled = compile_filter(flt)
        index = WebhookIndex()
        index.upsert(
            WebhookConfigV1(
                id=f"worst-{name}",
                integration_id="ehr",
                integration_type="fhir",
                name=name,
                subscription_url="https://example.org/hook",
                updated_at=utcnow(),
                event_types=["*"],
                filter=flt,
            )
        )
        assert len(index) == 1, index.rejected
        row: dict[str, Any] = {"predicates": compiled.nodes, "operands": compiled.operands}
        for label, event in events.items():
            cell = _cell(index, event, budget)
            reference_ms.append(reference())
            ms, exceeded = cell(repeats)
            sweep[(name, label)] = ms
            cells[(name, label)] = cell
            row[label] = {"ms_per_event": round(ms, 4), "budget_exceeded": exceeded}
        results[name] = row
    ordinary = statistics.median(reference_ms)
    sweep_worst = max(sweep.values())
    confirmed: dict[str, float] = {}
    for key in sorted(sweep, key=lambda k: sweep[k], reverse=True)[:3]:
        ratios = []
        for _ in range(confirm_rounds):
            ref = reference()
            ratios.append(cells[key](5)[0] / ref)
        confirmed[f"{key[0]} / {key[1]}"] = round(statistics.median(ratios), 2)
    ratio = max(confirmed.values())
    return {
        "budget_steps": budget,
        "worst_ms_per_event": round(sweep_worst, 4),
        "ordinary_event_ms": round(ordinary, 4),
        "ordinary_event_ms_runs": [round(ms, 4) for ms in reference_ms],
        "sweep_worst_to_ordinary": round(sweep_worst / ordinary, 2),
        "confirmed_ratios": confirmed,
        "worst_to_ordinary": ratio,
        "target_ratio": TARGET_RATIO,
        "passed": ratio <= TARGET_RATIO,
        "filters": results,
    }


def _cell(index: WebhookIndex, event: NormalisedEvent, budget: int) -> Callable[[int], tuple[float, bool]]:
    """Measures one filter on one event: (median CPU ms of one match over ``repeats`` x 20, whether the
    budget ran out)."""

    def measure(repeats: int) -> tuple[float, bool]:
        exceeded = 0

        def count(_: str, exc: FilterEvaluationError) -> None:
            nonlocal exceeded
            exceeded += 1

        times = []
        gc.collect()
        for _ in range(repeats):
            started = time.process_time()
            for _ in range(20):
                index.match(event, count, budget)
            times.append((time.process_time() - started) / 20 * 1000)
        return statistics.median(times), exceeded > 0

    return measure
