"""The one core of the replayer, used by the HTTP handlers and the CLI alike.

Inspection scans the DLQ topic; a replay is prepared (scan + plan, holding the per-topic replay
lock), committed (replay and items recorded with the audit entry in one transaction) and run
(paced sends, each item marked ``sent`` only after the broker acknowledged it). A resume sends
the items still pending or failed, so nothing acknowledged is sent twice by the replayer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from contracts.records import delivery_job_record
from contracts.topics import Headers, Topics
from contracts.webhooks import WebhookConfigV1
from dlq_replayer.errors import InvalidInputError, NotFoundError
from dlq_replayer.filters import DlqFilters, parse_message_id
from dlq_replayer.metrics import REPLAYS_STARTED
from dlq_replayer.reader import DlqReader
from dlq_replayer.replay import PublisherProtocol, ReplayDraft, ReplayOptions, ReplayRun
from dlq_replayer.selection import (
    DlqEntry,
    DlqStats,
    MessageRow,
    ReplayMark,
    ReplayPlan,
    build_replay_job,
    build_row,
    compute_stats,
    decide,
    plan_replay,
    replay_in_scope,
    select,
)
from dlq_replayer.store import ReplayRecord, ReplayStore
from webhook_core.payload_crypto import PayloadDecryptionError, Payloads

logger = logging.getLogger(__name__)

WebhookSource = Callable[[], Awaitable[Mapping[str, WebhookConfigV1]]]


class MessageList(BaseModel):
    """Answer of ``dlq list`` / ``GET /dlq/messages``."""

    model_config = ConfigDict(frozen=True)

    messages: list[MessageRow]
    count: int
    scanned: int
    invalid_records: int


class MessageDetail(BaseModel):
    """Answer of ``dlq show`` / ``GET /dlq/messages/{id}``; the body only on request (it may hold PHI)."""

    model_config = ConfigDict(frozen=True)

    message: MessageRow
    dead_letter: dict[str, Any]
    kafka_headers: dict[str, str]
    payload_included: bool


class ReplayStarted(BaseModel):
    """Answer to a replay request: the plan, and the replay id unless it was a dry run or selected nothing."""

    model_config = ConfigDict(frozen=True)

    dry_run: bool
    replay_id: str | None
    plan: ReplayPlan
    message: str


class DlqCore:
    """Inspect and replay one DLQ topic."""

    def __init__(
        self,
        topics: Topics,
        reader: DlqReader,
        store: ReplayStore,
        webhooks: WebhookSource,
        publisher: Callable[[], Awaitable[PublisherProtocol]],
        max_consecutive_failures: int = 3,
        *,
        payloads: Payloads,
    ) -> None:
        self.topics = topics
        self.payloads = payloads  # republished jobs follow KAFKA_PAYLOAD_ENCRYPTION; shown bodies decrypted
        self.topic = topics.deliveries_dlq
        self.reader = reader
        self.store = store
        self._webhooks = webhooks
        self._publisher = publisher
        self.max_consecutive_failures = max_consecutive_failures

    async def _selected(
        self, filters: DlqFilters, scope: frozenset[str] | None
    ) -> tuple[list[DlqEntry], dict[tuple[int, int], ReplayMark], int, int]:
        """Matching entries, the replay marks, records scanned and records that did not parse."""
        scan = await self.reader.scan(filters.since)
        marks = await self.store.replay_marks(self.topic)
        return select(scan.entries, filters, marks, scope), marks, scan.scanned, scan.invalid

    async def list_messages(self, filters: DlqFilters, scope: frozenset[str] | None = None) -> MessageList:
        """Matching dead letters, newest first."""
        chosen, marks, scanned, invalid = await self._selected(filters, scope)
        rows = [build_row(self.topic, e, marks.get(e.position)) for e in chosen]
        return MessageList(messages=rows, count=len(rows), scanned=scanned, invalid_records=invalid)

    async def get_message(
        self, message_id: str, include_payload: bool = False, scope: frozenset[str] | None = None
    ) -> MessageDetail:
        """One dead letter in full (payload only when asked for)."""
        position = parse_message_id(message_id, self.topic)
        found = await self.reader.fetch([position])
        entry = found.entries[0] if found.entries else None
        if entry is None or (scope is not None and entry.letter.job.integration_id not in scope):
            raise NotFoundError(f"no dead letter {message_id!r} on {self.topic}")
        marks = await self.store.replay_marks(self.topic)
        letter = entry.letter.model_dump(mode="json")
        letter["job"].pop("body_encrypted", None)
        letter["job"]["body"] = None
        if include_payload:
            try:
                letter["job"]["body"] = self.payloads.open(entry.letter.job).body
            except PayloadDecryptionError as exc:
                letter["job"]["body_error"] = str(exc)
        return MessageDetail(
            message=build_row(self.topic, entry, marks.get(entry.position)),
            dead_letter=letter,
            kafka_headers=dict(entry.headers),
            payload_included=include_payload,
        )

    async def stats(self, filters: DlqFilters, scope: frozenset[str] | None = None) -> DlqStats:
        """Counts by integration, webhook and error category of the matching dead letters."""
        chosen, _, _, _ = await self._selected(filters, scope)
        return compute_stats(chosen, filters.since, filters.until)

    async def prepare_replay(
        self,
        filters: DlqFilters,
        options: ReplayOptions,
        requested_by: str,
        scope: frozenset[str] | None = None,
    ) -> ReplayStarted | ReplayDraft:
        """The plan (dry run, or nothing to send), or a draft holding the replay lock to commit."""
        lock = None if options.dry_run else await self.store.lock(self.topic)
        try:
            chosen, marks, _, _ = await self._selected(filters, scope)
            webhooks = await self._webhooks()
            decided, plan = plan_replay(chosen, webhooks, marks, options.include_inactive, options.force)
        except BaseException:
            if lock is not None:
                await lock.release()
            raise
        if lock is None or plan.to_replay == 0:
            if lock is not None:
                await lock.release()
            return ReplayStarted(
                dry_run=options.dry_run, replay_id=None, plan=plan, message=describe_plan(plan, options)
            )
        if not options.dry_run:
            # The publisher is started before anything is recorded: broker down -> nothing half-recorded.
            try:
                await self._publisher()
            except BaseException:
                await lock.release()
                raise
        return ReplayDraft(self, filters, options, requested_by, decided, plan, lock)

    async def prepare_resume(
        self, replay_id: str, actor: str, scope: frozenset[str] | None = None
    ) -> tuple[ReplayRecord, ReplayRun | None]:
        """The run sending what a replay has not sent yet (None when nothing is left)."""
        lock = await self.store.lock(self.topic)
        try:
            record = await self.store.get(replay_id)
            if record is None or not _visible(record, self.topic, scope):
                raise NotFoundError(f"no replay {replay_id!r}")
            unsent = await self.store.unsent_items(replay_id)
            if not unsent:
                await lock.release()
                return record, None
            await self._publisher()
            options = ReplayOptions.model_validate(record.options)
            found = {e.position: e for e in (await self.reader.fetch(unsent)).entries}
            webhooks = await self._webhooks()
            marks = await self.store.replay_marks(self.topic)
            entries = []
            for position in unsent:
                entry = found.get(position)
                if entry is None:
                    await self.store.mark_item(
                        replay_id, *position, "failed", "record no longer on the DLQ topic"
                    )
                    continue
                already = position in marks and marks[position].replay_id != replay_id
                decision = decide(entry, webhooks, already, options.include_inactive, options.force)
                if decision != "replay":
                    await self.store.mark_item(replay_id, *position, decision)
                    continue
                entries.append(entry)
            await self.store.start_run(replay_id, actor)
            REPLAYS_STARTED.labels("resume").inc()
        except BaseException:
            await lock.release()
            raise
        run = ReplayRun(self, replay_id, record.requested_by, float(options.rate), entries, lock)
        return record, run

    async def send_replay(self, entry: DlqEntry, replay_id: str, requested_by: str) -> asyncio.Future[Any]:
        """Hand one dead letter's job to the producer for the deliveries topic (key = webhook id); returns the ack."""
        job = build_replay_job(entry.letter, replay_id, requested_by)
        headers = {**entry.letter.original_headers, Headers.INTEGRATION_ID: job.integration_id}
        record = delivery_job_record(job, headers, sealer=self.payloads)
        publisher = await self._publisher()
        return await publisher.send(self.topics.deliveries, record.key, record.value, record.headers)

    async def get_replay(self, replay_id: str, scope: frozenset[str] | None = None) -> ReplayRecord:
        """One replay's record and progress (404 outside the caller's scope: existence is not leaked)."""
        record = await self.store.get(replay_id)
        if record is None or not _visible(record, self.topic, scope):
            raise NotFoundError(f"no replay {replay_id!r}")
        if record.status == "running" and await self.store.mark_orphans_interrupted(self.topic):
            record = await self.store.get(replay_id) or record
        return record

    async def list_replays(self, limit: int = 50, scope: frozenset[str] | None = None) -> list[ReplayRecord]:
        """The latest replays of this DLQ that the caller's scope covers, newest first."""
        if not 1 <= limit <= 1000:
            raise InvalidInputError("limit: must be between 1 and 1000")
        records = [r for r in await self.store.list(limit, scope) if r.dlq_topic == self.topic]
        if any(r.status == "running" for r in records) and await self.store.mark_orphans_interrupted(
            self.topic
        ):
            records = [r for r in await self.store.list(limit, scope) if r.dlq_topic == self.topic]
        return records


def _visible(record: ReplayRecord | None, topic: str, scope: frozenset[str] | None) -> bool:
    return record is not None and record.dlq_topic == topic and replay_in_scope(record.integration_ids, scope)


def describe_plan(plan: ReplayPlan, options: ReplayOptions) -> str:
    """A one-line human summary of a plan."""
    if plan.selected == 0:
        return "no dead letters match the filters: nothing to replay"
    skipped = plan.skipped_deleted + plan.skipped_inactive + plan.skipped_already_replayed
    verb = "would replay" if options.dry_run else "replaying"
    text = f"{verb} {plan.to_replay} of {plan.selected} selected to {len(plan.by_webhook)} webhook(s)"
    if skipped:
        text += (
            f"; skipped {skipped} (deleted webhook {plan.skipped_deleted}, inactive {plan.skipped_inactive}, "
            f"already replayed {plan.skipped_already_replayed})"
        )
    if plan.to_replay == 0 and not options.dry_run:
        text += ": nothing to replay"
    return text
