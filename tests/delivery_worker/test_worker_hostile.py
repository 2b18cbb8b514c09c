"""Hostile receivers and producers against the real worker, broker and loopback receivers (issue 15).

Each test failed before its fix: a ``Retry-After: ²`` or a null Kafka header raised after the POST and
the job was re-POSTed every second without an attempt on record; a null ``retry-due-ms`` raised in the
retry consumer's fetch path; an oversized record was retried for ever; a black-holed name held up
every other webhook's lookups.
"""

from __future__ import annotations

import asyncio
import hashlib
import time

import pytest
from dw_helpers import Bus, make_config, make_job, receiver, status, wait_for
from fake_dns import fake_dns

from contracts.webhooks import RetryPolicy
from delivery_worker.plan import RETRY_DUE_HEADER
from webhook_core.dns import AsyncResolver
from webhook_core.secrets_crypto import SecretBox

pytestmark = pytest.mark.integration

FAST_RETRY = RetryPolicy(max_attempts=3, initial_delay_ms=200, multiplier=1.0, jitter=0.0, max_delay_ms=1000)


async def test_a_superscript_retry_after_is_an_attempt_retried_then_dead_lettered(
    bus: Bus, box: SecretBox, start_worker
) -> None:
    async with receiver({"/busy": status(429, {"Retry-After": "\u00b2"})}) as rec:
        config = make_config(box, rec.url("/busy"), retry=FAST_RETRY)
        await bus.config(config)
        app = await start_worker()
        job = make_job(config)
        await bus.job(job)
        await wait_for(lambda: len(bus.dead) == 1, 20, "the dead letter")
        await asyncio.sleep(1.5)  # time enough for a re-POST if the job were still being handled
        results = sorted(bus.for_delivery(job.delivery_id), key=lambda r: r.attempt)
        assert [(r.attempt, r.outcome) for r in results] == [
            (1, "retrying"),
            (2, "retrying"),
            (3, "dead_lettered"),
        ]
        assert len(rec.on("/busy")) == 3  # one POST per recorded attempt, not one a second for ever
        letter, _ = bus.dead[0]
        assert letter.reason == "gave up after 3 attempts" and letter.final_status_code == 429
        assert app.ready


async def test_null_header_values_are_absent_not_a_crash(bus: Bus, box: SecretBox, start_worker) -> None:
    async with receiver({"/reject": status(400), "/ok": status(200)}) as rec:
        reject = make_config(box, rec.url("/reject"), retry=FAST_RETRY)
        ok = make_config(box, rec.url("/ok"), retry=FAST_RETRY)
        for cfg in (reject, ok):
            await bus.config(cfg)
        app = await start_worker()
        headers = [("integration-id", None), ("x-binary", b"\xff\x00"), ("", b"")]
        rejected = make_job(reject)
        await bus.job(rejected, headers=headers)  # type: ignore[arg-type]
        # Straight onto a retry tier with a null, then a garbled, due time: the fetch path must cope.
        on_tier = [make_job(ok, n) for n in range(2)]
        tier_topic = bus.topics.retry_topics()[1]
        await bus.job(on_tier[0], topic=tier_topic, headers=[(RETRY_DUE_HEADER, None)])  # type: ignore[list-item]
        await bus.job(on_tier[1], topic=tier_topic, headers=[(RETRY_DUE_HEADER, "\u00b2".encode())])
        await wait_for(lambda: len(bus.dead) == 1, 20, "the 400 dead-lettered")
        for job in on_tier:
            await wait_for(
                lambda job=job: [r.outcome for r in bus.for_delivery(job.delivery_id)] == ["succeeded"],
                20,
                "the tier jobs delivered",
            )
        await asyncio.sleep(1.0)
        assert len(rec.on("/reject")) == 1  # POSTed once: the 4xx is final
        assert [r.outcome for r in bus.for_delivery(rejected.delivery_id)] == ["dead_lettered"]
        letter, letter_headers = bus.dead[0]
        assert letter.original_headers == {"x-binary": "\ufffd\x00", "": ""}
        assert "integration-id" not in letter_headers
        assert app.ready and app.retry_jobs is not None and not app.retry_jobs.stopping.is_set()


