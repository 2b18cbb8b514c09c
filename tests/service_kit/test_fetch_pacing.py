"""The idle fetch wait (service_kit.fetch_pacing): the rule, the switching, and its effect on the wire."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.protocol.fetch import FetchRequest

from contracts.topics import Topics
from service_kit.fetch_pacing import FetchPacer, fetch_wait_ms, idle_pacer, set_fetch_wait
from service_kit.kafka import consumer_options, producer_options
from service_kit.kafka_security import embedded_broker_client
from service_kit.settings import CommonSettings
from webhook_core.secrets_crypto import generate_key


@pytest.mark.parametrize(
    ("quiet_for_s", "expected"),
    [(0.0, 10), (1.99, 10), (2.0, 100), (3600.0, 100)],
)
def test_the_wait_lengthens_only_after_the_quiet_spell(quiet_for_s: float, expected: int) -> None:
    assert fetch_wait_ms(10, 100, 2.0, quiet_for_s) == expected


class FakeFetcher:
    def __init__(self) -> None:
        self._fetch_max_wait_ms = 10


class FakeConsumer:
    def __init__(self) -> None:
        self._fetcher = FakeFetcher()


def test_the_pacer_switches_after_quiet_and_snaps_back_on_a_record() -> None:
    now = [0.0]
    consumer: Any = FakeConsumer()
    other: Any = FakeConsumer()
    pacer = FetchPacer(lambda: (consumer, other, None), 10, 100, quiet_after_s=2.0, clock=lambda: now[0])
    now[0] = 1.5
    pacer.tick()
    assert consumer._fetcher._fetch_max_wait_ms == 10 and pacer.current_ms == 10
    now[0] = 2.5
    pacer.tick()
    assert consumer._fetcher._fetch_max_wait_ms == 100 and pacer.current_ms == 100
    assert other._fetcher._fetch_max_wait_ms == 100  # every consumer of the service, together
    pacer.seen()
    assert consumer._fetcher._fetch_max_wait_ms == 10 and pacer.current_ms == 10
    assert other._fetcher._fetch_max_wait_ms == 10
    now[0] = 3.0
    pacer.tick()  # 0.5 s after the record: still busy
    assert pacer.current_ms == 10


def test_no_pacer_unless_the_idle_wait_is_set() -> None:
    base: dict[str, Any] = {
        "kafka_bootstrap_servers": "x:9092",
        "kafka_fetch_max_wait_ms": 10,
        "webhook_secrets_key": generate_key(),
    }
    # (explicitly None: the test session's environment carries the embedded broker's value)
    assert idle_pacer(lambda: (), CommonSettings(**base, kafka_idle_fetch_max_wait_ms=None)) is None
    same = CommonSettings(**base, kafka_idle_fetch_max_wait_ms=10)
    assert idle_pacer(lambda: (), same) is None
    pacer = idle_pacer(lambda: (), CommonSettings(**base, kafka_idle_fetch_max_wait_ms=100))
    assert pacer is not None and (pacer.busy_ms, pacer.idle_ms, pacer.quiet_after_s) == (10, 100, 2.0)


def test_a_consumer_without_a_fetcher_is_left_alone() -> None:
    assert set_fetch_wait(object(), 50) is False  # type: ignore[arg-type]


@pytest.mark.integration
async def test_the_new_wait_reaches_the_fetch_requests_on_the_wire(
    kafka_bootstrap: str, topics: Topics
) -> None:
    """Fetch requests an idle consumer sends in one second, with 10 ms and then 500 ms: the wait set on
    a running consumer is the one the next requests carry (and the embedded broker holds them for it)."""
    client = embedded_broker_client()
    producer = AIOKafkaProducer(**producer_options(kafka_bootstrap, client))
    await producer.start()
    await (await producer.send(topics.fhir_events, b"{}", key=b"k", partition=0))
    await producer.stop()
    consumer = AIOKafkaConsumer(group_id=None, **consumer_options(kafka_bootstrap, client, 10))
    await consumer.start()
    waits: list[int] = []
    real_send = consumer._client.send

    async def counting_send(node_id: int, request: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(request, FetchRequest):
            waits.append(request._max_wait_ms)
        return await real_send(node_id, request, *args, **kwargs)

    consumer._client.send = counting_send  # type: ignore[method-assign]
    try:
        tp = TopicPartition(topics.fhir_events, 0)
        consumer.assign([tp])
        await consumer.seek_to_end(tp)
        await asyncio.sleep(1.0)
        short = len(waits)
        assert set_fetch_wait(consumer, 500)
        await asyncio.sleep(0.6)  # the request in flight ends; the next ones carry the new wait
        waits.clear()
        await asyncio.sleep(1.0)
        long = len(waits)
    finally:
        await consumer.stop()
    assert short >= 15, short  # ~100 per second at 10 ms; leave room for a slow machine
    assert long <= 4 and set(waits) == {500}, waits
