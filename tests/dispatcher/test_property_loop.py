"""Property test of the dispatcher loop on the real embedded broker (issue 15.3).

Hypothesis draws records with random header names and values (null, empty, binary, huge), random keys
and random bodies (valid samples, mutated samples, arbitrary JSON, arbitrary bytes). One dispatcher runs
for the whole test on its own event loop in a thread; each example publishes its records and checks:

- what the dispatcher wrote for them is exactly what a pure ``EventProcessor`` with the same config says
  (same delivery ids, same invalid events by source offset and reason);
- every record whose integration has a catch-all webhook produced jobs or an invalid event;
- every record was committed, and the dispatcher is still ready.

Bounded: a handful of examples of a few records each (well under a minute on the shared machine).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest
from aiokafka import TopicPartition
from dispatcher_helpers import sample, sm_body, webhook
from dispatcher_kafka import Bus, settings_for
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from contracts.deliveries import DeliveryJobV1
from contracts.events import InvalidEventV1
from contracts.topics import Topics
from dispatcher.app import DispatcherApp, create_app
from dispatcher.handlers import EventProcessor, InputRecord, Outgoing, ProcessingLimits
from dispatcher.matching import WebhookIndex
from dispatcher.metrics import DispatcherMetrics
from dispatcher.patient_index import PatientIndex
from service_kit.config_view import WebhookView
from webhook_core.payload_crypto import Payloads
from webhook_core.secrets_crypto import SecretBox

# The dispatcher's thread (aiokafka) uses `random` while Hypothesis draws; that is not the strategy's doing.
pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:Do not use the `random` module inside strategies"),
]
T = TypeVar("T")
CATCH_ALL = ("ehr", "surveymonkey")

header_values = st.one_of(
    st.none(),
    st.just(b""),
    st.binary(max_size=64),
    st.text(max_size=32).map(str.encode),
    st.integers(min_value=200, max_value=70_000).map(lambda n: b"\xff" * n),
)
header_names = st.one_of(
    st.sampled_from(["integration-id", "fhir-interaction", "traceparent", "message-type"]),
    st.text(min_size=0, max_size=40),
)
integration_header = st.one_of(
    st.none(),
    st.sampled_from([*CATCH_ALL, " ehr ", "other"]).map(lambda s: (s.encode(),)),
    header_values.map(lambda v: (v,)),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def _seeds() -> list[dict[str, Any]]:
    return [
        sample("fhir/appointment.json"),
        sample("fhir/patient.json"),
        sample("fhir/history_bundle.json"),
        {"resourceType": "Task", "id": "t1"},
        sm_body("response_completed"),
        sample("surveymonkey/contact_created.json"),
    ]


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["seed", "mutated", "json", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "json":
        return json.dumps(draw(json_values)).encode()
    doc = draw(st.sampled_from(_seeds()))
    if kind == "mutated":
        field = draw(st.sampled_from(sorted(doc)))
        doc = {**doc, field: draw(json_values)}
    return json.dumps(doc).encode()


@st.composite
def records(draw: st.DrawFn) -> tuple[bool, bytes | None, bytes, list[tuple[str, bytes | None]]]:
    fhir = draw(st.booleans())
    key = draw(st.one_of(st.none(), st.binary(max_size=40), st.just(b"k" * 5000)))
    headers = draw(st.lists(st.tuples(header_names, header_values), max_size=4))
    integration = draw(integration_header)
    if integration is not None:
        headers.append(("integration-id", integration[0]))
    return fhir, key, draw(bodies()), headers


class LoopThread:
    """An event loop in a thread, so that one dispatcher serves every Hypothesis example."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def loop_thread() -> Iterator[LoopThread]:
    lt = LoopThread()
    try:
        yield lt
    finally:
        lt.close()


