"""Replay ends on ``webhooks.ops`` (``dlq.replay.completed``): each end once, failed and completed, at
least once from the database, also for replays run by the CLI in direct mode (no service involved)."""

from __future__ import annotations

import pytest
from dlq_factories import letter, webhook
from dlq_kafka import FlakyPublisher, produce_letters, publish_webhooks, read_records

from contracts.base import utcnow
from contracts.events import DlqReplayCompletedV1
from contracts.topics import Topics
from dlq_replayer.announcements import CompletionAnnouncer
from dlq_replayer.core import DlqCore
from dlq_replayer.filters import DlqFilters
from dlq_replayer.replay import PublisherProtocol, ReplayDraft, ReplayOptions
from dlq_replayer.runtime import Runtime

pytestmark = pytest.mark.integration


async def test_each_end_of_a_replay_is_announced_once(
    kafka_bootstrap: str, topics: Topics, runtime: Runtime
) -> None:
    letters = [letter(i, at=utcnow(), webhook="wh-a") for i in range(4)]
    await produce_letters(kafka_bootstrap, topics, letters)
    await publish_webhooks(kafka_bootstrap, topics, [webhook("wh-a")])
    real = await runtime.publisher.started()
    flaky = FlakyPublisher(real, {letters[2].job.delivery_id})

    async def get_flaky() -> PublisherProtocol:
        return flaky

    core = runtime.core
    faulty = DlqCore(
        core.topics, core.reader, core.store, core._webhooks, get_flaky, 3, payloads=core.payloads
    )
    announcer = CompletionAnnouncer(core.store, runtime.publisher, topics.ops, interval_s=60)
    assert await announcer.announce_pending() == 0

    draft = await faulty.prepare_replay(DlqFilters(), ReplayOptions(rate=1000), "cli:alice")
    assert isinstance(draft, ReplayDraft)
    failed = await (await draft.commit()).execute()
    assert (failed.status, failed.replayed, failed.failed) == ("failed", 3, 1)
    assert await announcer.announce_pending() == 1
    assert await announcer.announce_pending() == 0  # stamped: not again

    _, resumed = await core.prepare_resume(failed.id, "cli:alice")
    assert resumed is not None
    completed = await resumed.execute()
    assert completed.status == "completed"
    assert await announcer.announce_pending() == 1  # the resumed replay's new end
    assert await announcer.announce_pending() == 0

    records = await read_records(kafka_bootstrap, topics.ops, expected=2, settle_s=1.0)
    ends = [DlqReplayCompletedV1.model_validate_json(value) for _, value, _ in records]
    assert [(e.status, e.replayed, e.failed, e.runs, e.error) for e in ends] == [
        ("failed", 3, 1, 1, "publish failed: KafkaTimeoutError"),
        ("completed", 4, 0, 2, None),
    ]
    assert {key for key, _, _ in records} == {failed.id.encode()}
    assert ends[0].finished_at < ends[1].finished_at and ends[0].started_at == ends[1].started_at


async def test_an_interrupted_run_is_no_end(kafka_bootstrap: str, topics: Topics, runtime: Runtime) -> None:
    letters = [letter(i, at=utcnow(), webhook="wh-a") for i in range(6)]
    await produce_letters(kafka_bootstrap, topics, letters)
    await publish_webhooks(kafka_bootstrap, topics, [webhook("wh-a")])
    real = await runtime.publisher.started()
    flaky = FlakyPublisher(real, {lt.job.delivery_id for lt in letters})  # every send fails: it stops

    async def get_flaky() -> PublisherProtocol:
        return flaky

    core = runtime.core
    faulty = DlqCore(
        core.topics, core.reader, core.store, core._webhooks, get_flaky, 3, payloads=core.payloads
    )
    draft = await faulty.prepare_replay(DlqFilters(), ReplayOptions(rate=100), "cli:alice")
    assert isinstance(draft, ReplayDraft)
    stopped = await (await draft.commit()).execute()
    assert stopped.status == "interrupted"
    announcer = CompletionAnnouncer(core.store, runtime.publisher, topics.ops, interval_s=60)
    assert await announcer.announce_pending() == 0
