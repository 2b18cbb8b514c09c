"""The background task that sends the pending items of running recoveries, paced and resumable.

A recovery is claimed with a lease (``lease_until``), so two config API instances never work on the
same one and a recovery left by a stopped instance is taken up again once its lease runs out (at
start-up the lease of a recovery this process's predecessor held is at most ``LEASE_S`` old). Each
item is marked sent only after Kafka acknowledged its job; after a crash in between, the item is
sent again with the same new delivery id, which the receiver de-duplicates.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from config_api.deliveries.ingest import DB_ERRORS
from config_api.deliveries.resend import publish_job, resend_job
from config_api.webhooks import access as webhooks
from contracts.deliveries import ReplayInfo, payload_context
from webhook_core.payload_crypto import Payloads
from webhook_core.secrets_crypto import DecryptionError, SecretBox

logger = logging.getLogger(__name__)

LEASE_S = 30.0
CHUNK = 100

_CLAIM = """
UPDATE delivery_recoveries SET lease_until = now() + make_interval(secs => $1)
WHERE id = (SELECT id FROM delivery_recoveries
            WHERE state = 'running' AND (lease_until IS NULL OR lease_until < now())
            ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED)
RETURNING *
"""
_PENDING = """
SELECT i.delivery_id AS original_id, i.new_delivery_id, p.*, d.object_type, d.object_id
FROM delivery_recovery_items i
LEFT JOIN delivery_payloads p ON p.delivery_id = i.delivery_id
LEFT JOIN deliveries d ON d.delivery_id = i.delivery_id
WHERE i.recovery_id = $1 AND i.state = 'pending'
ORDER BY i.delivery_id LIMIT $2
"""
_MARK = """
WITH item AS (
    UPDATE delivery_recovery_items SET state = $3, sent_at = CASE WHEN $3 = 'sent' THEN now() END
    WHERE recovery_id = $1 AND delivery_id = $2 AND state = 'pending' RETURNING state)
UPDATE delivery_recoveries SET
    sent = sent + (SELECT count(*) FROM item WHERE state = 'sent'),
    skipped = skipped + (SELECT count(*) FROM item WHERE state = 'skipped'),
    updated_at = now(), lease_until = now() + make_interval(secs => $4)
WHERE id = $1
"""


class RecoveryRunner:
    """Works through running recoveries one at a time (until cancelled)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        box: SecretBox,
        producer: Callable[[], AIOKafkaProducer | None],
        topic: str,
        idle_poll_s: float = 5.0,
        *,
        payload_encryption: bool = True,
    ) -> None:
        self.pool = pool
        self.box = box
        self.payloads = Payloads(box, encrypt=payload_encryption)  # new ids: each body encrypted anew
        self.producer = producer
        self.topic = topic
        self.idle_poll_s = idle_poll_s
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """A recovery was created: look for work now instead of at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        """Claim and work through recoveries; sleep while there are none."""
        while True:
            self._wake.clear()
            try:
                claimed = await self.pool.fetchrow(_CLAIM, LEASE_S)
            except DB_ERRORS as exc:
                logger.warning("recovery claim postponed", extra={"error": type(exc).__name__})
                claimed = None
            if claimed is None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.idle_poll_s)
                continue
            try:
                await self._work(dict(claimed))
            finally:
                # let another instance (or this one, after a restart) continue at once
                await asyncio.shield(self._release(claimed["id"]))

    async def _release(self, recovery_id: str) -> None:
        with contextlib.suppress(*DB_ERRORS):  # else the lease runs out by itself
            await self.pool.execute(
                "UPDATE delivery_recoveries SET lease_until = NULL WHERE id = $1", recovery_id
            )

    async def _finish(self, recovery_id: str, state: str, error: str | None = None) -> None:
        await self.pool.execute(
            """UPDATE delivery_recoveries SET state = $2, error = $3, finished_at = now(), updated_at = now()
               WHERE id = $1 AND state = 'running'""",
            recovery_id,
            state,
            error,
        )
        logger.info("recovery finished", extra={"recovery_id": recovery_id, "state": state})

    async def _work(self, recovery: dict[str, Any]) -> None:
        replay = ReplayInfo(replay_id=recovery["id"], requested_by=recovery["requested_by"], kind="recovery")
        interval = 1.0 / recovery["rate_per_s"]
        next_due = time.monotonic()
        while True:
            config = await webhooks.get_webhook_config(self.pool, recovery["webhook_id"])
            if config is None or not config.active:
                reason = "the webhook was deleted" if config is None else "the webhook is inactive"
                await self._finish(recovery["id"], "failed", f"{reason}; re-activate it and recover again")
                return
            items = await self.pool.fetch(_PENDING, recovery["id"], CHUNK)
            if not items:
                await self._finish(recovery["id"], "done")
                return
            for item in items:
                state = "skipped"
                if item["payload_encrypted"] is not None:
                    try:
                        body = self.box.decrypt(
                            item["payload_encrypted"], payload_context(item["original_id"])
                        )
                    except DecryptionError:
                        body = None
                    if body is not None:
                        await asyncio.sleep(max(0.0, next_due - time.monotonic()))
                        job = resend_job(
                            item,
                            config,
                            body,
                            replay,
                            delivery_id=item["new_delivery_id"],
                            object_type=item["object_type"],
                            object_id=item["object_id"],
                        )
                        await self._send(recovery["id"], job)
                        next_due = max(next_due, time.monotonic() - interval) + interval
                        state = "sent"
                await self.pool.execute(_MARK, recovery["id"], item["original_id"], state, LEASE_S)

    async def _send(self, recovery_id: str, job: Any) -> None:
        """Publish until Kafka acknowledges, keeping the lease while it is unreachable."""
        delay = 0.2
        while True:
            producer = self.producer()
            if producer is not None:
                try:
                    await publish_job(producer, self.topic, job, self.payloads)
                    return
                except KafkaError as exc:
                    logger.warning("recovery send failed, retrying", extra={"error": type(exc).__name__})
            await self.pool.execute(
                "UPDATE delivery_recoveries SET lease_until = now() + make_interval(secs => $2) WHERE id = $1",
                recovery_id,
                LEASE_S,
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
