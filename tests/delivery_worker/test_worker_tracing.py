"""Traces across Kafka: one event → one trace from the dispatcher through the worker to the receiver.

The dispatcher and the worker run in-process on the embedded broker with an SDK tracer provider that
exports into memory; a real loopback receiver gets the POST.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web
from dw_helpers import Bus, Handler, Receiver, make_config, make_job, receiver, wait_for
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from contracts.base import utcnow
from contracts.deliveries import DeadLetterV1
from contracts.records import delivery_job_record
from contracts.topics import Topics
from delivery_worker.plan import dead_letter_publication, retry_publication
from devstack.ports import free_port
from dispatcher.app import create_app as create_dispatcher
from dispatcher.settings import DispatcherSettings
from webhook_core.payload_crypto import Payloads
from webhook_core.secrets_crypto import SecretBox

pytestmark = pytest.mark.integration

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
INCOMING = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
MARKER = "PAYLOAD-MARKER-7d1c"
StartWorker = Callable[..., Awaitable[Any]]  # the start_worker fixture of this folder's conftest


def _sm_callback() -> dict[str, Any]:
    return {
        "name": "hook",
        "filter_type": "survey",
        "filter_id": "s1",
        "event_type": "response_completed",
        "event_id": "e-trace-1",
        "object_type": "response",
        "object_id": "r1",
        "event_datetime": "2024-05-01T10:00:00.000001+00:00",
        "resources": {"survey_id": MARKER, "collector_id": "c1", "user_id": "u1"},
    }


async def send_event(bus: Bus, topics: Topics, traceparent: bytes | None) -> None:
    """One SurveyMonkey callback for ``int_trace`` (its payload holds MARKER) with a ``traceparent`` header."""
    headers: list[tuple[str, bytes | None]] = [("integration-id", b"int_trace"), ("traceparent", traceparent)]
    await bus.producer.send_and_wait(
        topics.surveymonkey_events,
        json.dumps(_sm_callback()).encode(),
        key=b"k",
        headers=headers,  # type: ignore[arg-type]
    )


@asynccontextmanager
async def pipeline(
    kafka_bootstrap: str,
    topic_prefix: str,
    secrets_key: str,
    box: SecretBox,
    bus: Bus,
    start_worker: StartWorker,
    routes: dict[str, Handler] | None = None,
) -> AsyncIterator[Receiver]:
    """A loopback receiver subscribed to ``int_trace``, a dispatcher and a worker, all in-process."""
    async with receiver(routes) as rec:
        await bus.config(make_config(box, rec.url("/hook"), integration_id="int_trace"))
        dispatcher = create_dispatcher(
            DispatcherSettings(
                kafka_bootstrap_servers=kafka_bootstrap,
                topic_prefix=topic_prefix,
                webhook_secrets_key=secrets_key,  # type: ignore[arg-type]
                port=free_port(),
                group_id=f"{topic_prefix}dispatcher",
                ready_timeout_s=30,
                session_timeout_ms=2000,
                heartbeat_interval_ms=500,
            )
        )
        await dispatcher.start()
        try:
            await start_worker()
            yield rec
        finally:
            await dispatcher.stop()


async def test_one_event_is_one_trace_to_the_receiver(
    span_exporter: InMemorySpanExporter,
    kafka_bootstrap: str,
    topics: Topics,
    topic_prefix: str,
    secrets_key: str,
    box: SecretBox,
    bus: Bus,
    start_worker: StartWorker,
) -> None:
    async with pipeline(kafka_bootstrap, topic_prefix, secrets_key, box, bus, start_worker) as rec:
        await send_event(bus, topics, INCOMING.encode())
        await wait_for(lambda: bool(rec.on("/hook")), 30, "the delivery")
        await wait_for(lambda: len(bus.results) >= 1, 15, "the result")

    hit = rec.on("/hook")[0]
    assert MARKER.encode() in hit.body  # the marker is in the payload the receiver got
    finished = span_exporter.get_finished_spans()
    by_name = {s.name: s for s in finished}
    dispatch, attempt = by_name["dispatch"], by_name["delivery attempt"]
    assert {s.context.trace_id for s in (dispatch, attempt)} == {int(TRACE_ID, 16)}
    assert dispatch.parent is not None and dispatch.parent.span_id == 0x00F067AA0BA902B7
    assert attempt.parent is not None and attempt.parent.span_id == dispatch.context.span_id
    assert dispatch.attributes is not None and dispatch.attributes["carehooks.matched_webhooks"] == 1
    assert attempt.attributes is not None
    assert attempt.attributes["http.response.status_code"] == 200
    assert attempt.attributes["carehooks.attempt"] == 1
    assert attempt.attributes["carehooks.error_category"] == "none"
    # The receiver can join the trace: the POST carries the attempt span's traceparent.
    assert hit.headers["traceparent"] == f"00-{TRACE_ID}-{attempt.context.span_id:016x}-01"
    for span in finished:
        for value in (span.attributes or {}).values():
            assert MARKER not in str(value), f"payload data in span {span.name}"


async def test_an_event_without_traceparent_starts_a_trace_at_the_dispatcher(
    span_exporter: InMemorySpanExporter,
    kafka_bootstrap: str,
    topics: Topics,
    topic_prefix: str,
    secrets_key: str,
    box: SecretBox,
    bus: Bus,
    start_worker: StartWorker,
) -> None:
    async with pipeline(kafka_bootstrap, topic_prefix, secrets_key, box, bus, start_worker) as rec:
        await send_event(bus, topics, None)
        await wait_for(lambda: bool(rec.on("/hook")), 30, "the delivery")
    by_name = {s.name: s for s in span_exporter.get_finished_spans()}
    dispatch, attempt = by_name["dispatch"], by_name["delivery attempt"]
    assert dispatch.parent is None  # a header without a value is no context: a new trace
    assert attempt.context.trace_id == dispatch.context.trace_id
    assert rec.on("/hook")[0].headers["traceparent"].split("-")[1] == f"{dispatch.context.trace_id:032x}"


async def test_a_retried_delivery_stays_in_the_event_trace(
    span_exporter: InMemorySpanExporter,
    kafka_bootstrap: str,
    topics: Topics,
    topic_prefix: str,
    secrets_key: str,
    box: SecretBox,
    bus: Bus,
    start_worker: StartWorker,
) -> None:
    calls: list[int] = []

    async def fail_once(_: web.Request) -> web.StreamResponse:
        calls.append(1)
        return web.Response(status=503 if len(calls) == 1 else 200)

    routes = {"/hook": fail_once}
    async with pipeline(kafka_bootstrap, topic_prefix, secrets_key, box, bus, start_worker, routes) as rec:
        await send_event(bus, topics, INCOMING.encode())
        await wait_for(lambda: len(rec.on("/hook")) >= 2, 30, "the retried delivery")
        await wait_for(
            lambda: len([s for s in span_exporter.get_finished_spans() if s.name == "delivery attempt"]) >= 2,
            10,
            "both attempt spans",
        )
    spans = span_exporter.get_finished_spans()
    (dispatch,) = [s for s in spans if s.name == "dispatch"]
    attempts = sorted(
        (s for s in spans if s.name == "delivery attempt"),
        key=lambda s: (s.attributes or {})["carehooks.attempt"],
    )
    # The retry hop kept the job's traceparent: both attempts are children of the one dispatch span.
    assert [(s.context.trace_id, s.parent.span_id if s.parent else None) for s in attempts] == [
        (int(TRACE_ID, 16), dispatch.context.span_id)
    ] * 2
    assert [
        ((s.attributes or {})["carehooks.attempt"], (s.attributes or {})["http.response.status_code"])
        for s in attempts
    ] == [
        (1, 503),
        (2, 200),
    ]
    assert (attempts[0].attributes or {})["carehooks.error_category"] == "http_5xx"
    assert [h.headers["traceparent"].split("-")[1] for h in rec.on("/hook")] == [TRACE_ID, TRACE_ID]


def test_retry_hops_dead_letters_and_replays_keep_the_traceparent(topics: Topics, box: SecretBox) -> None:
    job = make_job(make_config(box, "http://127.0.0.1:9/hook"))
    sealer = Payloads(box)  # jobs travel encrypted, as by default
    headers = [*delivery_job_record(job, sealer=sealer).headers, ("traceparent", INCOMING.encode())]
    now = utcnow()
    hop, _ = retry_publication(topics, job, headers, now, sealer)
    assert ("traceparent", INCOMING.encode()) in hop.headers
    letter = dead_letter_publication(topics, sealer.seal(job), "gave up", "http_5xx", 503, hop.headers, now)
    dead = DeadLetterV1.model_validate_json(letter.value)
    assert dead.original_headers["traceparent"] == INCOMING
    # What the DLQ replayer republishes: the letter's original headers on a fresh job record.
    replayed = delivery_job_record(dead.job, dead.original_headers, sealer=sealer)
    assert ("traceparent", INCOMING.encode()) in replayed.headers