def _oracle(topics: Topics, hooks: list[Any]) -> EventProcessor:
    view, index = WebhookView(), WebhookIndex()
    view.subscribe(index.on_change)
    for hook in hooks:
        view.apply(hook.id, hook.to_bytes())
    return EventProcessor(
        topics, view, index, PatientIndex(), DispatcherMetrics(), "US",
        Payloads(SecretBox(bytes(32)), encrypt=False),  # only ids and reasons are compared
        limits=ProcessingLimits(),
    )  # fmt: skip


def _signature(topics: Topics, topic: str, value: bytes | None, key: bytes | None) -> tuple[str, str]:
    if topic in (topics.deliveries, topics.deliveries_priority):
        return topic, DeliveryJobV1.model_validate_json(value or b"").delivery_id
    if topic == topics.invalid_events:
        inv = InvalidEventV1.model_validate_json(value or b"")
        return topic, f"{inv.source_topic}:{inv.partition}:{inv.offset}:{inv.entry_index}:{inv.reason}"
    return topic, repr((key, value is None))  # patient-index entries carry the time of writing


def test_any_record_ends_in_jobs_or_the_invalid_topic_and_the_dispatcher_stays_ready(
    kafka_bootstrap: str, topics: Topics, topic_prefix: str, secrets_key: str, loop_thread: LoopThread
) -> None:
    hooks = [
        webhook("all-ehr", "ehr", event_types=["*"]),
        webhook("all-sm", "surveymonkey", event_types=["*"]),
    ]
    cfg = settings_for(kafka_bootstrap, topic_prefix, secrets_key)

    async def start() -> tuple[DispatcherApp, Bus]:
        bus = Bus(kafka_bootstrap, topics)  # aiokafka clients are made on the loop that runs them
        await bus.__aenter__()
        for hook in hooks:
            await bus.config(hook)
        app = create_app(cfg)
        await app.start()
        return app, bus

    app, bus = loop_thread.run(start())
    oracle = _oracle(topics, hooks)
    examples = 0
    try:

        @settings(
            max_examples=12,
            deadline=None,
            derandomize=False,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
            database=None,
            phases=[Phase.explicit, Phase.generate],  # no shrinking: each example costs broker round trips
        )
        @given(batch=st.lists(records(), min_size=1, max_size=4))
        def check(batch: list[tuple[bool, bytes | None, bytes, list[tuple[str, bytes | None]]]]) -> None:
            nonlocal examples
            examples += 1

            async def one() -> None:
                expected: list[tuple[str, str]] = []
                must_output: list[int] = []
                sent: dict[TopicPartition, int] = {}
                for i, (fhir, key, value, headers) in enumerate(batch):
                    topic = topics.fhir_events if fhir else topics.surveymonkey_events
                    meta = await bus.producer.send_and_wait(topic, value, key=key, headers=headers)
                    tp = TopicPartition(topic, meta.partition)
                    sent[tp] = max(sent.get(tp, 0), meta.offset + 1)
                    record = InputRecord(
                        topic, meta.partition, meta.offset, key, value, headers, meta.timestamp
                    )
                    out: list[Outgoing] = oracle.process(record)
                    expected.extend(_signature(topics, o.topic, o.value, o.key) for o in out)
                    integration = dict(headers).get("integration-id")
                    text = (integration or b"").decode("utf-8", "replace").strip()
                    if text in ("", *CATCH_ALL) or len(text) > 128:
                        must_output.append(i)
                    if must_output and must_output[-1] == i:
                        assert out, f"record {i} produced nothing"
                got = await bus.collect(len(expected), timeout_s=20.0, settle_s=0.3)
                assert sorted(_signature(topics, r.topic, r.value, r.key) for r in got) == sorted(expected)
                consumer = app._consumer
                assert consumer is not None
                for tp, end in sent.items():
                    for _ in range(100):
                        if (await consumer.committed(tp) or 0) >= end:
                            break
                        await asyncio.sleep(0.05)
                    assert (await consumer.committed(tp) or 0) >= end, f"{tp} not committed to {end}"
                assert app.ready

            loop_thread.run(one())

        check()
    finally:
        loop_thread.run(app.stop())
        loop_thread.run(bus.__aexit__(None, None, None))
    assert examples >= 5
