"""Pure logic of the delivery side: latency histogram, health rules, rollups, cursors, samples."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from config_api.deliveries.health import (
    Health,
    Thresholds,
    apply_result,
    failing_too_long,
    reset_after_deactivation,
)
from config_api.deliveries.latency import (
    BIN_COUNT,
    BIN_EDGES_MS,
    bin_index,
    empty_histogram,
    merge,
    percentile,
)
from config_api.deliveries.logs import CursorError, LogFilters, build_query, decode_cursor, encode_cursor
from config_api.deliveries.rollup import HOUR_S, MINUTE_S, bucket_start, rollup
from config_api.deliveries.status import WINDOWS, summarise, window_start
from config_api.deliveries.store import clean_text
from config_api.deliveries.tasks import supervise
from config_api.webhooks.sample_payloads import render, sample_payload
from contracts.catalogs import SURVEYMONKEY_EVENT_TYPES, fhir_event_types
from contracts.deliveries import DeliveryResultV1

T0 = datetime(2026, 11, 28, 12, 0, 30, tzinfo=UTC)
LIMITS = Thresholds(max_consecutive_failures=3, max_failing_s=3600)


def result(
    outcome: str = "succeeded", delivery: str = "d1", at: datetime = T0, **kw: Any
) -> DeliveryResultV1:
    values: dict[str, Any] = {
        "delivery_id": delivery,
        "webhook_id": "wh1",
        "integration_id": "surveymonkey",
        "event_id": "e1",
        "event_type": "response_completed",
        "attempt": 1,
        "outcome": outcome,
        "attempted_at": at,
    }
    values.update(kw)
    return DeliveryResultV1(**values)


# --- latency histogram ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ms", "expected_edge"),
    [(0, 1), (1, 1), (2, 2), (100, 108), (108, 108), (109, 136), (15000, 18367)],
)
def test_bin_index_puts_a_latency_under_its_upper_edge(ms: int, expected_edge: int) -> None:
    assert BIN_EDGES_MS[bin_index(ms)] == expected_edge


def test_bin_index_overflow_and_negative() -> None:
    assert bin_index(10**9) == BIN_COUNT - 1
    assert bin_index(-5) == 0


@pytest.mark.parametrize(
    ("values", "q", "low", "high"),
    [
        ([100] * 100, 0.5, 87, 108),
        (list(range(1, 1001)), 0.5, 440, 560),  # exact 500, within a bin's ±12 %
        (list(range(1, 1001)), 0.95, 836, 1064),  # exact 950
        ([10] * 95 + [5000] * 5, 0.95, 9, 12),
        ([10] * 94 + [5000] * 6, 0.95, 3852, 6019),
    ],
)
def test_percentile_is_within_the_bin_precision(values: list[int], q: float, low: int, high: int) -> None:
    hist = empty_histogram()
    for v in values:
        hist[bin_index(v)] += 1
    value = percentile(hist, q)
    assert value is not None and low <= value <= high


def test_percentile_of_empty_and_bad_quantile() -> None:
    assert percentile(empty_histogram(), 0.5) is None
    with pytest.raises(ValueError, match="quantile"):
        percentile(empty_histogram(), 0)


def test_merge_adds_bin_wise() -> None:
    a, b = empty_histogram(), empty_histogram()
    a[3], b[3], b[5] = 2, 5, 1
    merged = merge([a, b, [1]])
    assert merged[0] == 1 and merged[3] == 7 and merged[5] == 1 and sum(merged) == 9


# --- health rules ------------------------------------------------------------------------------


def run(results: list[DeliveryResultV1], health: Health | None = None) -> tuple[Health, list[str | None]]:
    state = health or Health()
    reasons = []
    for r in results:
        state, reason = apply_result(state, r, LIMITS)
        reasons.append(reason)
    return state, reasons


def test_dead_letters_in_a_row_deactivate_at_the_threshold() -> None:
    state, reasons = run(
        [result("dead_lettered", f"d{i}", status_code=500, error_category="http_5xx") for i in range(3)]
    )
    assert state.consecutive_failures == 3
    assert reasons[:2] == [None, None]
    assert reasons[2] is not None and "3 consecutive" in reasons[2]
    assert state.last_error == "HTTP 500" and state.last_status_code == 500


def test_success_resets_the_count_and_the_clock() -> None:
    state, reasons = run(
        [
            result("dead_lettered", "d1", error_category="timeout", error_message="no answer within 1 s"),
            result("dead_lettered", "d2", error_category="timeout"),
            result("succeeded", "d3", at=T0 + timedelta(seconds=1), status_code=200),
            result("dead_lettered", "d4", at=T0 + timedelta(seconds=2), error_category="timeout"),
        ]
    )
    assert reasons == [None, None, None, None]
    assert state.consecutive_failures == 1
    assert state.failing_since == T0 + timedelta(seconds=2)
    assert state.last_success_at == T0 + timedelta(seconds=1)


def test_retrying_attempts_do_not_count_as_failed_deliveries_but_start_the_clock() -> None:
    state, reasons = run(
        [
            result("retrying", "d1", attempt=a, error_category="http_5xx", status_code=503)
            for a in (1, 2, 3, 4)
        ]
    )
    assert reasons == [None] * 4
    assert state.consecutive_failures == 0
    assert state.failing_since == T0


def test_failed_and_dead_lettered_of_one_delivery_count_once() -> None:
    state, _ = run([result("failed", "d1", status_code=400), result("dead_lettered", "d1", status_code=400)])
    assert state.consecutive_failures == 1


def test_gone_deactivates_at_once() -> None:
    _, reasons = run([result("failed", "d1", status_code=410, gone=True, error_category="http_4xx")])
    assert reasons[0] is not None and "410" in reasons[0]


def test_cancelled_and_circuit_open_leave_the_error_alone() -> None:
    base, _ = run([result("retrying", "d1", status_code=502, error_category="http_5xx")])
    state, _ = run([result("cancelled", "d2"), result("retrying", "d3", error_category="circuit_open")], base)
    assert state.last_error == "HTTP 502" and state.last_failure_at == T0


def test_failing_too_long_uses_the_later_of_failing_since_and_clock_start() -> None:
    state = Health(failing_since=T0)
    assert failing_too_long(state, T0 + timedelta(minutes=59), LIMITS) is None
    reason = failing_too_long(state, T0 + timedelta(hours=1), LIMITS)
    assert reason is not None and "no successful delivery since" in reason
    assert (
        failing_too_long(state, T0 + timedelta(hours=1), LIMITS, clock_start=T0 + timedelta(minutes=30))
        is None
    )
    assert failing_too_long(Health(), T0 + timedelta(days=9), LIMITS) is None


def test_reset_after_deactivation_keeps_history_but_restarts_counters() -> None:
    state = reset_after_deactivation(Health(consecutive_failures=9, failing_since=T0, last_error="HTTP 500"))
    assert state.consecutive_failures == 0 and state.failing_since is None and state.last_error == "HTTP 500"


# --- rollups and status ------------------------------------------------------------------------


def test_bucket_start_aligns_to_the_bucket() -> None:
    assert bucket_start(T0, MINUTE_S) == T0.replace(second=0)
    assert bucket_start(T0, HOUR_S) == T0.replace(minute=0, second=0)


def test_rollup_counts_per_webhook_and_bucket() -> None:
    deltas = rollup(
        [
            result("succeeded", "d1", response_ms=100),
            result("retrying", "d2", response_ms=2000, status_code=500),
            result("dead_lettered", "d3", response_ms=50),
            result("cancelled", "d4"),
            result("retrying", "d5", error_category="circuit_open"),
            result("succeeded", "d6", at=T0 + timedelta(minutes=1), response_ms=80),
        ]
    )
    minute = deltas[("wh1", MINUTE_S, T0.replace(second=0))]
    assert (
        minute.attempts,
        minute.succeeded,
        minute.failed,
        minute.retrying,
        minute.dead_lettered,
        minute.cancelled,
    ) == (
        3,
        1,
        2,
        1,
        1,
        1,
    )
    assert sum(minute.latency_hist) == 3
    hour = deltas[("wh1", HOUR_S, T0.replace(minute=0, second=0))]
    assert hour.attempts == 4 and hour.succeeded == 2
    assert len(deltas) == 3


def test_summarise_windows_and_series() -> None:
    now = T0
    spec = WINDOWS["24h"]
    start = window_start(spec, now)
    assert start == T0.replace(minute=0, second=0) - timedelta(hours=23)
    hist = empty_histogram()
    hist[bin_index(100)] = 10
    rows = [
        {
            "bucket_start": start,
            "attempts": 10,
            "succeeded": 8,
            "failed": 2,
            "retrying": 1,
            "dead_lettered": 1,
            "cancelled": 0,
            "latency_hist": hist,
        },
        {
            "bucket_start": start + timedelta(hours=23),
            "attempts": 10,
            "succeeded": 10,
            "failed": 0,
            "retrying": 0,
            "dead_lettered": 0,
            "cancelled": 2,
            "latency_hist": hist,
        },
    ]
    out = summarise(rows, spec, now)
    assert (out["attempts"], out["succeeded"], out["failed"], out["dead_lettered"], out["cancelled"]) == (
        20,
        18,
        2,
        1,
        2,
    )
    assert out["success_rate"] == 0.9
    assert 87 <= out["p50_ms"] <= 108
    assert len(out["series"]) == 24
    assert out["series"][0]["attempts"] == 10 and out["series"][-1]["succeeded"] == 10
    assert len(summarise([], WINDOWS["1h"], now)["series"]) == 12
    assert len(summarise([], WINDOWS["7d"], now)["series"]) == 28
    assert summarise([], spec, now)["success_rate"] is None


# --- log cursors and queries -------------------------------------------------------------------


def test_cursor_round_trip_and_garbage() -> None:
    cursor = encode_cursor(T0, 42)
    assert decode_cursor(cursor, int) == (T0, 42)
    for bad in ("x", "bm90IGpzb24", encode_cursor(T0, 1)[:-3], "WyJub3QgYSB0aW1lIiwgMV0"):
        with pytest.raises(CursorError):
            decode_cursor(bad, int)


def test_build_query_numbers_the_placeholders_in_order() -> None:
    sql, args = build_query("wh1", LogFilters(outcome="failed", status_code=500, since=T0), 10, (T0, 7))
    assert "outcome = $2" in sql and "attempted_at >= $3" in sql and "status_code = $4" in sql
    assert "(attempted_at, id) < ($5, $6)" in sql and sql.endswith("LIMIT $7")
    assert args == ["wh1", "failed", T0, 500, T0, 7, 11]


@pytest.mark.parametrize(
    ("text", "max_bytes", "expected"),
    [("abc\x00def", None, "abc\ufffddef"), ("é" * 600, 1024, "é" * 512), ("aé", 2, "a"), (None, 10, None)],
)
def test_clean_text(text: str | None, max_bytes: int | None, expected: str | None) -> None:
    assert clean_text(text, max_bytes=max_bytes) == expected


# --- sample payloads ---------------------------------------------------------------------------


@pytest.mark.parametrize("event_type", sorted(SURVEYMONKEY_EVENT_TYPES))
def test_surveymonkey_samples_look_like_callbacks(event_type: str) -> None:
    body = json.loads(render(sample_payload("surveymonkey", "surveymonkey", event_type, T0)))
    data = body["data"]
    assert body["type"] == event_type == data["event_type"]
    assert body["test"] is True and body["timestamp"].endswith("Z")
    assert {
        "name",
        "filter_type",
        "filter_id",
        "event_id",
        "object_type",
        "object_id",
        "event_datetime",
        "resources",
    } <= set(data)
    assert body["object_type"] == data["object_type"]
    if event_type.startswith("response_"):
        assert data["object_type"] == "response" and "survey_id" in data["resources"]
    if event_type.startswith("contact_") and "list" not in event_type:
        assert data["resources"]["contact"]["email"].endswith("@example.org")


def test_fhir_samples_cover_every_event_type() -> None:
    for event_type in fhir_event_types():
        body = json.loads(render(sample_payload("fhir", "ehr", event_type, T0)))
        resource_type, _, interaction = event_type.partition(".")
        assert body["data"]["resourceType"] == resource_type == body["object_type"]
        assert body["object_id"] == body["data"]["id"]
        if interaction != "delete":
            assert body["data"]["meta"]["versionId"] == "3"
    appointment = sample_payload("fhir", "ehr", "Appointment.update", T0)["data"]
    assert (
        appointment["status"] == "booked"
        and appointment["participant"][0]["actor"]["reference"] == "Patient/example-patient"
    )


def test_custom_sample() -> None:
    body = sample_payload("custom", "crm", "ticket.opened", T0)
    assert body["type"] == "ticket.opened" and body["data"]["event_type"] == "ticket.opened"


async def test_supervise_restarts_a_failed_task() -> None:
    calls: list[int] = []

    async def flaky() -> None:
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError("a bug")

    await supervise("flaky", flaky, restart_delay_s=0.0)
    assert len(calls) == 3


@given(st.lists(st.integers(min_value=0, max_value=200_000), min_size=1, max_size=300))
def test_percentiles_are_ordered_and_close_to_the_exact_value(values: list[int]) -> None:
    hist = empty_histogram()
    for v in values:
        hist[bin_index(v)] += 1
    p50, p95 = percentile(hist, 0.5), percentile(hist, 0.95)
    assert p50 is not None and p95 is not None and p50 <= p95
    exact = sorted(values)[max(0, -(-len(values) // 2) - 1)]  # nearest rank
    i = bin_index(exact)
    low = BIN_EDGES_MS[i - 1] if i else 0
    high = BIN_EDGES_MS[min(i, len(BIN_EDGES_MS) - 1)]
    assert low <= p50 <= high or p50 == BIN_EDGES_MS[-1]


@given(
    st.datetimes(
        min_value=datetime(2000, 1, 1),  # noqa: DTZ001 - hypothesis takes naive bounds plus `timezones`
        max_value=datetime(2100, 1, 1),  # noqa: DTZ001
        timezones=st.just(UTC),
    ),
    st.integers(min_value=1, max_value=2**62),
)
def test_cursor_round_trip_property(moment: datetime, row_id: int) -> None:
    assert decode_cursor(encode_cursor(moment, row_id), int) == (moment, row_id)


@given(st.text(max_size=40))
def test_garbage_cursor_is_a_cursor_error_never_a_crash(text: str) -> None:
    with contextlib.suppress(CursorError):
        decode_cursor(text, int)
