"""A reduced `make chaos` inside the suite: 1,000 messages, 10 webhooks, 500s for a while, one worker SIGKILL.

Plus table tests of the chaos run's own pure parts (the independent matcher, the ambiguous windows,
the buckets), so a wrong "lost = 0" cannot come from a broken accounting.

The services run as processes (``python -m <service>``) against the session's broker and a fresh
database; the scenario, receiver and accounting are the ones of ``bench/chaos.py`` (docs/chaos.md).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from chaos_lib.accounting import (
    ConfigChange,
    DeadLetterFacts,
    HookInfo,
    ResultFacts,
    classify,
    expected_pairs,
)
from chaos_lib.events import EventFacts, EventGenerator, Message
from chaos_lib.report import render, verdicts
from chaos_lib.scenario import ChaosConfig, run_chaos
from chaos_lib.stack import StackConfig, Supervisor, service_specs
from chaos_lib.webhooks import matches

from contracts.topics import Topics

APPT = EventFacts(
    key="fhir:Appointment/a1",
    integration_id="ehr",
    event_type="Appointment.update",
    object_type="Appointment",
    object_id="a1",
    object_types=frozenset({"Appointment"}),
    object_ids=frozenset({"a1", "Appointment/a1"}),
    data={
        "resourceType": "Appointment",
        "id": "a1",
        "status": "booked",
        "participant": [{"actor": {"reference": "Practitioner/p1"}}],
    },
)


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"event_types": ["Appointment.*"]}, True),
        ({"event_types": ["*"]}, True),
        ({"event_types": ["Appointment.create"]}, False),
        ({"event_types": ["*"], "active": False}, False),
        ({"event_types": ["*"], "object_types": ["Task"]}, False),
        ({"event_types": ["*"], "object_ids": ["Appointment/a1"]}, True),
        ({"event_types": ["*"], "filter": {"data.status": {"$in": ["booked"]}}}, True),
        (
            {
                "event_types": ["*"],
                "filter": {"data.participant.actor.reference": {"$prefix": "Practitioner/"}},
            },
            True,
        ),
        ({"event_types": ["*"], "filter": {"$not": {"data.status": "booked"}}}, False),
        ({"event_types": ["*"], "filter": {"$or": [{"data.status": "x"}, {"data.id": "a1"}]}}, True),
        ({"event_types": ["*"], "filter": {"data.missing": {"$exists": True}}}, False),
        ({"event_types": ["*"], "criteria": "Appointment?status=booked"}, True),
        ({"event_types": ["*"], "criteria": "Task?status=booked"}, False),
    ],
)
def test_independent_matcher(config: dict[str, object], expected: bool) -> None:
    assert matches(config, "ehr", APPT) is expected
    assert matches(config, "surveymonkey", APPT) is False


def _msg(t: float, event: EventFacts) -> Message:
    return Message("fhir", b"", [], [event], published_at=t)


def test_changes_make_ambiguous_windows_and_later_events_follow_the_new_config() -> None:
    hook = HookInfo("w1", "ehr", "f00", {"event_types": ["Appointment.*"], "active": True})
    events = [_msg(t, replace(APPT, key=f"k{t}")) for t in (10.0, 99.0, 104.0, 200.0)]
    delete = ConfigChange("w1", "delete", 100.0, 101.0, hook.config, None)
    exp = expected_pairs(events, {"w1": hook}, [delete], lambda _t: 2.0, propagation_s=5.0)
    # window = [100 - (2 + 1), 101 + 5]: 99 and 104 are ambiguous, 10 expected, 200 not expected
    assert exp.expected == {("w1", "k10.0")}
    assert set(exp.ambiguous) == {("w1", "k99.0"), ("w1", "k104.0")}


def test_every_expected_pair_lands_in_one_bucket() -> None:
    hook = HookInfo("w1", "ehr", "f00", {"event_types": ["*"], "active": True})
    events = [_msg(1.0, replace(APPT, key=f"sm:{k}")) for k in ("ok", "dlq", "cxl", "gone", "lost")]
    exp = expected_pairs(events, {"w1": hook}, [], lambda _t: 1.0, propagation_s=5.0)
    receipts = [
        {"t": 2.0, "label": "f00", "wid": "d-ok", "status": 500, "sig": "ok", "key": "sm:ok"},
        {"t": 3.0, "label": "f00", "wid": "d-ok", "status": 200, "sig": "ok", "key": "sm:ok"},
        {"t": 4.0, "label": "f00", "wid": "d-ok", "status": 200, "sig": "bad", "key": "sm:ok"},
        {"t": 2.0, "label": "f00", "wid": "d-gone", "status": 410, "sig": "ok", "key": "sm:gone"},
    ]
    results = [
        # no request was ever made for it: the event is found from the dispatcher's event id
        ResultFacts("w1", "d-cxl", "cxl", "cancelled", gone=False, final=True),
        ResultFacts("w1", "d-gone", "x", "failed", gone=True, final=True),
    ]
    acc = classify(exp, receipts, {"f00": "w1"}, [DeadLetterFacts("w1", "d-dlq", "sm:dlq")], results)
    assert (
        acc["delivered"],
        acc["dead_lettered"],
        acc["cancelled"],
        acc["failed_permanently"],
        acc["lost"],
    ) == (
        1,
        1,
        1,
        1,
        1,
    )
    assert acc["duplicates"] == 1
    assert acc["invalid_signatures"] == 1
    assert acc["lost_breakdown"] == {"never_seen": 1}


def test_generator_is_deterministic_and_poison_is_marked() -> None:
    gen_a, gen_b = EventGenerator(seed=3, poison_rate=0.2), EventGenerator(seed=3, poison_rate=0.2)
    first = [gen_a.message(0.0) for _ in range(200)]
    second = [gen_b.message(0.0) for _ in range(200)]
    assert [m.value for m in first] == [m.value for m in second]
    poison = [m for m in first if m.poison]
    assert poison
    assert all(m.poison is not None and m.poison.encode() in m.value and not m.events for m in poison)


@pytest.mark.integration
@pytest.mark.e2e
@pytest.mark.timeout(300)
async def test_reduced_chaos_run_loses_nothing(
    kafka_bootstrap: str,
    database_url: str,
    topics: Topics,
    topic_prefix: str,
    secrets_key: str,
    tmp_path: Path,
) -> None:
    stack = StackConfig(
        bootstrap=kafka_bootstrap,
        dsn=database_url,
        topic_prefix=topic_prefix,
        secrets_key=secrets_key,
        admin_token="chaos-test-admin-token-0123456789",
    )
    sup = Supervisor(tmp_path)
    for spec in service_specs(stack):
        sup.add(spec)
    cfg = ChaosConfig(
        events=1000,
        rate_per_s=50.0,
        webhooks=10,
        faults=frozenset({"errors500", "worker_kill"}),
        worker_kills=1,
        error_window=(0.1, 0.5),
        drain_timeout_s=90.0,
        agreement_timeout_s=20.0,
        at={"worker_kill_1": 0.4},
    )
    try:
        report = await run_chaos(
            cfg, sup, None, topics, stack.admin_token, kafka_bootstrap, secrets_key=secrets_key
        )
    finally:
        sup.shutdown()
    print(render(report))
    (tmp_path / "chaos.json").write_text(json.dumps(report, indent=2, default=str))

    assert report["published_messages"] == 1000
    assert report["expected_deliveries"] > 300, "the scenario must actually exercise deliveries"
    assert report["lost"] == 0, (
        f"lost deliveries: {report['lost_breakdown']} e.g. {report['lost_sample'][:5]}"
    )
    assert report["invalid_signatures"] == 0
    assert report["poison_sent"] > 0
    assert report["poison_routed_to_invalid"] == report["poison_sent"]
    assert report["unexpected_deliveries"] == 0, report["unexpected_sample"][:5]
    assert report["service_starts"]["delivery_worker"] == 2, "the worker was killed and restarted once"
    assert verdicts(report)["lost == 0"]
