"""Test helpers for the delivery worker: scripted loopback receivers, config/job publishing, result reading."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from aiohttp import web
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

from contracts.base import utcnow
from contracts.deliveries import DeadLetterV1, DeliveryJobV1, DeliveryResultV1
from contracts.headers import headers_as_text
from contracts.topics import Topics
from contracts.webhooks import (
    BasicAuth,
    BearerAuth,
    HeaderAuth,
    NoAuth,
    RetryPolicy,
    SigningSecret,
    WebhookConfigV1,
)
from service_kit.kafka import assign_from_beginning, consumer_options, producer_options
from service_kit.kafka_security import embedded_broker_client
from webhook_core.secrets_crypto import SecretBox
from webhook_core.webhook_secrets import encrypt_auth, secret_context

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Hit:
    """One request a receiver got."""

    at: float
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A loopback HTTP server; ``routes`` maps a path to a handler (default 200)."""

    routes: dict[str, Handler] = field(default_factory=dict)
    hits: list[Hit] = field(default_factory=list)
    port: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def on(self, path: str) -> list[Hit]:
        return [h for h in self.hits if h.path == path]


@asynccontextmanager
async def receiver(routes: dict[str, Handler] | None = None) -> AsyncIterator[Receiver]:
    rec = Receiver(routes=dict(routes or {}))

    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        rec.hits.append(
            Hit(time.monotonic(), request.path, {k.lower(): v for k, v in request.headers.items()}, body)
        )
        handler = rec.routes.get(request.path)
        if handler is None:
            return web.Response(status=200, text="ok")
        return await handler(request)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    rec.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield rec
    finally:
        rec.release.set()
        await runner.cleanup()


def status(code: int, headers: dict[str, str] | None = None, text: str = "") -> Handler:
    async def handler(_: web.Request) -> web.StreamResponse:
        return web.Response(status=code, headers=headers, text=text)

    return handler


def delayed(seconds: float) -> Handler:
    """Answers 200 after ``seconds`` (a slow but healthy endpoint)."""

    async def handler(_: web.Request) -> web.StreamResponse:
        await asyncio.sleep(seconds)
        return web.Response()

    return handler


def hang(rec_release: asyncio.Event) -> Handler:
    async def handler(_: web.Request) -> web.StreamResponse:
        await rec_release.wait()
        return web.Response()

    return handler


def make_config(
    box: SecretBox,
    url: str,
    *,
    webhook_id: str | None = None,
    secrets: list[tuple[str, Any]] | None = None,
    auth: NoAuth | BasicAuth | BearerAuth | HeaderAuth | None = None,
    retry: RetryPolicy | None = None,
    **fields: Any,
) -> WebhookConfigV1:
    wid = webhook_id or f"wh_{uuid.uuid4().hex[:8]}"
    signing = [
        SigningSecret(encrypted=box.encrypt(secret, secret_context(wid)), expires_at=expires)
        for secret, expires in (secrets or [])
    ]
    return WebhookConfigV1(
        id=wid,
        integration_id=fields.pop("integration_id", "int_1"),
        integration_type="custom",
        name="test hook",
        subscription_url=url,
        event_types=["*"],
        auth_type=(auth or NoAuth()).type,
        auth_encrypted=encrypt_auth(box, wid, auth or NoAuth()),
        signing_secrets=signing,
        retry_policy=retry or RetryPolicy(max_attempts=3, initial_delay_ms=100, multiplier=2.0, jitter=0.0),
        updated_at=utcnow(),
        **fields,
    )


def make_job(config: WebhookConfigV1, n: int = 0, **fields: Any) -> DeliveryJobV1:
    now = utcnow()
    return DeliveryJobV1(
        delivery_id=f"dlv_{uuid.uuid4().hex[:12]}",
        webhook_id=config.id,
        integration_id=config.integration_id,
        event_id=f"evt_{n}_{uuid.uuid4().hex[:6]}",
        event_type="response_completed",
        event_time=now - timedelta(seconds=1),
        dispatched_at=now,
        published_at=now,
        body=fields.pop("body", f'{{"n":{n},"text":"caf\\u00e9"}}'),
        **fields,
    )


class Bus:
    """Producer + results/DLQ readers for one test's topics."""

    def __init__(self, bootstrap: str, topics: Topics) -> None:
        self.bootstrap = bootstrap
        self.topics = topics
        self.producer = AIOKafkaProducer(**producer_options(bootstrap, embedded_broker_client()))
        self.results: list[DeliveryResultV1] = []
        self.dead: list[tuple[DeadLetterV1, dict[str, str]]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._consumers: list[AIOKafkaConsumer] = []

    async def start(self) -> None:
        await self.producer.start()
        for topic, sink in (
            (self.topics.delivery_results, self._on_result),
            (self.topics.deliveries_dlq, self._on_dead),
        ):
            consumer = AIOKafkaConsumer(
                group_id=None, **consumer_options(self.bootstrap, embedded_broker_client(), 10)
            )
            await consumer.start()
            await assign_from_beginning(consumer, topic)
            self._consumers.append(consumer)
            self._tasks.append(asyncio.create_task(self._follow(consumer, sink)))

    async def _follow(self, consumer: AIOKafkaConsumer, sink: Callable[[Any], None]) -> None:
        while True:
            batch = await consumer.getmany(timeout_ms=50)
            for records in batch.values():
                for r in records:
                    sink(r)

    def _on_result(self, record: Any) -> None:
        self.results.append(DeliveryResultV1.model_validate_json(record.value))

    def _on_dead(self, record: Any) -> None:
        self.dead.append((DeadLetterV1.model_validate_json(record.value), headers_as_text(record.headers)))

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for c in self._consumers:
            await c.stop()
        await self.producer.stop()

    async def config(self, config: WebhookConfigV1 | None, webhook_id: str | None = None) -> None:
        key = (config.id if config else webhook_id) or ""
        await self.producer.send_and_wait(
            self.topics.webhooks_config, config.to_bytes() if config else None, key=key.encode()
        )

    async def job(
        self, job: DeliveryJobV1, topic: str | None = None, headers: list[tuple[str, bytes]] | None = None
    ) -> None:
        await self.producer.send_and_wait(
            topic or self.topics.deliveries,
            job.to_bytes(),
            key=job.webhook_id.encode(),
            headers=headers or [],
        )

    def for_delivery(self, delivery_id: str) -> list[DeliveryResultV1]:
        return [r for r in self.results if r.delivery_id == delivery_id]


async def wait_for(predicate: Callable[[], bool], timeout_s: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.02)


def ids_on_same_partition(partitions: int = 2) -> tuple[str, str]:
    """Two webhook ids whose jobs land on the same partition (key = webhook id)."""
    part = DefaultPartitioner()
    first = f"wh_slow_{uuid.uuid4().hex[:6]}"
    target = part(first.encode(), list(range(partitions)), list(range(partitions)))
    while True:
        other = f"wh_fast_{uuid.uuid4().hex[:6]}"
        if part(other.encode(), list(range(partitions)), list(range(partitions))) == target:
            return first, other


def ids_on_each_partition(partitions: int = 2) -> list[str]:
    """One webhook id per partition (key = webhook id)."""
    part = DefaultPartitioner()
    found: dict[int, str] = {}
    while len(found) < partitions:
        candidate = f"wh_{uuid.uuid4().hex[:8]}"
        found.setdefault(
            part(candidate.encode(), list(range(partitions)), list(range(partitions))), candidate
        )
    return [found[p] for p in range(partitions)]
