"""Running a replay: paced sends, each item marked ``sent`` only after the broker acknowledged it.

Sends are pipelined in small windows: a window is settled (acks awaited, items marked) whenever
the pacer would wait anyway or ``MAX_IN_FLIGHT`` sends are outstanding, so low rates behave
like one-at-a-time sends and high rates are not capped by one round trip per message. A
cancelled run still awaits the acks already on their way and records them, so a resume does
not send them again; after a hard crash (kill -9) at most the unsettled window can repeat.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiokafka.errors import KafkaError
from pydantic import BaseModel, ConfigDict, Field

from dlq_replayer.filters import DlqFilters
from dlq_replayer.metrics import REPLAY_ITEMS, REPLAYS_STARTED
from dlq_replayer.ratelimit import Pacer
from dlq_replayer.selection import Decision, DlqEntry, ReplayPlan
from dlq_replayer.store import ReplayLock, ReplayRecord, ReplayStore

logger = logging.getLogger(__name__)

MAX_IN_FLIGHT = 50
SETTLE_ON_CANCEL_S = 15.0

Progress = Callable[[int, int], None]
"""Called with (items done in this run, items to send in this run) after each settled window."""


class PublisherProtocol(Protocol):
    """Hands one record to the producer; the returned future resolves once the broker acknowledged it."""

    async def send(
        self, topic: str, key: bytes, value: bytes, headers: list[tuple[str, bytes]]
    ) -> asyncio.Future[Any]: ...


class ReplayCore(Protocol):
    """What a replay needs of :class:`~dlq_replayer.core.DlqCore` (a protocol, so this module does
    not import the core that imports it)."""

    @property
    def store(self) -> ReplayStore: ...

    @property
    def topic(self) -> str: ...

    @property
    def max_consecutive_failures(self) -> int: ...

    async def send_replay(
        self, entry: DlqEntry, replay_id: str, requested_by: str
    ) -> asyncio.Future[Any]: ...


class ReplayOptions(BaseModel):
    """How a replay runs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dry_run: bool = False
    rate: float = Field(default=50.0, gt=0, le=10_000, description="Messages per second.")
    include_inactive: bool = False
    force: bool = Field(default=False, description="Replay again what an earlier replay already sent.")


@dataclass
class _Tally:
    done: int = 0
    failed: int = 0
    in_a_row: int = 0
    error: str | None = None


@dataclass
class ReplayRun:
    """A recorded replay ready to send ``entries`` (holds the replay lock until it ends)."""

    core: ReplayCore
    replay_id: str
    requested_by: str
    rate: float
    entries: list[DlqEntry]
    lock: ReplayLock
    _tally: _Tally = field(default_factory=_Tally)
    _window: list[tuple[DlqEntry, asyncio.Future[Any]]] = field(default_factory=list)

    async def execute(self, progress: Progress | None = None) -> ReplayRecord:
        """Send every entry at the rate; returns the final record (status completed, failed or interrupted)."""
        pacer = Pacer(self.rate)
        status = "completed"
        try:
            for entry in self.entries:
                await pacer.wait()
                self._window.append((entry, await self._enqueue(entry)))
                window_due = len(self._window) >= MAX_IN_FLIGHT or pacer.delay_for_next() > 0
                if window_due and await self._settle(progress):
                    status = "interrupted"
                    break
            if self._window and await self._settle(progress):
                status = "interrupted"
            if status == "completed" and (self._tally.failed or await self._left_failed()):
                status = "failed"
        except asyncio.CancelledError:
            await asyncio.shield(self._settle_and_end("stopped before the end (resume it)"))
            raise
        except BaseException as exc:
            await asyncio.shield(self._end("interrupted", f"{type(exc).__name__}: {exc}"))
            raise
        error = None if status == "completed" else self._tally.error or "some items could not be sent"
        await self._end(status, error)
        logger.info(
            "replay run ended",
            extra={"replay_id": self.replay_id, "status": status, "failed": self._tally.failed},
        )
        record = await self.core.store.get(self.replay_id)
        assert record is not None
        return record

    async def _enqueue(self, entry: DlqEntry) -> asyncio.Future[Any]:
        try:
            return await self.core.send_replay(entry, self.replay_id, self.requested_by)
        except KafkaError as exc:  # refused before it left (buffer full, no metadata): a failed send
            failed: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            failed.set_exception(exc)
            return failed

    async def _settle(self, progress: Progress | None, timeout_s: float | None = None) -> bool:
        """Await the window's acks and record them; True when too many sends failed in a row.

        The window is cleared only once recorded: if this is cancelled half-way, the cancel path
        settles the same window again (marking is idempotent).
        """
        store, tally, window = self.core.store, self._tally, self._window
        # asyncio.wait, not gather: a cancelled caller must not cancel the acks themselves.
        await asyncio.wait([f for _, f in window], timeout=timeout_s)
        sent: list[tuple[int, int]] = []
        for entry, ack in window:
            if not ack.done() or ack.cancelled():
                continue  # outcome unknown: the item stays pending and a resume sends it
            exc = ack.exception()
            if exc is None:
                sent.append(entry.position)
                tally.in_a_row = 0
            elif isinstance(exc, KafkaError):
                tally.failed += 1
                tally.in_a_row += 1
                tally.error = f"publish failed: {type(exc).__name__}"
                await store.mark_item(self.replay_id, entry.partition, entry.offset, "failed", tally.error)
                REPLAY_ITEMS.labels("failed").inc()
            else:
                raise exc
        await store.mark_sent(self.replay_id, sent)
        REPLAY_ITEMS.labels("sent").inc(len(sent))
        self._window = []
        tally.done += len(window)
        if progress is not None:
            progress(tally.done, len(self.entries))
        return tally.in_a_row >= self.core.max_consecutive_failures

    async def _settle_and_end(self, error: str) -> None:
        try:
            if self._window:
                await self._settle(None, SETTLE_ON_CANCEL_S)
        finally:
            await self._end("interrupted", error)

    async def _left_failed(self) -> bool:
        record = await self.core.store.get(self.replay_id)
        return record is not None and record.failed > 0

    async def _end(self, status: str, error: str | None) -> None:
        try:
            await self.core.store.finish(self.replay_id, status, error)
        finally:
            await self.lock.release()


@dataclass
class ReplayDraft:
    """A planned, not yet recorded replay (holds the replay lock): commit it or abandon it."""

    core: ReplayCore
    filters: DlqFilters
    options: ReplayOptions
    requested_by: str
    decided: list[tuple[DlqEntry, Decision]]
    plan: ReplayPlan
    lock: ReplayLock

    async def commit(self) -> ReplayRun:
        """Record the replay, its items and the audit entry; returns the run to execute."""
        replay_id = str(uuid.uuid4())
        try:
            await self.core.store.create_replay(
                replay_id,
                self.core.topic,
                self.requested_by,
                self.filters.describe(),
                self.options.model_dump(mode="json"),
                self.decided,
                audit={
                    "replay_id": replay_id,
                    "filters": self.filters.describe(),
                    "options": self.options.model_dump(mode="json"),
                    "counts": self.plan.model_dump(mode="json"),
                },
            )
        except BaseException:
            await self.lock.release()
            raise
        REPLAYS_STARTED.labels("new").inc()
        entries = [e for e, d in self.decided if d == "replay"]
        return ReplayRun(self.core, replay_id, self.requested_by, self.options.rate, entries, self.lock)

    async def abandon(self) -> None:
        """Drop the draft (nothing was recorded)."""
        await self.lock.release()