async def test_a_due_time_far_ahead_holds_its_tier_partition_one_tier_at_most(
    bus: Bus, box: SecretBox, start_worker
) -> None:
    """A retry-tier record claiming to be due in 300 years, or written "in" 2300, must not pause its
    partition (and every retry behind it) for that long: each waits one tier (1 s) at most. Before the
    fix the worker paused the partition until the claimed time and none of the three was delivered."""
    async with receiver({"/ok": status(200)}) as rec:
        ok = make_config(box, rec.url("/ok"))
        await bus.config(ok)
        app = await start_worker()
        tier_topic = bus.topics.retry_topics()[1]
        far = [make_job(ok, n) for n in range(3)]  # one key: one partition, in this order
        await bus.job(far[0], topic=tier_topic, headers=[(RETRY_DUE_HEADER, str(10**13).encode())])
        in_2300_ms = int(time.time() * 1000) + 274 * 365 * 86_400_000
        await bus.producer.send_and_wait(
            tier_topic, far[1].to_bytes(), key=ok.id.encode(), timestamp_ms=in_2300_ms
        )
        await bus.job(far[2], topic=tier_topic)
        for job in far:
            await wait_for(
                lambda job=job: [r.outcome for r in bus.for_delivery(job.delivery_id)] == ["succeeded"],
                20,
                "every tier job delivered",
            )
        assert len(rec.on("/ok")) == 3 and app.ready


async def test_a_job_that_raises_three_times_is_dead_lettered_as_handler_error(
    bus: Bus, box: SecretBox, start_worker
) -> None:
    async with receiver() as rec:
        config = make_config(box, rec.url("/hook"), retry=FAST_RETRY)
        await bus.config(config)
        app = await start_worker()
        calls = 0

        def broken(*_: object) -> None:
            nonlocal calls
            calls += 1
            raise RuntimeError("bug with a patient's name in it")

        app.deliverer.credentials.get = broken  # type: ignore[method-assign]
        job = make_job(config)
        await bus.job(job)
        await wait_for(lambda: len(bus.dead) == 1, 20, "the handler_error dead letter")
        await asyncio.sleep(1.5)
        assert calls == 3 and rec.hits == []  # raised before any request: retried twice, then given up
        letter, _ = bus.dead[0]
        assert letter.reason == "handling raised RuntimeError 3 times"
        assert letter.final_error_category == "handler_error" and "patient" not in letter.reason
        (result,) = bus.for_delivery(job.delivery_id)
        assert (result.outcome, result.error_category) == ("dead_lettered", "handler_error")
        assert app.ready


