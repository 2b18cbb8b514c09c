"""Publishing the generated events, and tailing the output topics (DLQ, results, invalid)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError

from chaos_lib.events import Message
from contracts.topics import Headers, Topics
from service_kit.kafka import assign_from_beginning, consumer_options, producer_options
from service_kit.kafka_security import embedded_broker_client

T = TypeVar("T")


class Publisher:
    """Publishes messages at a steady rate; records each one's publish time."""

    def __init__(self, bootstrap: str, topics: Topics) -> None:
        self.topics = topics
        self.producer = AIOKafkaProducer(**producer_options(bootstrap, embedded_broker_client()))
        self.published: list[Message] = []
        self.failed = 0

    async def start(self) -> None:
        await self.producer.start()

    async def stop(self) -> None:
        await self.producer.stop()

    def topic_of(self, message: Message) -> str:
        return (
            self.topics.surveymonkey_events if message.source == "surveymonkey" else self.topics.fhir_events
        )

    async def send(self, message: Message) -> asyncio.Future[Any]:
        """Queue one message (returns the broker-ack future)."""
        message.published_at = time.time()
        headers = [*message.headers, (Headers.PUBLISHED_AT, datetime.now(UTC).isoformat().encode())]
        fut: asyncio.Future[Any] = await self.producer.send(
            self.topic_of(message), message.value, headers=headers
        )
        self.published.append(message)
        return fut

    async def run_steady(
        self,
        make: Callable[[float], Message],
        count: int,
        rate_per_s: float,
        on_tick: Callable[[int], None] | None = None,
    ) -> float:
        """Publish ``count`` messages at ``rate_per_s`` (in 20 ms slices); returns the elapsed seconds."""
        began = time.monotonic()
        sent = 0
        pending: list[asyncio.Future[Any]] = []
        while sent < count:
            due = min(count, int((time.monotonic() - began) * rate_per_s) + 1)
            while sent < due:
                pending.append(await self.send(make(time.time())))
                sent += 1
            if len(pending) > 500:
                await self._settle(pending)
                pending = []
            if on_tick is not None:
                on_tick(sent)
            await asyncio.sleep(0.02)
        await self._settle(pending)
        return time.monotonic() - began

    async def _settle(self, pending: list[asyncio.Future[Any]]) -> None:
        for result in await asyncio.gather(*pending, return_exceptions=True):
            if isinstance(result, BaseException):
                self.failed += 1


class TopicTail(Generic[T]):
    """Reads a topic from the beginning (all partitions, no group) and keeps following it."""

    def __init__(
        self, bootstrap: str, topic: str, parse: Callable[[bytes | None, bytes | None], T | None]
    ) -> None:
        self.topic = topic
        self.parse = parse
        self.items: list[T] = []
        self.unparsable = 0
        self._consumer = AIOKafkaConsumer(
            group_id=None, **consumer_options(bootstrap, embedded_broker_client(), 50)
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._consumer.start()
        await assign_from_beginning(self._consumer, self.topic, timeout_s=10.0)
        self._task = asyncio.create_task(self._follow(), name=f"tail:{self.topic}")

    async def _follow(self) -> None:
        while True:
            try:
                batches = await self._consumer.getmany(timeout_ms=200, max_records=2000)
            except KafkaError:
                await asyncio.sleep(0.5)
                continue
            for records in batches.values():
                for record in records:
                    try:
                        item = self.parse(record.key, record.value)
                    except ValueError:
                        item = None
                    if item is None:
                        self.unparsable += 1
                    else:
                        self.items.append(item)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._consumer.stop()
