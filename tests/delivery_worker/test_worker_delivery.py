"""The worker against the embedded broker and real loopback receivers: signing, auth, cancel, limits."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import aiohttp
import pytest
from dw_helpers import Bus, make_config, make_job, receiver, status, wait_for
from standardwebhooks.webhooks import Webhook

from contracts.base import utcnow
from contracts.deliveries import ReplayInfo
from contracts.webhooks import BasicAuth, HeaderAuth
from webhook_core.secrets_crypto import SecretBox, generate_signing_secret
from webhook_core.sending import USER_AGENT

pytestmark = pytest.mark.integration


async def test_signed_delivery_with_rotation_auth_results_and_cancel(
    bus: Bus, box: SecretBox, start_worker
) -> None:
    new, old = generate_signing_secret(), generate_signing_secret()
    async with receiver() as rec:
        rotating = make_config(
            box,
            rec.url("/rotating"),
            secrets=[(new, None), (old, utcnow() + timedelta(hours=1))],
            auth=BasicAuth(username="clinic", password="s3cret-pass"),
        )
        custom = make_config(
            box,
            rec.url("/custom"),
            secrets=[(new, None)],
            auth=HeaderAuth(name="X-Api-Key", value="k-123456789"),
        )
        deleted = make_config(box, rec.url("/deleted"))
        inactive = make_config(box, rec.url("/inactive"), active=False)
        for cfg in (rotating, custom, deleted, inactive):
            await bus.config(cfg)
        await bus.config(None, webhook_id=deleted.id)  # tombstone: deleted before the worker starts
        app = await start_worker()
        assert app.ready

        jobs = [make_job(rotating, 1), make_job(custom, 2), make_job(deleted, 3), make_job(inactive, 4)]
        replayed = make_job(rotating, 5, replay=ReplayInfo(replay_id="rp_1", requested_by="ops"))
        for job in [*jobs, replayed]:
            await bus.job(job)
        await wait_for(lambda: len(bus.results) >= 5, what="5 results")

        hits = rec.on("/rotating")
        assert len(hits) == 2
        for hit in hits:
            assert hit.headers["user-agent"] == USER_AGENT
            assert hit.headers["content-type"] == "application/json"
            assert hit.headers["authorization"] == "Basic Y2xpbmljOnMzY3JldC1wYXNz"
            assert hit.headers["webhook-id"] in {jobs[0].delivery_id, replayed.delivery_id}
            assert abs(int(hit.headers["webhook-timestamp"]) - time.time()) < 30
            assert len(hit.headers["webhook-signature"].split(" ")) == 2
            for secret in (new, old):  # receivers holding either secret verify during the rotation
                assert Webhook(secret).verify(hit.body, hit.headers)["text"] == "café"
        custom_hit = rec.on("/custom")[0]
        assert custom_hit.headers["x-api-key"] == "k-123456789"
        assert "authorization" not in custom_hit.headers
        Webhook(new).verify(custom_hit.body, custom_hit.headers)
        assert rec.on("/deleted") == [] and rec.on("/inactive") == []

        ok = bus.for_delivery(jobs[0].delivery_id)[0]
        assert (ok.outcome, ok.status_code, ok.attempt, ok.response_body_excerpt) == (
            "succeeded",
            200,
            1,
            "ok",
        )
        assert ok.circuit_state == "closed" and ok.response_ms is not None
        assert box.decrypt(ok.payload_encrypted or "", f"delivery:{jobs[0].delivery_id}") == jobs[0].body
        for job, reason in ((jobs[2], "webhook deleted"), (jobs[3], "webhook inactive")):
            (cancel,) = bus.for_delivery(job.delivery_id)
            assert (cancel.outcome, cancel.error_category, cancel.error_message) == (
                "cancelled",
                "cancelled",
                reason,
            )
        assert bus.for_delivery(replayed.delivery_id)[0].replay_id == "rp_1"

        # Config changes apply at attempt time: deactivate, and the next job is cancelled.
        await bus.config(rotating.model_copy(update={"active": False, "version": 2}))
        await wait_for(lambda: not app.view.webhooks[rotating.id].active, what="config update")
        later = make_job(rotating, 6)
        await bus.job(later)
        await wait_for(lambda: bool(bus.for_delivery(later.delivery_id)), what="cancel after deactivation")
        assert bus.for_delivery(later.delivery_id)[0].outcome == "cancelled"
        assert len(rec.on("/rotating")) == 2

        async with aiohttp.ClientSession() as http:
            base = f"http://127.0.0.1:{app.ops_port}"
            async with http.get(f"{base}/readyz") as r:
                assert r.status == 200
            async with http.get(f"{base}/metrics") as r:
                text = await r.text()
        assert (
            'carehooks_delivery_attempts_total{error_category="none",integration="int_1",outcome="succeeded"} 3.0'
            in text
        )
        assert "carehooks_event_to_delivery_seconds_count 3.0" in text
        assert "carehooks_circuits_open 0.0" in text


async def test_priority_topic_served_first(bus: Bus, box: SecretBox, start_worker) -> None:
    async with receiver() as rec:
        cfg = make_config(box, rec.url("/p"), max_in_flight=1)
        await bus.config(cfg)
        normal = [make_job(cfg, i) for i in range(30)]
        urgent = [make_job(cfg, 100 + i, priority="high") for i in range(5)]
        for job in normal:
            await bus.job(job)
        for job in urgent:
            await bus.job(job, topic=bus.topics.deliveries_priority)
        await start_worker()
        await wait_for(lambda: len(rec.hits) >= 35, what="35 deliveries")
        order = [h.headers["webhook-id"] for h in rec.hits]
        urgent_ids = {j.delivery_id for j in urgent}
        # With a backlog on both topics, the priority jobs are among the first sent.
        assert max(order.index(d) for d in urgent_ids) < 15, order


async def test_per_webhook_concurrency_and_rate_limit(bus: Bus, box: SecretBox, start_worker) -> None:
    current = 0
    peak = 0

    async def slow(_: object) -> object:
        nonlocal current, peak
        current += 1
        peak = max(peak, current)
        await asyncio.sleep(0.1)
        current -= 1
        return await status(200)(_)  # type: ignore[arg-type]

    async with receiver({"/limited": slow}) as rec:
        limited = make_config(box, rec.url("/limited"), max_in_flight=2)
        rated = make_config(box, rec.url("/rated"), rate_limit_per_s=10.0)
        await bus.config(limited)
        await bus.config(rated)
        await start_worker()
        for i in range(10):
            await bus.job(make_job(limited, i))
        for i in range(20):
            await bus.job(make_job(rated, i))
        await wait_for(
            lambda: len(rec.on("/limited")) == 10 and len(rec.on("/rated")) == 20, what="all deliveries"
        )
        assert peak == 2  # never more than max_in_flight, and the limit was reached
        rated_hits = sorted(h.at for h in rec.on("/rated"))
        # 10/s with a burst of 10: the 20th request cannot come earlier than ~1 s after the first.
        assert rated_hits[-1] - rated_hits[0] >= 0.9


async def test_job_for_a_webhook_not_yet_in_the_view_is_deferred_then_delivered(
    bus: Bus, box: SecretBox, start_worker
) -> None:
    """The dispatcher may see a new webhook before the worker does: the job waits instead of being cancelled."""
    async with receiver() as rec:
        late = make_config(box, rec.url("/late"))
        await start_worker()
        job = make_job(late, 1)
        await bus.job(job)
        await asyncio.sleep(1.0)
        assert not any(r.outcome == "cancelled" for r in bus.for_delivery(job.delivery_id))
        await bus.config(late)
        await wait_for(lambda: len(rec.on("/late")) == 1, what="delivery once the config arrived")
        assert rec.on("/late")[0].headers["webhook-id"] == job.delivery_id
        await wait_for(lambda: bool(bus.for_delivery(job.delivery_id)), what="result")
        assert [r.outcome for r in bus.for_delivery(job.delivery_id)] == ["succeeded"]