async def test_an_error_after_the_request_records_the_attempt_and_never_resends(
    bus: Bus, box: SecretBox, start_worker, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with receiver() as rec:
        config = make_config(box, rec.url("/hook"), retry=FAST_RETRY)
        await bus.config(config)
        await start_worker()

        def broken(*_: object, **__: object) -> None:
            raise ValueError("boom")

        monkeypatch.setattr("delivery_worker.delivery.decide", broken)
        job = make_job(config)
        await bus.job(job)
        await wait_for(lambda: len(bus.dead) == 1, 20, "the handler_error dead letter")
        await asyncio.sleep(1.5)
        assert len(rec.hits) == 1
        letter, _ = bus.dead[0]
        assert [a.status_code for a in letter.job.attempts] == [200]  # the attempt is on record
        (result,) = bus.for_delivery(job.delivery_id)
        assert (result.outcome, result.status_code, result.error_category) == (
            "dead_lettered",
            200,
            "handler_error",
        )


async def test_records_stay_under_the_configured_max_and_a_too_large_job_moves_on(
    bus: Bus, box: SecretBox, start_worker
) -> None:
    limit = 16_384
    async with receiver({"/down": status(500)}) as rec:
        ok = make_config(box, rec.url("/ok"), retry=FAST_RETRY)
        down = make_config(box, rec.url("/down"), retry=FAST_RETRY)
        for cfg in (ok, down):
            await bus.config(cfg)
        app = await start_worker(max_record_bytes=limit)
        medium_body = '{"x":"' + "m" * 9_000 + '"}'  # fits a job, not a result with its encrypted copy
        huge_body = '{"x":"' + "h" * 17_000 + '"}'  # the job itself is over the limit
        medium = make_job(ok, 1, body=medium_body)
        huge = make_job(down, 2, body=huge_body)
        after = make_job(down, 3)  # same key, same partition, after the huge one
        for job in (medium, huge, after):
            await bus.job(job)

        await wait_for(lambda: bool(bus.for_delivery(medium.delivery_id)), 20, "the medium result")
        (result,) = bus.for_delivery(medium.delivery_id)
        assert result.outcome == "succeeded" and result.payload_encrypted is None
        assert result.payload_sha256 == hashlib.sha256(medium_body.encode()).hexdigest()

        await wait_for(lambda: bool(bus.for_delivery(huge.delivery_id)), 20, "the huge job's result")
        (ended,) = bus.for_delivery(huge.delivery_id)
        assert (ended.outcome, ended.error_category) == ("dead_lettered", "record_too_large")
        assert len([h for h in rec.on("/down") if h.body == huge_body.encode()]) == 1
        await wait_for(
            lambda: [r.outcome for r in bus.for_delivery(after.delivery_id)][-1:] == ["dead_lettered"],
            20,
            "the next job of the partition handled",
        )
        assert all(len(r.model_dump_json()) <= limit for r in bus.results)
        assert all(len(letter.model_dump_json()) <= limit for letter, _ in bus.dead)
        # The offsets move past the huge job: nothing is stuck behind it.
        assert app.consumer is not None and app.jobs is not None
        tps = [tp for tp in app.consumer.assignment() if tp.topic == bus.topics.deliveries]
        await wait_for(lambda: not app.jobs.pending, 10, "no job left unfinished")
        committed = [await app.consumer.committed(tp) for tp in tps]
        assert sum(c or 0 for c in committed) >= 3


async def test_a_black_holed_host_does_not_hold_up_other_webhooks(
    bus: Bus, box: SecretBox, start_worker
) -> None:
    async with receiver() as rec, fake_dns({"good.test": "127.0.0.1"}, {"blackhole.test"}) as dns:
        slow = make_config(box, f"http://blackhole.test:{rec.port}/slow", timeout_ms=3000, retry=FAST_RETRY)
        good = make_config(box, f"http://good.test:{rec.port}/good", retry=FAST_RETRY)
        for cfg in (slow, good):
            await bus.config(cfg)
        resolver = AsyncResolver(nameservers=[dns.nameserver], timeout_s=5.0)
        await start_worker(resolver=resolver, max_concurrency=16)
        try:
            # Enough lookups of the dead name to fill any thread pool, then the healthy traffic.
            for n in range(40):
                await bus.job(make_job(slow, n))
            await asyncio.sleep(0.3)
            started = time.monotonic()
            good_jobs = [make_job(good, n) for n in range(20)]
            for job in good_jobs:
                await bus.job(job)
            await wait_for(
                lambda: all(
                    [r.outcome for r in bus.for_delivery(j.delivery_id)] == ["succeeded"] for j in good_jobs
                ),
                20,
                "the healthy webhook's deliveries",
            )
            elapsed = time.monotonic() - started
            assert elapsed < 2.5, elapsed  # well before the dead name's 3 s timeouts
            assert len(rec.on("/good")) == 20 and rec.on("/slow") == []
            # 40 jobs, one lookup of the dead name (shared, then its failure remembered): c-ares asks A and
            # AAAA and tries again once.
            assert dns.queries.count("blackhole.test") <= 6
        finally:
            await resolver.close()


async def test_a_send_that_raises_after_posting_is_not_sent_again(
    bus: Bus, box: SecretBox, start_worker, monkeypatch: pytest.MonkeyPatch
) -> None:
    from delivery_worker import delivery

    real_send = delivery.send_webhook

    async def post_then_raise(*args: object, **kwargs: object) -> object:
        await real_send(*args, **kwargs)  # type: ignore[arg-type]
        raise UnicodeError("a bug after the request went out")

    async with receiver() as rec:
        config = make_config(box, rec.url("/hook"), retry=FAST_RETRY)
        await bus.config(config)
        app = await start_worker()
        monkeypatch.setattr(delivery, "send_webhook", post_then_raise)
        job = make_job(config)
        await bus.job(job)
        await wait_for(lambda: len(bus.dead) == 1, 20, "the handler_error dead letter")
        await asyncio.sleep(1.5)
        assert len(rec.hits) == 1  # not re-sent by a retry of the handling
        (result,) = bus.for_delivery(job.delivery_id)
        assert (result.outcome, result.error_category) == ("dead_lettered", "handler_error")
        assert app.ready
