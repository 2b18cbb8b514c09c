"""Pure logic of the DLQ replayer, table-tested: times, ids, filters, selection, plans, stats, jobs, pacing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from dlq_factories import T0, entry, letter, webhook

from dlq_replayer.errors import InvalidInputError
from dlq_replayer.filters import DlqFilters, build_filters, parse_message_id, parse_time
from dlq_replayer.ratelimit import Pacer
from dlq_replayer.selection import (
    ReplayMark,
    build_replay_job,
    build_row,
    compute_stats,
    decide,
    matches,
    plan_replay,
    select,
)

NOW = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2h", NOW - timedelta(hours=2)),
        ("30m", NOW - timedelta(minutes=30)),
        ("1.5d", NOW - timedelta(hours=36)),
        (" 45s ", NOW - timedelta(seconds=45)),
        ("1w", NOW - timedelta(days=7)),
        ("2026-11-28T10:00:00Z", datetime(2026, 11, 28, 10, tzinfo=UTC)),
        ("2026-11-28T10:00:00+02:00", datetime(2026, 11, 28, 8, tzinfo=UTC)),
        ("2026-11-28T10:00:00", datetime(2026, 11, 28, 10, tzinfo=UTC)),
        ("2026-11-28", datetime(2026, 11, 28, tzinfo=UTC)),
    ],
)
def test_parse_time(text: str, expected: datetime) -> None:
    assert parse_time(text, NOW) == expected


@pytest.mark.parametrize("text", ["yesterday", "2 hours", "-2h", "2y", "", "2026-13-01"])
def test_parse_time_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="relative time like"):
        parse_time(text, NOW)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0-42", (0, 42)), ("5-0", (5, 0)), ("x.webhooks.deliveries.dlq:1:7", (1, 7))],
)
def test_parse_message_id(text: str, expected: tuple[int, int]) -> None:
    assert parse_message_id(text, "x.webhooks.deliveries.dlq") == expected


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("abc", "is not <partition>-<offset>"),
        ("-1-2", "is not <partition>-<offset>"),
        ("1-", "is not <partition>-<offset>"),
        ("other.topic:1:7", "not the DLQ topic"),
        ("0-99999999999999999999", "out of range"),
        ("4294967296-0", "out of range"),
    ],
)
def test_parse_message_id_rejects(text: str, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        parse_message_id(text, "x.webhooks.deliveries.dlq")


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        ({"since": "soon"}, "since: .*relative time"),
        ({"until": "1h", "since": "30m"}, "since must be before until"),
        ({"replayed": "maybe"}, "replayed: 'maybe' is not yes or no"),
        ({"limit": "0"}, "limit: "),
        ({"error_category": "oops"}, "error_category: "),
        ({"webhook": "  "}, "webhook: must not be empty"),
        ({"colour": "red"}, "colour: "),
    ],
)
def test_build_filters_rejects(raw: dict[str, str], match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        build_filters(raw)


def test_build_filters_accepts_query_strings() -> None:
    f = build_filters(
        {"since": "2h", "replayed": "no", "limit": "5", "error_category": "timeout", "webhook": None}
    )
    assert f.replayed is False and f.limit == 5 and f.error_category == "timeout" and f.webhook is None
    assert f.since is not None and f.since.tzinfo is not None
    assert set(f.describe()) == {"since", "replayed", "limit", "error_category"}


E = entry(1, webhook="wh-a", integration="sm-1", event_type="response_completed", category="http_5xx")


@pytest.mark.parametrize(
    ("filters", "replayed", "scope", "expected"),
    [
        (DlqFilters(), False, None, True),
        (DlqFilters(integration="sm-1"), False, None, True),
        (DlqFilters(integration="fhir-1"), False, None, False),
        (DlqFilters(webhook="wh-b"), False, None, False),
        (DlqFilters(event_type="response_completed"), False, None, True),
        (DlqFilters(event_type="survey_created"), False, None, False),
        (DlqFilters(error_category="http_5xx"), False, None, True),
        (DlqFilters(error_category="timeout"), False, None, False),
        (DlqFilters(since=T0), False, None, True),  # since is inclusive
        (DlqFilters(since=T0 + timedelta(seconds=1)), False, None, False),
        (DlqFilters(until=T0), False, None, False),  # until is exclusive
        (DlqFilters(until=T0 + timedelta(seconds=1)), False, None, True),
        (DlqFilters(replayed=True), False, None, False),
        (DlqFilters(replayed=True), True, None, True),
        (DlqFilters(replayed=False), True, None, False),
        (DlqFilters(), False, frozenset({"sm-1"}), True),
        (DlqFilters(), False, frozenset({"fhir-1"}), False),
    ],
)
def test_matches(filters: DlqFilters, replayed: bool, scope: frozenset[str] | None, expected: bool) -> None:
    assert matches(E, filters, replayed, scope) is expected


def test_select_newest_first_with_limit() -> None:
    entries = [entry(i, partition=i % 2, at=T0 + timedelta(minutes=i)) for i in range(6)]
    chosen = select(entries, DlqFilters(limit=3), {})
    assert [e.letter.job.event_id for e in chosen] == ["evt-5", "evt-4", "evt-3"]
    marks = {(1, 5): ReplayMark("r1", T0), (1, 3): ReplayMark("r1", T0)}
    assert [e.offset for e in select(entries, DlqFilters(replayed=False), marks)] == [4, 2, 1, 0]


HOOKS = {"wh-a": webhook("wh-a"), "wh-off": webhook("wh-off", active=False)}


@pytest.mark.parametrize(
    ("hook", "already", "include_inactive", "force", "expected"),
    [
        ("wh-a", False, False, False, "replay"),
        ("wh-gone", False, False, False, "skipped_deleted"),
        ("wh-gone", False, True, True, "skipped_deleted"),  # deleted is never replayed
        ("wh-off", False, False, False, "skipped_inactive"),
        ("wh-off", False, True, False, "replay"),
        ("wh-a", True, False, False, "skipped_already_replayed"),
        ("wh-a", True, False, True, "replay"),
        ("wh-off", True, False, True, "skipped_inactive"),
    ],
)
def test_decide(hook: str, already: bool, include_inactive: bool, force: bool, expected: str) -> None:
    assert decide(entry(1, webhook=hook), HOOKS, already, include_inactive, force) == expected


def test_plan_counts_by_reason_and_webhook() -> None:
    entries = [
        entry(1, webhook="wh-a"),
        entry(2, webhook="wh-a"),
        entry(3, webhook="wh-a"),
        entry(4, webhook="wh-off"),
        entry(5, webhook="wh-gone"),
    ]
    decided, plan = plan_replay(
        entries, HOOKS, {(0, 3): ReplayMark("r0", T0)}, include_inactive=False, force=False
    )
    assert [d for _, d in decided] == [
        "replay",
        "replay",
        "skipped_already_replayed",
        "skipped_inactive",
        "skipped_deleted",
    ]
    assert plan.model_dump() == {
        "selected": 5,
        "to_replay": 2,
        "skipped_deleted": 1,
        "skipped_inactive": 1,
        "skipped_already_replayed": 1,
        "by_webhook": {"wh-a": 2},
    }


def test_stats() -> None:
    entries = [
        entry(1, webhook="wh-a", category="timeout"),
        entry(2, webhook="wh-b", category="http_5xx"),
        entry(3, webhook="wh-b", integration="fhir-1", category="http_5xx"),
    ]
    stats = compute_stats(entries, None, None)
    assert stats.total == 3
    assert stats.by_integration == {"fhir-1": 1, "sm-1": 2}
    assert stats.by_webhook == {"wh-a": 1, "wh-b": 2}
    assert stats.by_error_category == {"http_5xx": 2, "timeout": 1}


def test_row_and_replay_job() -> None:
    e = entry(7, partition=1, offset=9)
    row = build_row("dlq", e, ReplayMark("r9", T0))
    assert (row.id, row.attempts, row.last_error_category, row.last_status_code) == (
        "1-9",
        3,
        "http_5xx",
        503,
    )
    assert row.replayed and row.last_replay_id == "r9"
    original = letter(7)
    replayed = build_replay_job(original, "r1", "cli:alice")
    assert replayed.delivery_id == original.job.delivery_id and replayed.body == original.job.body
    assert (replayed.attempt, replayed.attempts, replayed.not_before) == (1, [], None)
    assert replayed.replay is not None
    assert (replayed.replay.replay_id, replayed.replay.requested_by, replayed.replay.kind) == (
        "r1",
        "cli:alice",
        "dlq_replay",
    )
    # Round-trips through the contract (the worker parses it).
    assert type(replayed).model_validate_json(replayed.to_bytes()) == replayed


async def test_pacer_spaces_sends_evenly() -> None:
    now = [100.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(round(seconds, 6))
        now[0] += seconds

    pacer = Pacer(4.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        await pacer.wait()
    assert slept == [0.25, 0.25, 0.25, 0.25]  # the first send goes at once, then one every 1/rate s
    now[0] += 10  # a slow broker does not earn a burst beyond the schedule
    await pacer.wait()
    assert len(slept) == 4
    with pytest.raises(ValueError, match="positive"):
        Pacer(0)
