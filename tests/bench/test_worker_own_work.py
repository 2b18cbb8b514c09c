"""``bench/worker_own_work.py`` (its rungs are part of ``make bench``'s worker benchmark): each rung
really does the work it is named for, so the steps it reports are the cost of that work."""

from __future__ import annotations

import asyncio

import worker_own_work
from worker_own_work import Extras, OwnWork, checked_delivery

from contracts.deliveries import DeliveryResultV1
from delivery_worker.dns_cache import CachingResolver
from delivery_worker.job_records import JobRecords
from delivery_worker.metrics import WorkerMetrics
from webhook_core.payload_crypto import Payloads
from webhook_core.ssrf import system_resolver


def _sample(metrics: WorkerMetrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


async def test_the_send_rung_runs_the_send_time_ssrf_check() -> None:
    own = OwnWork(1)
    value = own.records[0].value or b""
    metrics = WorkerMetrics()
    extras = Extras(
        CachingResolver(system_resolver, 10.0),
        own.hooks[0].retry_policy,
        metrics,
        JobRecords(own.topics, Payloads(own.box), metrics, 4_000_000, traced=False),
    )
    session = worker_own_work._canned()
    sink = own.topics.delivery_results
    # 10.0.0.1 is outside the bench policy's allowed 127.0.0.0/8: blocked before any POST.
    blocked = await checked_delivery(session, "http://10.0.0.1/x", value, own.secret, own.box, sink, extras)
    topics = [p.topic for p in blocked]
    assert topics.count(own.topics.delivery_results) == 1
    assert own.topics.deliveries_dlq in topics  # not retryable: dead-lettered, as the worker would
    result = DeliveryResultV1.model_validate_json(next(p.value for p in blocked if p.topic == sink))
    assert result.error_category == "ssrf_blocked"

    sent = await checked_delivery(
        session, own.hooks[0].subscription_url, value, own.secret, own.box, sink, extras
    )
    assert [p.topic for p in sent] == [sink]
    assert DeliveryResultV1.model_validate_json(sent[0].value).outcome == "succeeded"
    # The metrics rung's updates happened: the POST's duration per send, the rest per success.
    succeeded = {"integration": "other", "outcome": "succeeded", "error_category": "none"}
    assert _sample(metrics, "carehooks_delivery_attempts_total", **succeeded) == 1
    assert _sample(metrics, "carehooks_event_to_delivery_seconds_count") == 1
    assert _sample(metrics, "carehooks_delivery_duration_seconds_count", integration="other") == 2


async def test_the_rungs_and_their_steps() -> None:
    out = await OwnWork(40).main(rounds=3, rungs=("lean", "send", "deliverer"))
    runs = out["runs_us"]
    assert list(runs) == ["lean", "send", "deliverer"]
    assert all(len(values) == 3 and min(values) > 0 for values in runs.values())
    median = {name: sorted(values)[1] for name, values in runs.items()}
    assert out["median_us"] == median
    steps = out["steps_us"]
    assert list(steps) == ["send", "deliverer"]
    assert abs(steps["send"] - (median["send"] - median["lean"])) <= 0.11  # from unrounded medians
    assert abs(steps["deliverer"] - (median["deliverer"] - median["send"])) <= 0.11


async def test_the_concurrent_rungs_finish_every_job() -> None:
    """The consumer rung drives the real JobConsumer over a canned consumer and outbox: it returns
    only once every job was acknowledged (a job lost on the way would hang it, hence the bound)."""
    own = OwnWork(300)
    for name in ("concurrent", "consumer"):
        assert await asyncio.wait_for(own.rung(name), 30) > 0
