"""Table tests of the latency budget's tail attribution (bench/tail_attribution.py): whether the
pipeline's slowest events overlapped a stall of the raw hop beside, against ordinary moments."""

from __future__ import annotations

import pytest
from tail_attribution import (
    EventTimes,
    attribute_tail,
    combine,
    meets,
    share_meeting,
    slowest_stage,
    stall_intervals,
)

STALLS = [(1.0, 1.1), (2.0, 2.5), (3.0, 3.05)]
LONGEST = 0.5


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        ((0.5, 0.99), False),  # ends before the first stall
        ((0.5, 1.0), True),  # touches its start
        ((1.05, 1.06), True),  # inside one
        ((1.11, 1.99), False),  # between two
        ((2.4, 2.6), True),  # overlaps the end of a long stall that started well before
        ((2.45, 2.46), True),  # inside a long stall, far from its start
        ((3.06, 9.0), False),  # after the last
        ((0.0, 9.0), True),  # spans them all
    ],
)
def test_meets(window: tuple[float, float], expected: bool) -> None:
    assert meets(window, STALLS, LONGEST) is expected


def test_stall_intervals_keep_the_slow_records_sorted() -> None:
    probe = [(3.0, 50.0), (1.0, 5.0), (2.0, 120.0), (2.5, 49.9)]
    assert stall_intervals(probe, 0.5) == [(2.0, 2.12), (3.0, 3.05)]


def test_share_meeting() -> None:
    assert share_meeting([], STALLS) is None
    assert share_meeting([(0.0, 0.5), (1.0, 1.01), (2.2, 2.3), (5.0, 6.0)], STALLS) == 0.5
    assert share_meeting([(0.0, 0.5)], []) == 0.0


def test_slowest_stage_is_the_furthest_over_its_median() -> None:
    medians = {"to_dispatcher": 10.0, "to_worker": 10.0, "post": 3.0}
    # 40 ms in to_dispatcher is 30 over; 30 in post is 27 over: the broker hop to the dispatcher.
    assert slowest_stage({"to_dispatcher": 40.0, "to_worker": 12.0, "post": 30.0}, medians) == "to_dispatcher"
    assert slowest_stage({}, medians) is None


def pipeline(slow_at: list[float], fast_ms: float = 20.0, slow_ms: float = 200.0) -> list[EventTimes]:
    """1,000 events 10 ms apart, 20 ms each but those sent at ``slow_at`` (200 ms, all in to_worker)."""
    events = []
    for i in range(1000):
        sent = i / 100
        slow = any(abs(sent - at) < 1e-9 for at in slow_at)
        ms = slow_ms if slow else fast_ms
        worker = ms - 15.0
        events.append(EventTimes(sent, ms, {"to_dispatcher": 10.0, "to_worker": worker, "post": 5.0}))
    return events


SLOW_AT = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 9.5]


def probe(stalled_at: list[float]) -> list[tuple[float, float]]:
    """A record every 50 ms, 8 ms each but those sent at ``stalled_at`` (150 ms)."""
    out = []
    for i in range(200):
        sent = i / 20
        stalled = any(abs(sent - at) < 1e-9 for at in stalled_at)
        out.append((sent, 150.0 if stalled else 8.0))
    return out


def test_a_tail_the_broker_shares_is_attributed_to_it() -> None:
    # The probe stalled at the same moments as the pipeline's slow events: the broker's tail.
    result = attribute_tail(pipeline(SLOW_AT), probe(SLOW_AT))
    assert result["tail_events"] == 10
    assert result["tail_meeting_probe_stall"] == 1.0
    # By chance: 10 stalls of 150 ms and windows of 200 ms cover about (150 + 200) * 10 ms of 10 s.
    assert result["ordinary_meeting_probe_stall"] == pytest.approx(0.35, abs=0.02)
    assert result["slowest_stage"] == {"to_worker": 1.0}


def test_a_tail_of_our_own_is_not_attributed_to_the_broker() -> None:
    # The probe stalled, but at other moments than the pipeline's slow events: the tail is ours.
    result = attribute_tail(pipeline(SLOW_AT), probe([0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5, 9.25]))
    assert result["tail_events"] == 10
    assert result["tail_meeting_probe_stall"] == 0.0


def test_no_data_no_attribution() -> None:
    assert attribute_tail([], probe(SLOW_AT)) == {"tail_events": 0}
    assert attribute_tail(pipeline(SLOW_AT), []) == {"tail_events": 0}


def test_combine_takes_medians_over_the_measured_runs() -> None:
    runs = [
        {
            "tail_events": 10,
            "tail_meeting_probe_stall": 0.9,
            "ordinary_meeting_probe_stall": 0.1,
            "slowest_stage": {"to_worker": 0.6, "post": 0.4},
        },
        {
            "tail_events": 12,
            "tail_meeting_probe_stall": 0.5,
            "ordinary_meeting_probe_stall": 0.2,
            "slowest_stage": {"to_worker": 1.0},
        },
        {
            "tail_events": 8,
            "tail_meeting_probe_stall": 0.7,
            "ordinary_meeting_probe_stall": 0.3,
            "slowest_stage": {"to_dispatcher": 1.0},
        },
        {"tail_events": 0},
    ]
    out = combine(runs)
    assert out["runs"] == 3
    assert out["tail_meeting_probe_stall"] == 0.7
    assert out["ordinary_meeting_probe_stall"] == 0.2
    assert out["per_run"] == [[0.9, 0.1], [0.5, 0.2], [0.7, 0.3]]
    assert out["slowest_stage"] == {"post": 0.0, "to_dispatcher": 0.0, "to_worker": 0.6}
    assert combine([{"tail_events": 0}]) == {"runs": 0}
