"""Broker helpers for the dispatcher integration tests: run instances, publish, collect output."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord

from contracts.deliveries import DeliveryJobV1
from contracts.events import InvalidEventV1
from contracts.topics import Topics
from contracts.webhooks import PriorityRulesV1, WebhookConfigV1, priority_rules_key
from devstack.ports import free_port
from dispatcher.app import DispatcherApp, create_app
from dispatcher.settings import DispatcherSettings
from service_kit.kafka import consumer_options, producer_options
from service_kit.kafka_security import embedded_broker_client
from service_kit.settings import decode_secrets_key
from webhook_core.payload_crypto import Payloads
from webhook_core.secrets_crypto import SecretBox


def settings_for(
    bootstrap: str, prefix: str, secrets_key: str, group: str = "dispatcher"
) -> DispatcherSettings:
    return DispatcherSettings(
        kafka_bootstrap_servers=bootstrap,
        topic_prefix=prefix,
        webhook_secrets_key=secrets_key,  # type: ignore[arg-type]
        port=free_port(),
        group_id=f"{prefix}{group}",
        ready_timeout_s=30,
        # The embedded broker holds each group join for half the session timeout: keep it short.
        session_timeout_ms=2000,
        heartbeat_interval_ms=500,
    )


def read_job(value: bytes | None, secrets_key: str) -> DeliveryJobV1:
    """A job the dispatcher wrote, opened (its body is encrypted on Kafka by default)."""
    job = DeliveryJobV1.model_validate_json(value or b"")
    return Payloads(SecretBox(decode_secrets_key(secrets_key))).open(job)


def invalid_copy(invalid: InvalidEventV1, secrets_key: str) -> bytes:
    """The bytes an invalid record the dispatcher wrote copied (encrypted on Kafka by default)."""
    return Payloads(SecretBox(decode_secrets_key(secrets_key))).invalid_value(invalid)


@asynccontextmanager
async def running(settings: DispatcherSettings) -> AsyncIterator[DispatcherApp]:
    app = create_app(settings)
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


async def http_get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        return resp.status, await resp.text()


class Bus:
    """Publishes inputs/config and collects what the dispatcher wrote."""

    def __init__(self, bootstrap: str, topics: Topics) -> None:
        self.bootstrap = bootstrap
        self.topics = topics
        self.producer = AIOKafkaProducer(**producer_options(bootstrap, embedded_broker_client()))
        self.consumer = AIOKafkaConsumer(
            topics.deliveries,
            topics.deliveries_priority,
            topics.invalid_events,
            topics.patient_index,
            group_id=None,
            **consumer_options(bootstrap, embedded_broker_client(), 10),
        )
        self.seen: list[ConsumerRecord] = []  # type: ignore[type-arg]
        self.pending: list[ConsumerRecord] = []  # type: ignore[type-arg]

    async def __aenter__(self) -> Bus:
        await self.producer.start()
        await self.consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.consumer.stop()
        await self.producer.stop()

    async def config(self, record: WebhookConfigV1 | PriorityRulesV1) -> None:
        key = record.id if isinstance(record, WebhookConfigV1) else priority_rules_key(record.integration_id)
        await self.producer.send_and_wait(self.topics.webhooks_config, record.to_bytes(), key=key.encode())

    async def delete_webhook(self, webhook_id: str) -> None:
        await self.producer.send_and_wait(self.topics.webhooks_config, None, key=webhook_id.encode())

    async def publish(
        self, doc: Any, fhir: bool = True, partition: int | None = None, **headers: str
    ) -> None:
        value = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
        topic = self.topics.fhir_events if fhir else self.topics.surveymonkey_events
        hdrs = [(k.replace("_", "-"), v.encode()) for k, v in headers.items()]
        await self.producer.send_and_wait(topic, value, key=b"k", headers=hdrs, partition=partition)

    async def _poll(self) -> None:
        batches = await self.consumer.getmany(timeout_ms=100)
        for records in batches.values():
            self.seen.extend(records)
            self.pending.extend(records)

    async def collect(
        self, count: int, topic: str | None = None, timeout_s: float = 15.0, settle_s: float = 0.0
    ) -> list[ConsumerRecord]:  # type: ignore[type-arg]
        """Wait for at least ``count`` records not taken yet (on ``topic`` if given), then ``settle_s``; take them."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s

        def wanted() -> list[ConsumerRecord]:  # type: ignore[type-arg]
            return [r for r in self.pending if topic is None or r.topic == topic]

        while len(wanted()) < count and loop.time() < deadline:
            await self._poll()
        settle_until = loop.time() + settle_s
        while loop.time() < settle_until:
            await self._poll()
        taken = wanted()
        self.pending = [r for r in self.pending if r not in taken]
        return taken
