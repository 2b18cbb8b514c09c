"""Composition of the core (``open_core``), shared by the HTTP service (``app.py``) and the CLI."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg

from dlq_replayer.adapters import FollowedWebhooks, KafkaPublisher, SnapshotWebhooks
from dlq_replayer.core import DlqCore, WebhookSource
from dlq_replayer.errors import UnavailableError
from dlq_replayer.reader import DlqReader
from dlq_replayer.replay import PublisherProtocol
from dlq_replayer.settings import DlqReplayerSettings
from dlq_replayer.store import ReplayStore
from webhook_core.payload_crypto import Payloads
from webhook_core.secrets_crypto import SecretBox


@dataclass
class Runtime:
    """Everything a running core holds (for readiness and shutdown)."""

    core: DlqCore
    pool: asyncpg.Pool
    publisher: KafkaPublisher
    followed: FollowedWebhooks | None

    @property
    def ready(self) -> bool:
        """Ready once the webhook view has caught up (the service) or always (the CLI)."""
        return self.followed is None or self.followed.follower.ready


async def create_pool(dsn: str) -> asyncpg.Pool:
    """An asyncpg pool (UnavailableError naming the problem when PostgreSQL cannot be reached)."""
    try:
        return await asyncpg.create_pool(dsn, min_size=1, max_size=5, timeout=10)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        raise UnavailableError(
            f"cannot connect to PostgreSQL (DATABASE_URL): {type(exc).__name__}: {exc}"
        ) from None


@contextlib.asynccontextmanager
async def open_core(
    settings: DlqReplayerSettings, follow: bool, migrate: bool = True
) -> AsyncIterator[Runtime]:
    """Pool (+ schema unless ``migrate`` is False), reader, lazy producer and the webhook source;
    ``follow`` keeps the config view live."""
    topics = settings.topics
    pool = await create_pool(settings.database_url)
    publisher = KafkaPublisher(settings.kafka_bootstrap_servers, settings)
    followed: FollowedWebhooks | None = None
    try:
        store = ReplayStore(pool)
        if migrate:
            await store.ensure_schema()
        webhooks: WebhookSource
        if follow:
            followed = FollowedWebhooks(
                settings.kafka_bootstrap_servers,
                settings,
                topics.webhooks_config,
                settings.kafka_background_fetch_max_wait_ms,
            )
            await followed.follower.start()
            webhooks = followed
        else:
            webhooks = SnapshotWebhooks(
                settings.kafka_bootstrap_servers,
                settings,
                topics.webhooks_config,
                settings.ready_timeout_s,
                settings.kafka_fetch_max_wait_ms,
            )

        async def get_publisher() -> PublisherProtocol:
            return await publisher.started()

        reader = DlqReader(
            settings.kafka_bootstrap_servers,
            settings,
            topics.deliveries_dlq,
            settings.scan_timeout_s,
            settings.kafka_fetch_max_wait_ms,
        )
        payloads = Payloads(SecretBox(settings.secrets_keys), encrypt=settings.kafka_payload_encryption)
        core = DlqCore(
            topics,
            reader,
            store,
            webhooks,
            get_publisher,
            settings.max_consecutive_send_failures,
            payloads=payloads,
        )
        yield Runtime(core=core, pool=pool, publisher=publisher, followed=followed)
    finally:
        if followed is not None:
            await followed.follower.stop()
        await publisher.stop()
        await pool.close()
