"""Expected deliveries, computed independently, and the final classification of every pair.

A *pair* is (webhook id, event key). Expected pairs come from the published events and the webhook
set over time (initial configs plus the changes the scenario made or observed), evaluated with the
scenario's own matcher. Around each change there is an *ambiguous window*: an event published
shortly before it may still be processed after it (dispatcher lag, measured from the receipts),
and one published shortly after it may be processed before the change reached the dispatcher
(propagation). Pairs whose outcome differs between the old and new config inside such a window are
reported as ambiguous - neither expected nor unexpected - instead of being fudged either way.

Every expected pair ends in exactly one bucket, checked in this order: delivered (a 2xx answer
recorded by the receiver), dead-lettered (on the DLQ topic), cancelled (a ``cancelled`` result),
failed permanently (a non-retryable failure such as 410 Gone with no dead letter), else **lost**.
"""

from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from chaos_lib.events import EventFacts, Message, key_from_result_event_id
from chaos_lib.webhooks import matches

Pair = tuple[str, str]


@dataclass(frozen=True)
class ConfigChange:
    """A change of one webhook between ``t_start`` (request sent) and ``t_end`` (acknowledged/observed)."""

    webhook_id: str
    kind: str  # edit | delete | deactivated
    t_start: float
    t_end: float
    before: dict[str, Any] | None
    after: dict[str, Any] | None


@dataclass
class HookInfo:
    """A webhook's integration and initial config (its body as created, active)."""

    webhook_id: str
    integration_id: str
    label: str
    config: dict[str, Any]


@dataclass(frozen=True)
class ResultFacts:
    """The fields of a ``delivery_result.v1`` the accounting needs."""

    webhook_id: str
    delivery_id: str
    event_id: str
    outcome: str
    gone: bool
    final: bool


@dataclass(frozen=True)
class DeadLetterFacts:
    """The fields of a ``dead_letter.v1`` the accounting needs."""

    webhook_id: str
    delivery_id: str
    key: str | None


@dataclass
class Expectation:
    """Expected and ambiguous pairs."""

    expected: set[Pair] = field(default_factory=set)
    ambiguous: dict[Pair, str] = field(default_factory=dict)
    windows: list[dict[str, Any]] = field(default_factory=list)


def lag_estimator(
    messages: list[Message], first_receipt: dict[str, float], span_s: float = 30.0
) -> Callable[[float], float]:
    """Upper bound of publish→first-attempt lag for events published within ±``span_s`` of a time."""
    points = sorted(
        (m.published_at, first_receipt[e.key] - m.published_at)
        for m in messages
        for e in m.events
        if e.key in first_receipt
    )
    times = [p[0] for p in points]

    def lag_at(t: float) -> float:
        lo, hi = bisect.bisect_left(times, t - span_s), bisect.bisect_right(times, t + span_s)
        window = [lag for _, lag in points[lo:hi]]
        return max(window, default=span_s)

    return lag_at


def expected_pairs(
    messages: Iterable[Message],
    hooks: dict[str, HookInfo],
    changes: list[ConfigChange],
    lag_at: Callable[[float], float],
    propagation_s: float,
    max_lag_s: float = 90.0,
) -> Expectation:
    """Evaluate every (event, webhook) with the config in force when the event was published."""
    out = Expectation()
    by_hook: dict[str, list[ConfigChange]] = defaultdict(list)
    for change in sorted(changes, key=lambda c: c.t_start):
        by_hook[change.webhook_id].append(change)
    windows: dict[str, list[tuple[float, float, ConfigChange]]] = defaultdict(list)
    for wid, items in by_hook.items():
        for change in items:
            lag = min(max_lag_s, lag_at(change.t_start)) + 1.0
            lo, hi = change.t_start - lag, change.t_end + propagation_s
            windows[wid].append((lo, hi, change))
            out.windows.append(
                {
                    "webhook_id": wid,
                    "kind": change.kind,
                    "from": round(lo, 3),
                    "to": round(hi, 3),
                    "lag_s": round(lag, 2),
                }
            )
    for message in messages:
        t = message.published_at
        for event in message.events:
            for wid, hook in hooks.items():
                pair = (wid, event.key)
                ambiguous = False
                for lo, hi, change in windows.get(wid, []):
                    if lo <= t <= hi and _match(change.before, hook, event) != _match(
                        change.after, hook, event
                    ):
                        out.ambiguous[pair] = change.kind
                        ambiguous = True
                        break
                if ambiguous:
                    continue
                config: dict[str, Any] | None = hook.config
                for change in by_hook.get(wid, []):
                    if change.t_start <= t:
                        config = change.after
                if _match(config, hook, event):
                    out.expected.add(pair)
    return out


def _match(config: dict[str, Any] | None, hook: HookInfo, event: EventFacts) -> bool:
    return matches(config, hook.integration_id, event)


