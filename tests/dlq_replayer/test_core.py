"""The replay core against the embedded broker and PostgreSQL: inspect, plan, replay, resume, rate."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta

import asyncpg
import pytest
from dlq_factories import letter, webhook
from dlq_kafka import FlakyPublisher, produce, produce_letters, publish_webhooks, read_jobs

from contracts.base import utcnow
from contracts.topics import Topics
from dlq_replayer.core import DlqCore, ReplayStarted
from dlq_replayer.errors import ConflictError, InvalidInputError, NotFoundError, UnavailableError
from dlq_replayer.filters import DlqFilters
from dlq_replayer.replay import PublisherProtocol, ReplayDraft, ReplayOptions
from dlq_replayer.runtime import Runtime, open_core
from dlq_replayer.settings import DlqReplayerSettings

pytestmark = pytest.mark.integration


async def test_inspect_filters_show_and_stats(kafka_bootstrap: str, topics: Topics, runtime: Runtime) -> None:
    now = utcnow()
    old = [letter(i, at=now - timedelta(hours=3), webhook="wh-a") for i in range(3)]
    new = [
        letter(10 + i, at=now - timedelta(minutes=5 - i), webhook="wh-b", category="timeout")
        for i in range(3)
    ]
    await produce_letters(kafka_bootstrap, topics, old + new)
    await produce(kafka_bootstrap, topics.deliveries_dlq, [(b"wh-x", b"not json", None)])
    core = runtime.core

    listed = await core.list_messages(DlqFilters())
    assert listed.count == 6 and listed.invalid_records == 1
    assert [r.event_type for r in listed.messages] == ["response_completed"] * 6
    assert [r.delivery_id for r in listed.messages[:3]] == ["dlv-wh-b-12", "dlv-wh-b-11", "dlv-wh-b-10"]

    recent = await core.list_messages(DlqFilters.model_validate({"since": "1h"}))
    assert {r.webhook_id for r in recent.messages} == {"wh-b"} and recent.count == 3
    older = await core.list_messages(DlqFilters.model_validate({"until": "1h", "webhook": "wh-a"}))
    assert older.count == 3
    assert (await core.list_messages(DlqFilters(error_category="timeout", limit=2))).count == 2

    first = listed.messages[0]
    detail = await core.get_message(first.id)
    assert detail.dead_letter["job"]["body"] is None and not detail.payload_included
    assert detail.dead_letter["job"]["delivery_id"] == first.delivery_id
    assert len(detail.dead_letter["job"]["attempts"]) == 3
    with_body = await core.get_message(f"{topics.deliveries_dlq}:{first.partition}:{first.offset}", True)
    assert "patient12@example.org" in with_body.dead_letter["job"]["body"]
    with pytest.raises(NotFoundError):
        await core.get_message("0-99999")
    with pytest.raises(NotFoundError):
        await core.get_message("7-0")  # no such partition
    with pytest.raises(InvalidInputError):
        await core.get_message("zero-one")

    stats = await core.stats(DlqFilters())
    assert stats.total == 6
    assert stats.by_webhook == {"wh-a": 3, "wh-b": 3}
    assert stats.by_error_category == {"http_5xx": 3, "timeout": 3}


async def test_dry_run_replay_rate_and_no_second_replay(
    kafka_bootstrap: str, topics: Topics, runtime: Runtime, database_url: str
) -> None:
    now = utcnow()
    letters = [letter(i, at=now, webhook="wh-a") for i in range(20)]
    letters += [letter(100, at=now, webhook="wh-off"), letter(101, at=now, webhook="wh-gone")]
    await produce_letters(kafka_bootstrap, topics, letters)
    await publish_webhooks(kafka_bootstrap, topics, [webhook("wh-a"), webhook("wh-off", active=False)])
    core = runtime.core

    dry = await core.prepare_replay(DlqFilters(), ReplayOptions(dry_run=True), "tester")
    assert isinstance(dry, ReplayStarted) and dry.replay_id is None
    assert dry.plan.model_dump() == {
        "selected": 22,
        "to_replay": 20,
        "skipped_deleted": 1,
        "skipped_inactive": 1,
        "skipped_already_replayed": 0,
        "by_webhook": {"wh-a": 20},
    }

    draft = await core.prepare_replay(DlqFilters(), ReplayOptions(rate=10), "cli:alice")
    assert isinstance(draft, ReplayDraft)
    run = await draft.commit()
    started = time.monotonic()
    record = await run.execute()
    elapsed = time.monotonic() - started
    # 20 messages at 10/s: the 20th is due 1.9 s after the first. Lower bound only.
    print(f"rate check: 20 messages at --rate 10 took {elapsed:.2f} s")
    assert elapsed >= 1.8, elapsed
    assert (record.status, record.selected, record.replayed, record.failed, record.skipped) == (
        "completed",
        22,
        20,
        0,
        2,
    )

    jobs = await read_jobs(kafka_bootstrap, topics.deliveries, expected=20)
    assert len(jobs) == 20
    assert sorted(j.delivery_id for _, j, _ in jobs) == sorted(lt.job.delivery_id for lt in letters[:20])
    for key, job, headers in jobs:
        assert key == b"wh-a" and job.attempt == 1 and job.attempts == [] and job.not_before is None
        assert job.replay is not None and job.replay.replay_id == record.id
        assert job.replay.requested_by == "cli:alice" and job.replay.kind == "dlq_replay"
        assert headers["delivery-id"] == job.delivery_id.encode()

    again = await core.prepare_replay(DlqFilters(), ReplayOptions(), "cli:alice")
    assert isinstance(again, ReplayStarted) and again.replay_id is None
    assert again.plan.to_replay == 0 and again.plan.skipped_already_replayed == 20
    assert "nothing to replay" in again.message
    assert (await core.list_messages(DlqFilters(replayed=True))).count == 20
    assert (await core.list_messages(DlqFilters(replayed=False))).count == 2

    forced = await core.prepare_replay(
        DlqFilters(webhook="wh-a", limit=2), ReplayOptions(force=True, rate=1000), "cli:bob"
    )
    assert isinstance(forced, ReplayDraft) and forced.plan.to_replay == 2
    await (await forced.commit()).execute()
    assert len(await read_jobs(kafka_bootstrap, topics.deliveries, expected=22)) == 22

    conn = await asyncpg.connect(database_url)
    try:
        audits = await conn.fetch("SELECT actor, action, details FROM audit_log ORDER BY id")
    finally:
        await conn.close()
    assert [(a["actor"], a["action"]) for a in audits] == [
        ("cli:alice", "dlq.replay"),
        ("cli:bob", "dlq.replay"),
    ]
    assert '"to_replay": 20' in audits[0]["details"]


async def test_interrupted_replay_resumes_without_duplicates(
    kafka_bootstrap: str, topics: Topics, runtime: Runtime
) -> None:
    now = utcnow()
    letters = [letter(i, at=now, webhook="wh-a") for i in range(12)]
    await produce_letters(kafka_bootstrap, topics, letters)
    await publish_webhooks(kafka_bootstrap, topics, [webhook("wh-a")])
    core = runtime.core

    draft = await core.prepare_replay(DlqFilters(), ReplayOptions(rate=20), "cli:alice")
    assert isinstance(draft, ReplayDraft)
    run = await draft.commit()
    reached = asyncio.Event()

    def progress(done: int, total: int) -> None:
        if done >= 4:
            reached.set()

    task = asyncio.create_task(run.execute(progress))
    await reached.wait()
    with pytest.raises(ConflictError):  # one replay of a DLQ at a time
        await core.prepare_replay(DlqFilters(), ReplayOptions(), "cli:bob")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    interrupted = await core.get_replay(run.replay_id)
    assert interrupted.status == "interrupted"
    assert 4 <= interrupted.replayed < 12 and interrupted.pending == 12 - interrupted.replayed
    sent_before = interrupted.replayed

    _, resumed = await core.prepare_resume(run.replay_id, "cli:carol")
    assert resumed is not None and len(resumed.entries) == 12 - sent_before
    final = await resumed.execute()
    assert (final.status, final.replayed, final.pending, final.runs) == ("completed", 12, 0, 2)

    jobs = await read_jobs(kafka_bootstrap, topics.deliveries, expected=12, settle_s=1.0)
    counts = Counter(j.delivery_id for _, j, _ in jobs)
    assert len(counts) == 12 and set(counts.values()) == {1}, counts
    assert {j.replay.replay_id for _, j, _ in jobs if j.replay} == {run.replay_id}

    _, nothing = await core.prepare_resume(run.replay_id, "cli:carol")
    assert nothing is None
    with pytest.raises(NotFoundError):
        await core.prepare_resume("no-such-replay", "cli:carol")


async def test_broker_unreachable_records_nothing(
    dlq_settings: DlqReplayerSettings, database_url: str
) -> None:
    broken = dlq_settings.model_copy(update={"kafka_bootstrap_servers": "127.0.0.1:1"})
    async with open_core(broken, follow=False) as rt:
        with pytest.raises(UnavailableError, match=r"cannot reach Kafka at 127\.0\.0\.1:1"):
            await rt.core.prepare_replay(DlqFilters(), ReplayOptions(), "cli:alice")
        with pytest.raises(UnavailableError, match="cannot reach Kafka"):
            await rt.core.list_messages(DlqFilters())
        assert await rt.core.list_replays() == []
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM dlq_replay_items") == 0
        assert await conn.fetchval("SELECT count(*) FROM audit_log") == 0
    finally:
        await conn.close()


async def test_failed_sends_are_recorded_and_resumed(
    kafka_bootstrap: str, topics: Topics, runtime: Runtime
) -> None:
    now = utcnow()
    letters = [letter(i, at=now, webhook="wh-a") for i in range(8)]
    await produce_letters(kafka_bootstrap, topics, letters)
    await publish_webhooks(kafka_bootstrap, topics, [webhook("wh-a")])
    real = await runtime.publisher.started()
    failing = {letters[1].job.delivery_id, letters[5].job.delivery_id}
    flaky = FlakyPublisher(real, failing)

    async def get_flaky() -> PublisherProtocol:
        return flaky

    core = runtime.core
    faulty = DlqCore(
        core.topics,
        core.reader,
        core.store,
        core._webhooks,
        get_flaky,
        max_consecutive_failures=3,
        payloads=core.payloads,
    )
    draft = await faulty.prepare_replay(DlqFilters(), ReplayOptions(rate=1000), "cli:alice")
    assert isinstance(draft, ReplayDraft)
    record = await (await draft.commit()).execute()
    # Two isolated failures: the run goes on, ends "failed" (the CLI exits 1), and can be resumed.
    assert (record.status, record.replayed, record.failed, record.pending) == ("failed", 6, 2, 0)
    assert record.error == "publish failed: KafkaTimeoutError"

    _, resumed = await core.prepare_resume(record.id, "cli:alice")
    assert resumed is not None and {e.letter.job.delivery_id for e in resumed.entries} == failing
    final = await resumed.execute()
    assert (final.status, final.replayed, final.failed) == ("completed", 8, 0)
    jobs = await read_jobs(kafka_bootstrap, topics.deliveries, expected=8)
    assert Counter(j.delivery_id for _, j, _ in jobs) == Counter({lt.job.delivery_id: 1 for lt in letters})

    # Three failures in a row stop the run: interrupted, the rest left pending
    flaky.fail = {lt.job.delivery_id for lt in letters}
    # (a rate the sends cannot outrun, even sealing each job: the pacer then settles before every send)
    forced = await faulty.prepare_replay(DlqFilters(), ReplayOptions(rate=100, force=True), "cli:alice")
    assert isinstance(forced, ReplayDraft)
    stopped = await (await forced.commit()).execute()
    # (sends are pipelined, so the window in flight when the third failed is recorded too)
    assert (stopped.status, stopped.replayed) == ("interrupted", 0)
    assert 3 <= stopped.failed < 8 and stopped.failed + stopped.pending == 8


async def test_cli_killed_mid_replay_resumes_without_duplicates(
    kafka_bootstrap: str, topics: Topics, runtime: Runtime, dlq_env: dict[str, str], database_url: str
) -> None:
    letters = [letter(i, at=utcnow(), webhook="wh-a") for i in range(10)]
    await produce_letters(kafka_bootstrap, topics, letters)
    await publish_webhooks(kafka_bootstrap, topics, [webhook("wh-a")])
    env = {**os.environ, **dlq_env}
    args = [sys.executable, "-m", "dlq_replayer.cli", "--direct", "replay", "--yes", "--rate", "4"]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    conn = await asyncpg.connect(database_url)
    try:
        for _ in range(300):
            if await conn.fetchval("SELECT to_regclass('dlq_replay_items')") and await conn.fetchval(
                "SELECT count(*) FROM dlq_replay_items WHERE state = 'sent'"
            ):
                break
            await asyncio.sleep(0.05)
    finally:
        await conn.close()
        proc.send_signal(signal.SIGKILL)  # no chance to record anything: the lock dies with the session
        await asyncio.to_thread(proc.wait, 10)

    (replay,) = await runtime.core.list_replays()
    assert replay.status == "interrupted" and 1 <= replay.replayed < 10, replay
    assert "stopped" in (replay.error or "")
    _, resumed = await runtime.core.prepare_resume(replay.id, "cli:carol")
    assert resumed is not None
    assert (await resumed.execute()).replayed == 10
    jobs = await read_jobs(kafka_bootstrap, topics.deliveries, expected=10, settle_s=1.0)
    counts = Counter(j.delivery_id for _, j, _ in jobs)
    # At most the one send acknowledged but not yet marked when the process died can repeat.
    assert set(counts) == {lt.job.delivery_id for lt in letters}
    assert sum(counts.values()) - 10 <= 1, counts
