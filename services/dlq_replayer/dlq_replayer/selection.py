"""Pure replay logic: which dead letters match, what a replay does with each, and the job it republishes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from contracts.deliveries import DeadLetterV1, DeliveryJobV1, ReplayInfo
from contracts.webhooks import WebhookConfigV1
from dlq_replayer.filters import DlqFilters, format_message_id

Decision = Literal["replay", "skipped_deleted", "skipped_inactive", "skipped_already_replayed"]
SKIP_DECISIONS: tuple[Decision, ...] = ("skipped_deleted", "skipped_inactive", "skipped_already_replayed")


def replay_in_scope(integration_ids: Iterable[str], scope: frozenset[str] | None) -> bool:
    """Whether a token limited to ``scope`` (None: every integration) may see and resume a replay
    touching ``integration_ids``: every one of them must be in scope; a replay that names no
    integration at all (empty, unfiltered) belongs to unscoped tokens only."""
    if scope is None:
        return True
    touched = set(integration_ids)
    return bool(touched) and touched <= scope


@dataclass(frozen=True)
class DlqEntry:
    """One parsed record of the DLQ topic."""

    partition: int
    offset: int
    timestamp: datetime
    letter: DeadLetterV1
    headers: Mapping[str, str]

    @property
    def id(self) -> str:
        """The URL-safe message id."""
        return format_message_id(self.partition, self.offset)

    @property
    def position(self) -> tuple[int, int]:
        """(partition, offset)."""
        return (self.partition, self.offset)


@dataclass(frozen=True)
class ReplayMark:
    """The latest replay that sent a DLQ record."""

    replay_id: str
    sent_at: datetime


class MessageRow(BaseModel):
    """One line of ``dlq list`` / ``GET /dlq/messages`` (no payload)."""

    model_config = ConfigDict(frozen=True)

    id: str
    topic: str
    partition: int
    offset: int
    dead_lettered_at: datetime
    record_time: datetime
    integration_id: str
    webhook_id: str
    event_type: str
    delivery_id: str
    attempts: int
    last_error_category: str | None
    last_status_code: int | None
    reason: str
    replayed: bool
    last_replay_id: str | None
    last_replayed_at: datetime | None


def build_row(topic: str, entry: DlqEntry, mark: ReplayMark | None) -> MessageRow:
    """The list row of one entry."""
    job = entry.letter.job
    last = job.attempts[-1] if job.attempts else None
    category = entry.letter.final_error_category or (last.error_category if last else None)
    status = entry.letter.final_status_code or (last.status_code if last else None)
    return MessageRow(
        id=entry.id,
        topic=topic,
        partition=entry.partition,
        offset=entry.offset,
        dead_lettered_at=entry.letter.dead_lettered_at,
        record_time=entry.timestamp,
        integration_id=job.integration_id,
        webhook_id=job.webhook_id,
        event_type=job.event_type,
        delivery_id=job.delivery_id,
        attempts=len(job.attempts),
        last_error_category=category,
        last_status_code=status,
        reason=entry.letter.reason,
        replayed=mark is not None,
        last_replay_id=mark.replay_id if mark else None,
        last_replayed_at=mark.sent_at if mark else None,
    )


def error_category(entry: DlqEntry) -> str | None:
    """The final error category of a dead letter (falls back to its last attempt's)."""
    if entry.letter.final_error_category is not None:
        return entry.letter.final_error_category
    attempts = entry.letter.job.attempts
    return attempts[-1].error_category if attempts else None


def matches(
    entry: DlqEntry,
    filters: DlqFilters,
    replayed: bool,
    scope: frozenset[str] | None = None,
) -> bool:
    """Whether an entry passes every filter that is set; ``scope`` limits integrations (scoped tokens)."""
    job = entry.letter.job
    checks = (
        scope is None or job.integration_id in scope,
        filters.integration is None or job.integration_id == filters.integration,
        filters.webhook is None or job.webhook_id == filters.webhook,
        filters.event_type is None or job.event_type == filters.event_type,
        filters.error_category is None or error_category(entry) == filters.error_category,
        # Record time, not dead_lettered_at: it is what the broker's time index (the seek) is built on.
        filters.since is None or entry.timestamp >= filters.since,
        filters.until is None or entry.timestamp < filters.until,
        filters.replayed is None or filters.replayed == replayed,
    )
    return all(checks)


def select(
    entries: Iterable[DlqEntry],
    filters: DlqFilters,
    marks: Mapping[tuple[int, int], ReplayMark],
    scope: frozenset[str] | None = None,
) -> list[DlqEntry]:
    """Matching entries, newest first (by record time, then offset), cut at ``filters.limit``."""
    chosen = [e for e in entries if matches(e, filters, e.position in marks, scope)]
    chosen.sort(key=lambda e: (e.timestamp, e.offset, e.partition), reverse=True)
    return chosen[: filters.limit] if filters.limit is not None else chosen


def decide(
    entry: DlqEntry,
    webhooks: Mapping[str, WebhookConfigV1],
    already_replayed: bool,
    include_inactive: bool,
    force: bool,
) -> Decision:
    """What a replay does with one selected entry."""
    hook = webhooks.get(entry.letter.job.webhook_id)
    if hook is None:
        return "skipped_deleted"
    if not hook.active and not include_inactive:
        return "skipped_inactive"
    if already_replayed and not force:
        return "skipped_already_replayed"
    return "replay"


class ReplayPlan(BaseModel):
    """Counts of what a replay would do (the dry-run answer and the report of a started replay)."""

    model_config = ConfigDict(frozen=True)

    selected: int
    to_replay: int
    skipped_deleted: int
    skipped_inactive: int
    skipped_already_replayed: int
    by_webhook: dict[str, int]


def plan_replay(
    entries: Iterable[DlqEntry],
    webhooks: Mapping[str, WebhookConfigV1],
    marks: Mapping[tuple[int, int], ReplayMark],
    include_inactive: bool,
    force: bool,
) -> tuple[list[tuple[DlqEntry, Decision]], ReplayPlan]:
    """Each entry with its decision, and the counts (``by_webhook`` counts the ones to replay)."""
    decided = [(e, decide(e, webhooks, e.position in marks, include_inactive, force)) for e in entries]
    counts = Counter(d for _, d in decided)
    by_webhook = Counter(e.letter.job.webhook_id for e, d in decided if d == "replay")
    plan = ReplayPlan(
        selected=len(decided),
        to_replay=counts["replay"],
        skipped_deleted=counts["skipped_deleted"],
        skipped_inactive=counts["skipped_inactive"],
        skipped_already_replayed=counts["skipped_already_replayed"],
        by_webhook=dict(sorted(by_webhook.items())),
    )
    return decided, plan


class DlqStats(BaseModel):
    """Counts of dead letters in a window."""

    model_config = ConfigDict(frozen=True)

    total: int
    since: datetime | None
    until: datetime | None
    by_integration: dict[str, int]
    by_webhook: dict[str, int]
    by_error_category: dict[str, int]


def compute_stats(entries: Iterable[DlqEntry], since: datetime | None, until: datetime | None) -> DlqStats:
    """Counts by integration, webhook and error category (``none`` when no category was recorded)."""
    items = list(entries)

    def count(values: Iterable[str]) -> dict[str, int]:
        return dict(sorted(Counter(values).items()))

    return DlqStats(
        total=len(items),
        since=since,
        until=until,
        by_integration=count(e.letter.job.integration_id for e in items),
        by_webhook=count(e.letter.job.webhook_id for e in items),
        by_error_category=count(error_category(e) or "none" for e in items),
    )


def build_replay_job(letter: DeadLetterV1, replay_id: str, requested_by: str) -> DeliveryJobV1:
    """The job to republish: a fresh attempt budget, the same delivery id, marked as a DLQ replay."""
    return letter.job.model_copy(
        update={
            "attempt": 1,
            "attempts": [],
            "not_before": None,
            "replay": ReplayInfo(replay_id=replay_id, requested_by=requested_by, kind="dlq_replay"),
        }
    )