def classify(
    expectation: Expectation,
    receipts: list[dict[str, Any]],
    label_to_hook: dict[str, str],
    dead_letters: list[DeadLetterFacts],
    results: list[ResultFacts],
) -> dict[str, Any]:
    """Put every expected pair in one bucket; count duplicates, signatures and surprises."""
    delivered: set[Pair] = set()
    attempted: set[Pair] = set()
    wid_of_delivery: dict[str, str] = {}
    key_of_delivery: dict[str, str] = {}
    ok_ids: Counter[str] = Counter()
    sig = Counter(r.get("sig") for r in receipts)
    statuses = Counter(r.get("status") for r in receipts)
    pairs_of_id: dict[str, set[Pair]] = defaultdict(set)
    unattributed = 0
    for r in receipts:
        wid = label_to_hook.get(r["label"])
        key = r.get("key")
        if wid is None or key is None:
            unattributed += 1
            continue
        pair = (wid, key)
        attempted.add(pair)
        if r.get("wid"):
            key_of_delivery[r["wid"]] = key
            wid_of_delivery[r["wid"]] = wid
            pairs_of_id[r["wid"]].add(pair)
        if r.get("status") == 200:
            delivered.add(pair)
            ok_ids[r.get("wid") or f"{wid}|{key}"] += 1
    for d in dead_letters:
        if d.key is not None:
            key_of_delivery.setdefault(d.delivery_id, d.key)

    def key_of(delivery_id: str, event_id: str) -> str:
        return key_of_delivery.get(delivery_id) or key_from_result_event_id(event_id)

    dlq = {(d.webhook_id, d.key or key_of_delivery.get(d.delivery_id, "?")) for d in dead_letters}
    cancelled = {
        (r.webhook_id, key_of(r.delivery_id, r.event_id)) for r in results if r.outcome == "cancelled"
    }
    permanent = {
        (r.webhook_id, key_of(r.delivery_id, r.event_id))
        for r in results
        if r.outcome == "failed" and (r.gone or r.final)
    }
    with_result = {(r.webhook_id, key_of(r.delivery_id, r.event_id)) for r in results}
    result_ok = {
        (r.webhook_id, key_of(r.delivery_id, r.event_id)) for r in results if r.outcome == "succeeded"
    }
    buckets: dict[str, set[Pair]] = {
        k: set() for k in ("delivered", "dead_lettered", "cancelled", "failed_permanently", "lost")
    }
    for pair in expectation.expected:
        if pair in delivered:
            buckets["delivered"].add(pair)
        elif pair in dlq:
            buckets["dead_lettered"].add(pair)
        elif pair in cancelled:
            buckets["cancelled"].add(pair)
        elif pair in permanent:
            buckets["failed_permanently"].add(pair)
        else:
            buckets["lost"].add(pair)
    known = expectation.expected | set(expectation.ambiguous)
    unexpected = {p for p in delivered | dlq if p not in known}
    ambiguous_outcomes = Counter(
        "delivered"
        if p in delivered
        else "dead_lettered"
        if p in dlq
        else "cancelled"
        if p in cancelled
        else "not_dispatched_or_other"
        for p in expectation.ambiguous
    )
    lost = sorted(buckets["lost"])
    lost_detail = Counter(
        "result_says_succeeded_but_no_2xx_at_receiver"
        if p in result_ok
        else "attempted_no_final_outcome"
        if p in attempted
        else "results_but_no_request"
        if p in with_result
        else "never_seen"
        for p in lost
    )
    return {
        "expected_deliveries": len(expectation.expected),
        "delivered": len(buckets["delivered"]),
        "dead_lettered": len(buckets["dead_lettered"]),
        "cancelled": len(buckets["cancelled"]),
        "failed_permanently": len(buckets["failed_permanently"]),
        "lost": len(lost),
        "lost_breakdown": dict(lost_detail),
        "lost_sample": [list(p) for p in lost[:20]],
        "unexpected_deliveries": len(unexpected),
        "unexpected_sample": [list(p) for p in sorted(unexpected)[:20]],
        "ambiguous_pairs": len(expectation.ambiguous),
        "ambiguous_outcomes": dict(ambiguous_outcomes),
        "requests_received": len(receipts),
        "requests_by_status": {str(k): v for k, v in sorted(statuses.items(), key=lambda kv: str(kv[0]))},
        "unique_delivered_ids": len(ok_ids),
        "duplicates": sum(n - 1 for n in ok_ids.values()),
        "delivery_ids_with_several_pairs": sum(1 for s in pairs_of_id.values() if len(s) > 1),
        "invalid_signatures": sig.get("bad", 0),
        "signatures": {str(k): v for k, v in sig.items()},
        "unattributed_requests": unattributed,
        "dead_letter_records": len(dead_letters),
        "dlq_total_pairs": len(dlq),
        "cancelled_results_pairs": len(cancelled),
    }


def first_receipts(receipts: list[dict[str, Any]]) -> dict[str, float]:
    """Earliest request time per event key (any webhook, any status)."""
    first: dict[str, float] = {}
    for r in receipts:
        key = r.get("key")
        if key is not None and (key not in first or r["t"] < first[key]):
            first[key] = r["t"]
    return first
