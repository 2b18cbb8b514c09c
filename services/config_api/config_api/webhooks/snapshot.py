"""Full snapshots of the configuration onto ``webhooks.config``.

The embedded broker keeps topics in memory, so after it restarts the compacted config topic is
empty (or, in general, behind PostgreSQL). At start-up, and whenever the relay recovers from a Kafka
outage, :meth:`Snapshotter.check_and_repair` reads the topic into a :class:`WebhookView`, compares it
with PostgreSQL (:func:`topic_is_behind`, pure) and, when it differs, queues a full snapshot through
the outbox. Queuing through the outbox keeps snapshots ordered with concurrent changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

import asyncpg
from aiokafka.errors import KafkaError

from config_api.webhooks import outbox, repository
from contracts.webhooks import PriorityRulesV1, priority_rules_key
from service_kit.config_view import ConfigFollower, WebhookView
from service_kit.kafka_security import KafkaClientSettings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SnapshotCounts:
    """What a snapshot queued."""

    webhooks: int
    priority_rules: int
    tombstones: int


def topic_is_behind(
    db_versions: Mapping[str, int],
    db_rule_ids: set[str],
    topic_versions: Mapping[str, int],
    topic_rule_ids: set[str],
) -> bool:
    """Whether the topic misses a webhook or rule, holds an older version, or holds a deleted webhook."""
    for webhook_id, version in db_versions.items():
        if topic_versions.get(webhook_id, -1) < version:
            return True
    if set(topic_versions) - set(db_versions):
        return True
    return bool(db_rule_ids - topic_rule_ids)


def rules_message(row: Mapping[str, object]) -> PriorityRulesV1:
    """The published form of a priority_rules row."""
    rules = row["rules"]
    assert isinstance(rules, dict)
    return PriorityRulesV1(integration_id=str(row["integration_id"]), updated_at=row["updated_at"], **rules)


async def queue_snapshot(
    conn: asyncpg.Connection, stray_keys: AbstractSet[str] = frozenset()
) -> SnapshotCounts:
    """Queue every webhook and priority rule, plus tombstones for ``stray_keys`` (one transaction)."""
    async with conn.transaction():
        ids = [r["id"] for r in await conn.fetch("SELECT id FROM webhooks ORDER BY id")]
        for webhook_id in ids:
            await repository.publish_webhook(conn, webhook_id)
        rules = await repository.priority_rules_rows(conn)
        for row in rules:
            await outbox.enqueue(
                conn, priority_rules_key(row["integration_id"]), rules_message(row).to_bytes()
            )
        for key in sorted(stray_keys):
            await outbox.enqueue(conn, key, None)
    return SnapshotCounts(webhooks=len(ids), priority_rules=len(rules), tombstones=len(stray_keys))


class Snapshotter:
    """Compares the config topic with PostgreSQL and queues a snapshot when the topic is behind."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        bootstrap_servers: str,
        client: KafkaClientSettings,
        topic: str,
        fetch_max_wait_ms: int = 500,
    ) -> None:
        self._pool = pool
        self._bootstrap = bootstrap_servers
        self._client = client
        self._fetch_max_wait_ms = fetch_max_wait_ms
        self._topic = topic
        self._lock = asyncio.Lock()
        self._background: set[asyncio.Task[None]] = set()

    async def read_topic(self, timeout_s: float = 30.0) -> WebhookView:
        """The topic's current content."""
        view = WebhookView()
        follower = ConfigFollower(self._bootstrap, self._client, self._topic, view, self._fetch_max_wait_ms)
        try:
            await follower.start()
            await follower.wait_ready(timeout_s)
        finally:
            with contextlib.suppress(KafkaError, OSError, TimeoutError):
                await asyncio.wait_for(follower.stop(), 5.0)
        return view

    async def resync(self) -> SnapshotCounts:
        """Queue a full snapshot now, with tombstones for webhooks on the topic that no longer exist."""
        async with self._lock:
            stray: set[str] = set()
            try:
                view = await self.read_topic()
                async with self._pool.acquire() as conn:
                    known = {r["id"] for r in await conn.fetch("SELECT id FROM webhooks")}
                stray = set(view.webhooks) - known
            except (KafkaError, OSError, RuntimeError, TimeoutError) as exc:
                # Kafka unreachable: still queue the snapshot; tombstones wait for the next check.
                logger.warning(
                    "could not read the config topic for a resync", extra={"error": type(exc).__name__}
                )
            async with self._pool.acquire() as conn:
                return await queue_snapshot(conn, stray)

    async def _published_state(self, attempts: int = 600) -> tuple[dict[str, int], set[str]]:
        """Webhook versions and rule ids at a moment when the outbox was empty (so all of it is on
        the topic, if the topic is intact)."""
        for _ in range(attempts):
            async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
                if not await outbox.pending_count(conn):
                    versions = {
                        r["id"]: r["version"] for r in await conn.fetch("SELECT id, version FROM webhooks")
                    }
                    rules = {
                        r["integration_id"]
                        for r in await conn.fetch("SELECT integration_id FROM priority_rules")
                    }
                    return versions, rules
            await asyncio.sleep(0.1)
        raise TimeoutError("the outbox did not drain")

    async def check_and_repair(self) -> SnapshotCounts | None:
        """Queue a snapshot when the topic is behind PostgreSQL; returns what was queued, or None."""
        async with self._lock:
            # PostgreSQL first, then the topic: changes committed in between are newer on the topic
            # and do not count as "behind".
            db_versions, rule_ids = await self._published_state()
            view = await self.read_topic()
            topic_versions = {k: v.version for k, v in view.webhooks.items()}
            async with self._pool.acquire() as conn:
                current = {r["id"] for r in await conn.fetch("SELECT id FROM webhooks")}
                # Only webhooks that existed at the PostgreSQL read and still exist are compared;
                # anything on the topic that no longer exists is stray (gets a tombstone).
                stray = set(topic_versions) - current
                compared = {k: v for k, v in db_versions.items() if k in current}
                on_topic = {k: v for k, v in topic_versions.items() if k in compared}
                if not stray and not topic_is_behind(compared, rule_ids, on_topic, set(view.priority_rules)):
                    return None
                counts = await queue_snapshot(conn, stray)
            logger.info(
                "config topic was behind PostgreSQL; queued a snapshot",
                extra={"webhooks": counts.webhooks, "tombstones": counts.tombstones},
            )
            return counts

    def schedule_check(self, relay: outbox.OutboxRelay) -> None:
        """Run :meth:`run_check` in the background (the relay calls this when Kafka comes back)."""
        ready = asyncio.Event()
        ready.set()
        task = asyncio.create_task(self.run_at_start(ready, relay), name="snapshot-check")
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def stop(self) -> None:
        """Cancel background checks."""
        pending = list(self._background)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=10.0)

    async def run_at_start(self, producer_ready: asyncio.Event, relay: outbox.OutboxRelay) -> None:
        """Once Kafka is reachable, check the topic (retrying until the check itself succeeds)."""
        await producer_ready.wait()
        delay = 0.5
        while True:
            try:
                if await self.check_and_repair() is not None:
                    relay.wake()
                return
            except (KafkaError, OSError, RuntimeError, TimeoutError) as exc:
                logger.warning("config topic check failed; retrying", extra={"error": type(exc).__name__})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
