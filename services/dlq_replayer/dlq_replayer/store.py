"""PostgreSQL adapter: replay records with per-message state, the one-replay-at-a-time lock, the audit log."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from importlib import resources
from typing import Any

import asyncpg
from pydantic import BaseModel, ConfigDict

from admin_auth.tokens import ensure_schema as ensure_auth_schema
from admin_auth.tokens import record_audit
from dlq_replayer.errors import ConflictError
from dlq_replayer.selection import Decision, DlqEntry, MessageRow, ReplayMark, replay_in_scope

_SCHEMA_LOCK = 0x646C7172  # any constant shared by every replayer process: serialises CREATE IF NOT EXISTS


class ReplayRecord(BaseModel):
    """A replay and its progress (``replayed`` = items the broker acknowledged)."""

    model_config = ConfigDict(frozen=True)

    id: str
    dlq_topic: str
    requested_by: str
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    status: str
    filters: dict[str, Any]
    options: dict[str, Any]
    error: str | None
    runs: int
    selected: int
    replayed: int
    pending: int
    failed: int
    skipped_deleted: int
    skipped_inactive: int
    skipped_already_replayed: int
    integration_ids: list[str] = []
    """The integrations the replay touches (its items', plus the one its filters name): its scope."""

    @property
    def skipped(self) -> int:
        """All skipped items."""
        return self.skipped_deleted + self.skipped_inactive + self.skipped_already_replayed


_SELECT_REPLAY = """
SELECT r.*,
       count(i.*) AS selected,
       count(*) FILTER (WHERE i.state = 'sent') AS replayed,
       count(*) FILTER (WHERE i.state = 'pending') AS pending,
       count(*) FILTER (WHERE i.state = 'failed') AS failed,
       count(*) FILTER (WHERE i.state = 'skipped_deleted') AS skipped_deleted,
       count(*) FILTER (WHERE i.state = 'skipped_inactive') AS skipped_inactive,
       count(*) FILTER (WHERE i.state = 'skipped_already_replayed') AS skipped_already_replayed,
       array_remove(array_agg(DISTINCT i.integration_id) || ARRAY[r.filters->>'integration'], NULL)
           AS integration_ids
FROM dlq_replays r LEFT JOIN dlq_replay_items i ON i.replay_id = r.id
"""


def _record(row: asyncpg.Record) -> ReplayRecord:
    data = dict(row)
    data["filters"] = json.loads(data["filters"])
    data["options"] = json.loads(data["options"])
    data["integration_ids"] = sorted(set(data["integration_ids"] or ()))
    return ReplayRecord.model_validate(data)


def _lock_name(topic: str) -> str:
    return "dlq-replay:" + topic


class ReplayLock:
    """One replay at a time per DLQ topic: a session advisory lock, released even if the process dies."""

    def __init__(self, pool: asyncpg.Pool, conn: asyncpg.pool.PoolConnectionProxy, topic: str) -> None:
        self._pool = pool
        self._conn: asyncpg.pool.PoolConnectionProxy | None = conn
        self._topic = topic

    async def release(self) -> None:
        """Release the lock (idempotent)."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            await conn.execute("SELECT pg_advisory_unlock(hashtextextended($1, 0))", _lock_name(self._topic))
        finally:
            await self._pool.release(conn)


class ReplayStore:
    """Replay records on an asyncpg pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def ensure_schema(self) -> None:
        """Create the replay tables and the shared token/audit tables (idempotent, safe concurrently)."""
        sql = resources.files("dlq_replayer").joinpath("schema.sql").read_text()
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_LOCK)
            await conn.execute(sql)
            await ensure_auth_schema(conn)

    async def replay_marks(self, topic: str) -> dict[tuple[int, int], ReplayMark]:
        """The latest successful replay of every DLQ record that was ever replayed."""
        rows = await self.pool.fetch(
            """SELECT DISTINCT ON (dlq_partition, dlq_offset) dlq_partition, dlq_offset, replay_id, sent_at
               FROM dlq_replay_items WHERE dlq_topic = $1 AND state = 'sent'
               ORDER BY dlq_partition, dlq_offset, sent_at DESC""",
            topic,
        )
        return {(r["dlq_partition"], r["dlq_offset"]): ReplayMark(r["replay_id"], r["sent_at"]) for r in rows}

    async def mark_orphans_interrupted(self, topic: str) -> int:
        """Mark ``running`` replays whose process died (nobody holds the topic's lock) interrupted."""
        async with self.pool.acquire() as conn:
            if not await conn.fetchval(
                "SELECT pg_try_advisory_lock(hashtextextended($1, 0))", _lock_name(topic)
            ):
                return 0  # a live run holds the lock: its status is true
            try:
                result = await conn.execute(
                    """UPDATE dlq_replays SET status = 'interrupted', updated_at = now(),
                              error = 'the process running it stopped (resume it)'
                       WHERE dlq_topic = $1 AND status = 'running'""",
                    topic,
                )
            finally:
                await conn.execute("SELECT pg_advisory_unlock(hashtextextended($1, 0))", _lock_name(topic))
        return int(result.split()[-1])

    async def lock(self, topic: str) -> ReplayLock:
        """Take the replay lock of a DLQ topic, or raise ConflictError when another replay holds it."""
        conn: asyncpg.pool.PoolConnectionProxy = await self.pool.acquire()
        try:
            got = await conn.fetchval(
                "SELECT pg_try_advisory_lock(hashtextextended($1, 0))", _lock_name(topic)
            )
        except BaseException:
            await self.pool.release(conn)
            raise
        if not got:
            await self.pool.release(conn)
            raise ConflictError("another replay of this DLQ is running; wait for it to finish, then retry")
        return ReplayLock(self.pool, conn, topic)

    async def create_replay(
        self,
        replay_id: str,
        topic: str,
        requested_by: str,
        filters: dict[str, Any],
        options: dict[str, Any],
        decided: Sequence[tuple[DlqEntry, Decision]],
        audit: dict[str, Any],
    ) -> None:
        """Record a replay, every selected item (state pending or skipped_*) and its audit entry atomically."""
        rows = [
            (
                replay_id,
                topic,
                e.partition,
                e.offset,
                e.letter.job.webhook_id,
                e.letter.job.integration_id,
                e.letter.job.delivery_id,
                "pending" if d == "replay" else d,
            )
            for e, d in decided
        ]
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                """INSERT INTO dlq_replays (id, dlq_topic, requested_by, status, filters, options)
                   VALUES ($1, $2, $3, 'running', $4::jsonb, $5::jsonb)""",
                replay_id,
                topic,
                requested_by,
                json.dumps(filters, default=str),
                json.dumps(options, default=str),
            )
            await conn.copy_records_to_table(
                "dlq_replay_items",
                records=rows,
                columns=[
                    "replay_id",
                    "dlq_topic",
                    "dlq_partition",
                    "dlq_offset",
                    "webhook_id",
                    "integration_id",
                    "delivery_id",
                    "state",
                ],
            )
            await record_audit(conn, requested_by, "dlq.replay", details=audit)

    async def audit_payload_view(self, actor: str, message: MessageRow) -> None:
        """Record that ``actor`` read a dead letter's payload (which may hold PHI)."""
        await record_audit(
            self.pool,
            actor,
            "dlq.payload.view",
            integration_id=message.integration_id,
            webhook_id=message.webhook_id,
            details={"message_id": message.id, "delivery_id": message.delivery_id},
        )

    async def unsent_items(self, replay_id: str) -> list[tuple[int, int]]:
        """(partition, offset) of items still to send (pending, or failed in an earlier run)."""
        rows = await self.pool.fetch(
            """SELECT dlq_partition, dlq_offset FROM dlq_replay_items
               WHERE replay_id = $1 AND state IN ('pending', 'failed') ORDER BY dlq_partition, dlq_offset""",
            replay_id,
        )
        return [(r["dlq_partition"], r["dlq_offset"]) for r in rows]

    async def mark_item(
        self, replay_id: str, partition: int, offset: int, state: str, error: str | None = None
    ) -> None:
        """Set one item's state (``sent`` only after the broker acknowledged the job)."""
        await self.pool.execute(
            """UPDATE dlq_replay_items SET state = $4, error = $5,
                      sent_at = CASE WHEN $4 = 'sent' THEN now() ELSE sent_at END
               WHERE replay_id = $1 AND dlq_partition = $2 AND dlq_offset = $3""",
            replay_id,
            partition,
            offset,
            state,
            error,
        )

    async def mark_sent(self, replay_id: str, positions: Sequence[tuple[int, int]]) -> None:
        """Mark items ``sent`` (the broker acknowledged their jobs) in one statement."""
        if not positions:
            return
        await self.pool.execute(
            """UPDATE dlq_replay_items SET state = 'sent', error = NULL, sent_at = now()
               WHERE replay_id = $1
                 AND (dlq_partition, dlq_offset) IN (SELECT * FROM unnest($2::int[], $3::bigint[]))""",
            replay_id,
            [p for p, _ in positions],
            [o for _, o in positions],
        )

    async def start_run(self, replay_id: str, actor: str) -> None:
        """Mark a resumed replay running again (and audit who resumed it)."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                """UPDATE dlq_replays SET status = 'running', runs = runs + 1, error = NULL,
                          finished_at = NULL, announced_at = NULL, updated_at = now() WHERE id = $1""",
                replay_id,
            )
            await record_audit(conn, actor, "dlq.replay.resume", details={"replay_id": replay_id})

    async def finish(self, replay_id: str, status: str, error: str | None = None) -> None:
        """Record how a run ended."""
        await self.pool.execute(
            """UPDATE dlq_replays SET status = $2, error = $3, updated_at = now(), announced_at = NULL,
                      finished_at = CASE WHEN $2 = 'interrupted' THEN NULL ELSE now() END
               WHERE id = $1""",
            replay_id,
            status,
            error,
        )

    async def unannounced_ends(self, limit: int = 100) -> list[ReplayRecord]:
        """Replays whose last run ended completed or failed and was not announced yet, oldest first."""
        rows = await self.pool.fetch(
            _SELECT_REPLAY + " WHERE r.announced_at IS NULL AND r.finished_at IS NOT NULL"
            " AND r.status IN ('completed', 'failed') GROUP BY r.id ORDER BY r.finished_at LIMIT $1",
            limit,
        )
        return [_record(r) for r in rows]

    async def mark_announced(self, replay_id: str, finished_at: datetime) -> None:
        """Stamp one end as announced (not a later end of the same replay: a resume moved finished_at)."""
        await self.pool.execute(
            "UPDATE dlq_replays SET announced_at = now() WHERE id = $1 AND finished_at = $2",
            replay_id,
            finished_at,
        )

    async def get(self, replay_id: str) -> ReplayRecord | None:
        """One replay with its counts."""
        row = await self.pool.fetchrow(_SELECT_REPLAY + " WHERE r.id = $1 GROUP BY r.id", replay_id)
        return None if row is None else _record(row)

    async def list(self, limit: int = 50, scope: frozenset[str] | None = None) -> list[ReplayRecord]:
        """The latest replays, newest first; with a scope, only replays wholly inside it
        (filtered before the limit, so a scoped caller still gets up to ``limit`` of its own)."""
        rows = await self.pool.fetch(
            "SELECT * FROM (" + _SELECT_REPLAY + " GROUP BY r.id) s"
            " WHERE $2::text[] IS NULL OR (cardinality(s.integration_ids) > 0 AND s.integration_ids <@ $2)"
            " ORDER BY s.created_at DESC LIMIT $1",
            limit,
            None if scope is None else sorted(scope),
        )
        return [r for r in map(_record, rows) if replay_in_scope(r.integration_ids, scope)]
