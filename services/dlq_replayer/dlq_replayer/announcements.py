"""``dlq_replay_completed.v1`` on ``webhooks.ops`` when a replay ends (operational webhooks).

At least once, from the database: a run that ends ``completed`` or ``failed`` leaves
``dlq_replays.announced_at`` empty; the service's announcer publishes each such replay, waits for the
broker's acknowledgement, then stamps it. It looks after every run the service started ends and every
``interval_s`` otherwise, so a replay run by the ``dlq`` CLI in direct mode (no service involved) is
announced by the next service that looks, and an end the broker refused is published on a later
pass. A resumed replay is announced again when it ends again. The dispatcher turns the record into a
``dlq.replay.completed`` event of the built-in ``carehooks`` integration.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg
from aiokafka.errors import KafkaError

from contracts.events import DlqReplayCompletedV1
from dlq_replayer.adapters import KafkaPublisher
from dlq_replayer.errors import UnavailableError
from dlq_replayer.store import ReplayRecord, ReplayStore

logger = logging.getLogger(__name__)


def completion_record(record: ReplayRecord) -> DlqReplayCompletedV1:
    """The ops record of one ended replay (counts and ids; filters and payloads stay out)."""
    assert record.finished_at is not None and record.status in ("completed", "failed")
    return DlqReplayCompletedV1(
        replay_id=record.id,
        dlq_topic=record.dlq_topic,
        status=record.status,  # validated by the model (a str checked above)
        requested_by=record.requested_by,
        integration_ids=record.integration_ids,
        selected=record.selected,
        replayed=record.replayed,
        failed=record.failed,
        skipped=record.skipped,
        runs=record.runs,
        error=record.error,
        started_at=record.created_at,
        finished_at=record.finished_at,
    )


class CompletionAnnouncer:
    """Publishes the ends of replays not announced yet (one task per service)."""

    def __init__(self, store: ReplayStore, publisher: KafkaPublisher, topic: str, interval_s: float) -> None:
        self.store = store
        self.publisher = publisher
        self.topic = topic
        self.interval_s = interval_s
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Look now (a replay run just ended)."""
        self._wake.set()

    async def announce_pending(self) -> int:
        """Publish and stamp every unannounced end; returns how many were announced."""
        ended = await self.store.unannounced_ends()
        if not ended:
            return 0
        publisher = await self.publisher.started()
        for record in ended:
            value = completion_record(record).model_dump_json().encode()
            ack = await publisher.send(self.topic, record.id.encode(), value, [])
            await ack
            assert record.finished_at is not None
            await self.store.mark_announced(record.id, record.finished_at)
            logger.info("replay end announced", extra={"replay_id": record.id, "status": record.status})
        return len(ended)

    async def run(self) -> None:
        """Announce until cancelled; a failed pass (broker or database away) is retried on the next."""
        while True:
            self._wake.clear()
            try:
                await self.announce_pending()
            except (KafkaError, UnavailableError, asyncpg.PostgresError, OSError) as exc:
                logger.warning("announcing replay ends failed; retrying", extra={"error": type(exc).__name__})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval_s)
