"""The DLQ replayer with encrypted dead letters: shown decrypted only on request, replayed encrypted."""

from __future__ import annotations

import pytest
from dlq_factories import letter, webhook
from dlq_kafka import produce_letters, publish_webhooks, read_jobs

from contracts.base import utcnow
from contracts.topics import Topics
from dlq_replayer.filters import DlqFilters
from dlq_replayer.replay import ReplayDraft, ReplayOptions
from dlq_replayer.runtime import Runtime

pytestmark = pytest.mark.integration


async def test_encrypted_letters_shown_on_request_and_replayed_encrypted(
    kafka_bootstrap: str, topics: Topics, runtime: Runtime
) -> None:
    core = runtime.core
    assert core.payloads.encrypt  # the default
    plain = [letter(i, at=utcnow(), webhook="wh-a") for i in range(3)]
    sealed = [lt.model_copy(update={"job": core.payloads.seal(lt.job)}) for lt in plain]
    moved = sealed[2].model_copy(
        update={"job": sealed[2].job.model_copy(update={"delivery_id": "dlv-elsewhere"})}
    )
    await produce_letters(kafka_bootstrap, topics, [sealed[0], sealed[1], moved])
    await publish_webhooks(kafka_bootstrap, topics, [webhook("wh-a")])

    listed = await core.list_messages(DlqFilters())
    by_delivery = {m.delivery_id: m for m in listed.messages}
    first = by_delivery[plain[0].job.delivery_id]
    hidden = await core.get_message(first.id)
    assert hidden.dead_letter["job"]["body"] is None and "body_encrypted" not in hidden.dead_letter["job"]
    shown = await core.get_message(first.id, True)
    assert shown.dead_letter["job"]["body"] == plain[0].job.body_text
    broken = await core.get_message(by_delivery["dlv-elsewhere"].id, True)
    assert broken.dead_letter["job"]["body"] is None
    assert "dlv-elsewhere: body_encrypted does not decrypt" in broken.dead_letter["job"]["body_error"]

    draft = await core.prepare_replay(DlqFilters(), ReplayOptions(rate=1000), "cli:alice")
    assert isinstance(draft, ReplayDraft)
    await (await draft.commit()).execute()
    jobs = await read_jobs(kafka_bootstrap, topics.deliveries, expected=3)
    assert len(jobs) == 3
    for _, job, _ in jobs:
        assert job.body is None and job.body_encrypted is not None  # replayed encrypted
    opened = {
        j.delivery_id: core.payloads.open(j).body_text for _, j, _ in jobs if j.delivery_id != "dlv-elsewhere"
    }
    assert opened == {lt.job.delivery_id: lt.job.body_text for lt in plain[:2]}
