"""The config view follows webhooks.config on the real embedded broker."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaProducer
from recorded_consumers import record_consumers, stopped

from contracts.base import utcnow
from contracts.topics import Topics
from contracts.webhooks import WebhookConfigV1
from service_kit.config_view import ConfigFollower, WebhookView
from service_kit.kafka import producer_options
from service_kit.kafka_security import embedded_broker_client

pytestmark = pytest.mark.integration


def _webhook(wid: str, version: int = 1, active: bool = True) -> WebhookConfigV1:
    return WebhookConfigV1(
        id=wid,
        integration_id="ehr",
        integration_type="fhir",
        name=wid,
        subscription_url="https://example.org/h",
        event_types=["*"],
        active=active,
        version=version,
        updated_at=utcnow(),
    )


async def test_follower_catches_up_then_follows(kafka_bootstrap: str, topics: Topics) -> None:
    producer = AIOKafkaProducer(**producer_options(kafka_bootstrap, embedded_broker_client()))
    await producer.start()
    try:
        await producer.send_and_wait(topics.webhooks_config, _webhook("a").to_bytes(), key=b"a")
        await producer.send_and_wait(topics.webhooks_config, _webhook("b").to_bytes(), key=b"b")
        await producer.send_and_wait(topics.webhooks_config, None, key=b"b")
        view = WebhookView()
        follower = ConfigFollower(kafka_bootstrap, embedded_broker_client(), topics.webhooks_config, view, 10)
        await follower.start()
        try:
            await follower.wait_ready(20)
            assert set(view.webhooks) == {"a"}
            await producer.send_and_wait(
                topics.webhooks_config, _webhook("a", 2, active=False).to_bytes(), key=b"a"
            )
            await producer.send_and_wait(topics.webhooks_config, _webhook("a", 1).to_bytes(), key=b"a")
            for _ in range(100):
                if view.webhooks["a"].version == 2:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)
            assert view.webhooks["a"].version == 2  # the stale version 1 was ignored
            assert view.webhooks["a"].active is False
        finally:
            await follower.stop()
    finally:
        await producer.stop()


async def test_a_follower_that_cannot_start_leaves_no_consumer_open(monkeypatch: pytest.MonkeyPatch) -> None:
    from aiokafka.errors import KafkaConnectionError

    from service_kit import config_view

    made = record_consumers(monkeypatch, config_view)
    follower = ConfigFollower("127.0.0.1:1", embedded_broker_client(), "webhooks.config", WebhookView(), 10)
    with pytest.raises(KafkaConnectionError):
        await follower.start()
    assert len(made) == 1 and stopped(made[0])
    await follower.stop()  # nothing to stop: a no-op


class _Recorder:
    def __init__(self) -> None:
        self.records: list[tuple[str, bytes | None]] = []

    def apply(self, key: str, value: bytes | None) -> None:
        self.records.append((key, value))


async def test_one_follower_feeds_each_topic_to_its_own_sink(kafka_bootstrap: str, topics: Topics) -> None:
    producer = AIOKafkaProducer(**producer_options(kafka_bootstrap, embedded_broker_client()))
    await producer.start()
    try:
        await producer.send_and_wait(topics.webhooks_config, _webhook("a").to_bytes(), key=b"a")
        await producer.send_and_wait(topics.patient_index, b"before", key=b"p1")
        view, patients = WebhookView(), _Recorder()
        follower = ConfigFollower(
            kafka_bootstrap,
            embedded_broker_client(),
            topics.webhooks_config,
            view,
            10,
            also={topics.patient_index: patients},
        )
        await follower.start()
        try:
            await follower.wait_ready(20)
            # ready means both topics were read up to what they held at start
            assert set(view.webhooks) == {"a"}
            assert patients.records == [("p1", b"before")]
            assert follower.consumer is not None
            assert {tp.topic for tp in follower.consumer.assignment()} == {
                topics.webhooks_config,
                topics.patient_index,
            }
            await producer.send_and_wait(topics.patient_index, None, key=b"p1")
            await producer.send_and_wait(topics.webhooks_config, _webhook("b").to_bytes(), key=b"b")
            for _ in range(100):
                if len(patients.records) == 2 and "b" in view.webhooks:
                    break
                await asyncio.sleep(0.05)
            # each record went to its own topic's sink, none to the other
            assert patients.records == [("p1", b"before"), ("p1", None)]
            assert set(view.webhooks) == {"a", "b"} and view.invalid_records == 0
        finally:
            await follower.stop()
    finally:
        await producer.stop()
