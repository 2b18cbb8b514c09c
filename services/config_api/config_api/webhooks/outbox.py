"""The transactional outbox of ``webhooks.config`` and the relay that publishes it.

Writers call :func:`enqueue` inside the transaction that changes a row. It takes a transaction-level
advisory lock first, so outbox ids are allocated in commit order and the relay, which publishes in id
order, publishes in commit order. ``pg_notify`` wakes relays (in any instance) at commit.

The relay only marks a row sent once it and every row before it were acknowledged by Kafka; after a
failure it re-sends from the first unsent row. Re-sends are harmless: consumers keep the highest
``version`` of a webhook, and the last record of every key is always the newest state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from config_api.metrics import OUTBOX_PENDING, OUTBOX_PUBLISH_FAILURES, OUTBOX_PUBLISHED

logger = logging.getLogger(__name__)

OUTBOX_LOCK = 0x6F7574626F78  # "outbox": serialises outbox writers so id order is commit order
RELAY_LOCK = 0x72656C6179  # "relay": one relay instance publishes at a time
NOTIFY_CHANNEL = "config_outbox"
BATCH = 500


async def enqueue(conn: asyncpg.Connection, key: str, value: bytes | None) -> int:
    """Add one record (value None = tombstone); must run inside the caller's transaction."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", OUTBOX_LOCK)
    outbox_id: int = await conn.fetchval(
        "INSERT INTO config_outbox (key, value) VALUES ($1, $2) RETURNING id", key, value
    )
    await conn.execute("SELECT pg_notify($1, '')", NOTIFY_CHANNEL)
    return outbox_id


async def pending_count(conn: asyncpg.Pool | asyncpg.Connection) -> int:
    """Records not published yet."""
    count: int = await conn.fetchval("SELECT count(*) FROM config_outbox WHERE sent_at IS NULL")
    return count


class TopicMissingError(Exception):
    """The config topic does not exist (e.g. the broker restarted without its topics)."""


class OutboxRelay:
    """Publishes pending outbox records in id order; retries forever while Kafka is down."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        dsn: str,
        producer: Callable[[], AIOKafkaProducer | None],
        topic: str,
        poll_interval_s: float,
        send_timeout_s: float,
        retry_max_s: float,
        on_recovered: Callable[[], None] | None = None,
        ensure_topics: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._pool = pool
        self._dsn = dsn
        self._producer = producer
        self._topic = topic
        self._poll_interval_s = poll_interval_s
        self._send_timeout_s = send_timeout_s
        self._retry_max_s = retry_max_s
        self._on_recovered = on_recovered
        self._ensure_topics = ensure_topics
        self._wakeup = asyncio.Event()
        self.failing = False
        self._topic_checked = False

    def wake(self) -> None:
        """Publish now instead of at the next poll."""
        self._wakeup.set()

    def _notified(self, *_: object) -> None:
        self._wakeup.set()

    async def run(self) -> None:
        """Relay until cancelled."""
        listener: asyncpg.Connection | None = None
        delay = 0.1
        try:
            while True:
                if listener is None or listener.is_closed():
                    listener = await self._listen()
                producer = self._producer()
                if producer is None:
                    await self._sleep(min(delay, self._retry_max_s))
                    continue
                try:
                    sent = await self.publish_pending(producer)
                except (KafkaError, TimeoutError, OSError, TopicMissingError) as exc:
                    OUTBOX_PUBLISH_FAILURES.inc()
                    self._topic_checked = False
                    if not self.failing:
                        logger.warning(
                            "publishing the config outbox failed; will retry",
                            extra={"error": type(exc).__name__},
                        )
                    self.failing = True
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self._retry_max_s)
                    continue
                except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    logger.warning(
                        "outbox relay lost PostgreSQL; will retry", extra={"error": type(exc).__name__}
                    )
                    listener = None
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self._retry_max_s)
                    continue
                delay = 0.1
                if self.failing:
                    self.failing = False
                    logger.info("config outbox publishing recovered")
                    if self._on_recovered is not None:
                        self._on_recovered()
                    continue
                if sent == 0:
                    await self._sleep(self._poll_interval_s)
        finally:
            if listener is not None and not listener.is_closed():
                with contextlib.suppress(Exception):
                    await listener.close()

    async def _listen(self) -> asyncpg.Connection | None:
        # A dedicated connection: LISTEN must outlive the pool's short acquisitions.
        try:
            conn: asyncpg.Connection = await asyncpg.connect(self._dsn)
            await conn.add_listener(NOTIFY_CHANNEL, self._notified)
            return conn
        except (OSError, asyncpg.PostgresError):
            return None

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), seconds)
        self._wakeup.clear()

    async def _check_topic(self, producer: AIOKafkaProducer) -> None:
        # Producing into a missing topic would auto-create it uncompacted with default partitions
        # (or, on the embedded broker, lose the record), so wait until start-up code creates it.
        metadata = await asyncio.wait_for(producer.client.fetch_all_metadata(), self._send_timeout_s)
        if self._topic not in metadata.topics():
            if self._ensure_topics is None:
                raise TopicMissingError(self._topic)
            logger.warning("config topic missing (broker restarted?); creating the topics")
            await self._ensure_topics()
            metadata = await asyncio.wait_for(producer.client.fetch_all_metadata(), self._send_timeout_s)
            if self._topic not in metadata.topics():
                raise TopicMissingError(self._topic)
        self._topic_checked = True

    async def publish_pending(self, producer: AIOKafkaProducer) -> int:
        """Publish up to one batch of pending records; returns how many were marked sent."""
        if not self._topic_checked:
            await self._check_topic(producer)
        error: BaseException | None = None
        async with self._pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", RELAY_LOCK):
                return 0  # another instance is relaying
            rows = await conn.fetch(
                "SELECT id, key, value FROM config_outbox WHERE sent_at IS NULL ORDER BY id LIMIT $1", BATCH
            )
            OUTBOX_PENDING.set(len(rows))
            if not rows:
                return 0
            futures = []
            for row in rows:
                value = bytes(row["value"]) if row["value"] is not None else None
                fut = await asyncio.wait_for(
                    producer.send(self._topic, key=row["key"].encode(), value=value), self._send_timeout_s
                )
                futures.append(fut)
            done: list[int] = []
            for row, fut in zip(rows, futures, strict=True):
                try:
                    await asyncio.wait_for(fut, self._send_timeout_s)
                except (KafkaError, TimeoutError) as exc:
                    error = exc
                    break
                done.append(row["id"])
            if done:
                await conn.execute(
                    "UPDATE config_outbox SET sent_at = now() WHERE id = ANY($1::bigint[])", done
                )
                OUTBOX_PUBLISHED.inc(len(done))
            if error is not None:
                for fut in futures:
                    fut.cancel()
        # Raised after the commit so the acknowledged prefix stays marked sent.
        if error is not None:
            raise error
        return len(done)
