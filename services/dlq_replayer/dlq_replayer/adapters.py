"""Kafka adapters of the core: the producer that republishes jobs and the webhook-set sources."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from contracts.webhooks import WebhookConfigV1
from dlq_replayer.errors import UnavailableError
from service_kit.config_view import ConfigFollower, WebhookView
from service_kit.kafka import producer_options
from service_kit.kafka_security import KafkaClientSettings


class KafkaPublisher:
    """An AIOKafkaProducer started on first use (a CLI ``list`` never connects a producer)."""

    def __init__(self, bootstrap_servers: str, client: KafkaClientSettings) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.client = client
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def started(self) -> KafkaPublisher:
        """Start the producer if needed (UnavailableError when the broker cannot be reached)."""
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(**producer_options(self.bootstrap_servers, self.client))
                try:
                    await producer.start()
                except KafkaError as exc:
                    await producer.stop()
                    raise UnavailableError(
                        f"cannot reach Kafka at {self.bootstrap_servers}: {type(exc).__name__}"
                    ) from None
                self._producer = producer
        return self

    async def send(
        self, topic: str, key: bytes, value: bytes, headers: list[tuple[str, bytes]]
    ) -> asyncio.Future[Any]:
        """Queue one record (acks=all); the future resolves when the broker acknowledged it."""
        assert self._producer is not None, "call started() first"
        ack: asyncio.Future[Any] = await self._producer.send(topic, value, key=key, headers=headers)
        return ack

    async def stop(self) -> None:
        """Flush and stop."""
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None


class FollowedWebhooks:
    """The webhook set of a long-running service: a ConfigFollower kept running."""

    def __init__(
        self, bootstrap_servers: str, client: KafkaClientSettings, topic: str, fetch_max_wait_ms: int = 500
    ) -> None:
        self.view = WebhookView()
        self.follower = ConfigFollower(bootstrap_servers, client, topic, self.view, fetch_max_wait_ms)

    async def __call__(self) -> Mapping[str, WebhookConfigV1]:
        if not self.follower.ready:
            raise UnavailableError("the webhook configuration is still loading; retry in a few seconds")
        return self.view.webhooks


class SnapshotWebhooks:
    """The webhook set of a CLI run: the config topic read once to its end by a ConfigFollower."""

    def __init__(
        self,
        bootstrap_servers: str,
        client: KafkaClientSettings,
        topic: str,
        timeout_s: float,
        fetch_max_wait_ms: int = 500,
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.client = client
        self.topic = topic
        self.timeout_s = timeout_s
        self._fetch_max_wait_ms = fetch_max_wait_ms
        self._webhooks: dict[str, WebhookConfigV1] | None = None

    async def __call__(self) -> Mapping[str, WebhookConfigV1]:
        if self._webhooks is None:
            view = WebhookView()
            follower = ConfigFollower(
                self.bootstrap_servers, self.client, self.topic, view, self._fetch_max_wait_ms
            )
            try:
                await follower.start()
                await follower.wait_ready(self.timeout_s)
            except KafkaError as exc:
                raise UnavailableError(f"cannot read {self.topic}: {type(exc).__name__}") from None
            except RuntimeError as exc:  # the topic does not exist
                raise UnavailableError(str(exc)) from None
            except TimeoutError:
                raise UnavailableError(
                    f"reading {self.topic} did not finish in {self.timeout_s:.0f}s"
                ) from None
            finally:
                await follower.stop()
            self._webhooks = dict(view.webhooks)
        return self._webhooks
