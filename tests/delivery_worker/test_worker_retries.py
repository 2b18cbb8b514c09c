"""Retries through the tier topics, Retry-After, dead-lettering, redirects, 410 and SSRF at send time."""

from __future__ import annotations

import itertools

import pytest
from aiohttp import web
from dw_helpers import Bus, make_config, make_job, receiver, status, wait_for

from contracts.webhooks import RetryPolicy
from webhook_core.secrets_crypto import SecretBox

pytestmark = pytest.mark.integration


def sequence(*codes: int, headers: dict[str, str] | None = None):
    """Answer with the given codes in turn, then 200."""
    calls = 0

    async def handler(request: web.Request) -> web.StreamResponse:
        nonlocal calls
        code = codes[calls] if calls < len(codes) else 200
        calls += 1
        return await status(code, headers if code != 200 else None)(request)

    return handler


async def test_retry_paths(bus: Bus, box: SecretBox, start_worker) -> None:
    names = {"rebind.test": "127.0.0.1"}

    async def resolver(host: str, port: int) -> list[str]:
        return [names[host]]

    policy = RetryPolicy(
        max_attempts=3, initial_delay_ms=300, multiplier=2.0, jitter=0.0, max_delay_ms=10_000
    )
    routes = {
        "/flaky": sequence(500, 503),
        "/after": sequence(429, headers={"Retry-After": "5"}),
        "/down": status(500, text="down for maintenance"),
        "/moved": status(302, {"Location": "/target"}),
        "/gone": status(410),
    }
    async with receiver(routes) as rec:
        flaky = make_config(box, rec.url("/flaky"), retry=policy)
        after = make_config(box, rec.url("/after"), retry=policy)
        down = make_config(box, rec.url("/down"), retry=policy)
        moved = make_config(box, rec.url("/moved"), retry=policy)
        gone = make_config(box, rec.url("/gone"), retry=policy)
        rebind = make_config(box, f"http://rebind.test:{rec.port}/rebind", retry=policy)
        for cfg in (flaky, after, down, moved, gone, rebind):
            await bus.config(cfg)
        await start_worker(resolver=resolver)

        jobs = {
            name: make_job(cfg)
            for name, cfg in [
                ("flaky", flaky),
                ("after", after),
                ("down", down),
                ("moved", moved),
                ("gone", gone),
                ("rebind", rebind),
            ]
        }
        original = [("integration-id", b"int_1"), ("message-type", b"delivery_job.v1")]
        for job in jobs.values():
            await bus.job(job, headers=original)

        def outcomes(name: str) -> list[str]:
            return [
                r.outcome for r in sorted(bus.for_delivery(jobs[name].delivery_id), key=lambda r: r.attempt)
            ]

        await wait_for(
            lambda: outcomes("flaky") == ["retrying", "retrying", "succeeded"], what="flaky recovers"
        )
        await wait_for(lambda: outcomes("down") == ["retrying", "retrying", "dead_lettered"], what="down DLQ")
        await wait_for(lambda: outcomes("after") == ["retrying", "succeeded"], what="429 then ok")
        await wait_for(lambda: len(bus.dead) >= 3, what="dead letters")

        # Delays follow the policy: 0.3 s, then 0.6 s (jitter 0); tiers add a little, never much.
        flaky_hits = [h.at for h in rec.on("/flaky")]
        gaps = [b - a for a, b in itertools.pairwise(flaky_hits)]
        # Never early; the upper bounds leave room for a loaded machine.
        assert 0.28 <= gaps[0] <= 0.95 and 0.58 <= gaps[1] <= 1.3, gaps
        results = sorted(bus.for_delivery(jobs["flaky"].delivery_id), key=lambda r: r.attempt)
        assert [r.attempt for r in results] == [1, 2, 3]
        assert [r.status_code for r in results] == [500, 503, 200]
        assert results[0].next_attempt_at is not None and results[2].next_attempt_at is None
        assert {h.headers["webhook-id"] for h in rec.on("/flaky")} == {jobs["flaky"].delivery_id}

        # Retry-After 5 s on a 0.3 s schedule is clamped to 2 x 0.3 s (honoured as-is it would be 5 s).
        after_hits = [h.at for h in rec.on("/after")]
        assert 0.55 <= after_hits[1] - after_hits[0] <= 1.5, after_hits

        dead = {letter.job.delivery_id: (letter, headers) for letter, headers in bus.dead}
        letter, kafka_headers = dead[jobs["down"].delivery_id]
        assert letter.reason == "gave up after 3 attempts"
        assert (letter.final_error_category, letter.final_status_code) == ("http_5xx", 500)
        assert [a.attempt for a in letter.job.attempts] == [1, 2, 3]
        assert all(a.status_code == 500 and a.response_ms is not None for a in letter.job.attempts)
        assert letter.original_headers == {"integration-id": "int_1", "message-type": "delivery_job.v1"}
        assert kafka_headers == letter.original_headers
        last = bus.for_delivery(jobs["down"].delivery_id)[-1]
        assert last.response_body_excerpt == "down for maintenance"

        # Not retryable: one request each, straight to the DLQ.
        for name, path, category in (("moved", "/moved", "redirect"), ("gone", "/gone", "http_4xx")):
            assert len(rec.on(path)) == 1
            assert outcomes(name) == ["dead_lettered"]
            assert dead[jobs[name].delivery_id][0].final_error_category == category
        assert rec.on("/target") == []  # the redirect was not followed
        assert bus.for_delivery(jobs["gone"].delivery_id)[0].gone is True

        # The rebinding host first resolved to loopback (allowed in tests) and was delivered...
        assert outcomes("rebind") == ["succeeded"]
        assert rec.on("/rebind")[0].headers["host"] == f"rebind.test:{rec.port}"
        # ...then it resolves to a private address: blocked at send time, no request, no retry.
        names["rebind.test"] = "10.1.2.3"
        blocked = make_job(rebind)
        await bus.job(blocked)
        await wait_for(lambda: bool(bus.for_delivery(blocked.delivery_id)), what="ssrf result")
        (res,) = bus.for_delivery(blocked.delivery_id)
        assert (res.outcome, res.error_category) == ("dead_lettered", "ssrf_blocked")
        assert "10.1.2.3" not in (res.error_message or "")  # no resolved address reaches the results
        assert len(rec.on("/rebind")) == 1
