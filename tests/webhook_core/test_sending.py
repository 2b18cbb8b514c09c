"""send_webhook against real aiohttp receivers on loopback (plain and TLS)."""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp
import pytest
import trustme
from aiohttp import web
from standardwebhooks.webhooks import Webhook

from contracts.webhooks import BasicAuth, BearerAuth, HeaderAuth, NoAuth
from webhook_core.secrets_crypto import generate_signing_secret
from webhook_core.sending import USER_AGENT, build_headers, mask_headers, send_webhook
from webhook_core.ssrf import SsrfPolicy

LOOPBACK = SsrfPolicy(allowed_networks=(ipaddress.ip_network("127.0.0.0/8"),))
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Receiver:
    """A loopback HTTP(S) server that records requests and answers with ``handler``."""

    port: int
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)


async def _start(
    handler: Handler, ssl_context: ssl.SSLContext | None = None
) -> tuple[web.AppRunner, Receiver]:
    receiver = Receiver(port=0)

    async def record(request: web.Request) -> web.StreamResponse:
        receiver.requests.append(({k.lower(): v for k, v in request.headers.items()}, await request.read()))
        return await handler(request)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    receiver.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, receiver


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def respond(status: int, body: str = "", headers: dict[str, str] | None = None) -> Handler:
    async def handler(_: web.Request) -> web.StreamResponse:
        return web.Response(status=status, text=body, headers=headers)

    return handler


async def fixed_resolver(host: str, port: int) -> list[str]:
    return ["127.0.0.1"]


async def test_signed_post_verified_by_standardwebhooks_with_rotation_and_auth(
    session: aiohttp.ClientSession,
) -> None:
    runner, receiver = await _start(respond(200, "ok"))
    try:
        new, old = generate_signing_secret(), generate_signing_secret()
        body = b'{"event":"response_completed","n":1}'
        headers = build_headers(
            "msg_1", int(time.time()), body, [new, old], BearerAuth(token="tok-123456789")
        )
        result = await send_webhook(
            session, f"http://127.0.0.1:{receiver.port}/hook?x=1", body, headers, 5, LOOPBACK, True
        )
        assert result.success and result.status_code == 200 and result.response_body == "ok"
        got_headers, got_body = receiver.requests[0]
        assert got_body == body
        assert got_headers["user-agent"] == USER_AGENT
        assert got_headers["content-type"] == "application/json"
        assert got_headers["authorization"] == "Bearer tok-123456789"
        assert len(got_headers["webhook-signature"].split(" ")) == 2
        for secret in (new, old):  # each secret alone verifies: receivers on either side of a rotation work
            assert Webhook(secret).verify(got_body, got_headers) == {"event": "response_completed", "n": 1}
        with pytest.raises(Exception, match="No matching signature"):
            Webhook(generate_signing_secret()).verify(got_body, got_headers)
    finally:
        await runner.cleanup()


def test_auth_headers_and_masking() -> None:
    basic = build_headers("m", 1, b"{}", [], BasicAuth(username="u", password="p"))
    assert basic["authorization"] == "Basic dTpw"
    assert "webhook-signature" not in basic
    custom = build_headers("m", 1, b"{}", [], HeaderAuth(name="X-Api-Key", value="supersecretvalue"))
    assert custom["x-api-key"] == "supersecretvalue"
    assert "authorization" not in build_headers("m", 1, b"{}", [], NoAuth())
    masked = mask_headers({**custom, "authorization": "Bearer abcdefghijkl", "webhook-signature": "v1,x"})
    assert masked["x-api-key"] == "****alue"
    assert masked["authorization"] == "Bearer ****ijkl"
    assert masked["webhook-signature"] == "v1,x"
    with pytest.raises(ValueError, match="reserved"):
        build_headers("m", 1, b"{}", [], HeaderAuth(name="Webhook-Signature", value="x"))


@pytest.mark.parametrize(
    ("handler", "status", "category", "retryable"),
    [
        (respond(500, "err"), 500, "http_5xx", True),
        (respond(429, headers={"Retry-After": "7"}), 429, "http_429", True),
        (respond(410), 410, "http_4xx", False),
        (respond(302, headers={"Location": "http://127.0.0.1:1/elsewhere"}), 302, "redirect", False),
    ],
)
async def test_status_outcomes(
    session: aiohttp.ClientSession, handler: Handler, status: int, category: str, retryable: bool
) -> None:
    runner, receiver = await _start(handler)
    try:
        result = await send_webhook(
            session, f"http://127.0.0.1:{receiver.port}/", b"{}", {}, 5, LOOPBACK, True
        )
        assert (result.status_code, result.error_category, result.classification.retryable) == (
            status,
            category,
            retryable,
        )
        assert len(receiver.requests) == 1  # a redirect is not followed
        if status == 429:
            assert result.retry_after == "7"
        if status == 410:
            assert result.classification.gone
    finally:
        await runner.cleanup()


async def test_only_first_kilobyte_of_body_kept(session: aiohttp.ClientSession) -> None:
    runner, receiver = await _start(respond(200, "é" * 5000))
    try:
        result = await send_webhook(
            session, f"http://127.0.0.1:{receiver.port}/", b"{}", {}, 5, LOOPBACK, True
        )
        assert len(result.response_body.encode()) <= 1024 + 3
        assert result.response_body.startswith("é" * 500)
    finally:
        await runner.cleanup()


async def test_timeout_covers_a_hanging_endpoint(session: aiohttp.ClientSession) -> None:
    release = asyncio.Event()

    async def hang(_: web.Request) -> web.StreamResponse:
        await release.wait()
        return web.Response()

    runner, receiver = await _start(hang)
    try:
        result = await send_webhook(
            session, f"http://127.0.0.1:{receiver.port}/", b"{}", {}, 0.3, LOOPBACK, True
        )
        assert result.error_category == "timeout" and result.classification.retryable
        assert 250 <= result.response_ms < 2000
    finally:
        release.set()
        await runner.cleanup()


async def test_connection_reset_and_refused(session: aiohttp.ClientSession) -> None:
    async def reset(request: web.Request) -> web.StreamResponse:
        assert request.transport is not None
        request.transport.abort()
        await asyncio.sleep(0.05)
        return web.Response()

    runner, receiver = await _start(reset)
    try:
        result = await send_webhook(
            session, f"http://127.0.0.1:{receiver.port}/", b"{}", {}, 5, LOOPBACK, True
        )
        assert result.error_category == "connection_error", result
        port = receiver.port
    finally:
        await runner.cleanup()
    refused = await send_webhook(session, f"http://127.0.0.1:{port}/", b"{}", {}, 5, LOOPBACK, True)
    assert refused.error_category == "connection_error" and refused.classification.retryable


async def test_ssrf_checked_at_send_time_and_only_checked_address_used(
    session: aiohttp.ClientSession,
) -> None:
    runner, receiver = await _start(respond(204))
    try:
        calls: list[str] = []

        async def rebinding(host: str, port: int) -> list[str]:
            calls.append(host)
            return ["10.0.0.7"]  # the host "now" resolves to a private address

        blocked = await send_webhook(
            session, f"http://hook.example:{receiver.port}/", b"{}", {}, 5, LOOPBACK, True, rebinding
        )
        assert blocked.error_category == "ssrf_blocked" and not blocked.classification.retryable
        assert "10.0.0.7" not in (blocked.error or "") and "hook.example" in (blocked.error or "")
        assert receiver.requests == []
        # A name that only our resolver knows reaches the receiver: the checked address is used directly.
        ok = await send_webhook(
            session, f"http://hook.example:{receiver.port}/p", b"{}", {}, 5, LOOPBACK, True, fixed_resolver
        )
        assert ok.status_code == 204
        assert receiver.requests[0][0]["host"] == f"hook.example:{receiver.port}"
    finally:
        await runner.cleanup()


async def test_cached_answers_are_checked_too_and_skip_the_lookup(session: aiohttp.ClientSession) -> None:
    runner, receiver = await _start(respond(204))

    class Peeking:
        """A resolver with a cache (like the worker's): a fresh answer is used without a lookup."""

        def __init__(self, answer: list[str]) -> None:
            self.answer = answer
            self.lookups = 0

        def peek(self, host: str, port: int) -> list[str] | None:
            return self.answer

        async def __call__(self, host: str, port: int) -> list[str]:
            self.lookups += 1
            return self.answer

    try:
        private = Peeking(["10.0.0.9"])
        blocked = await send_webhook(
            session, f"http://hook.example:{receiver.port}/", b"{}", {}, 5, LOOPBACK, True, private
        )
        assert blocked.error_category == "ssrf_blocked" and "10.0.0.9" not in (blocked.error or "")
        assert receiver.requests == [] and private.lookups == 0
        loopback = Peeking(["127.0.0.1"])
        ok = await send_webhook(
            session, f"http://hook.example:{receiver.port}/", b"{}", {}, 5, LOOPBACK, True, loopback
        )
        assert ok.status_code == 204 and loopback.lookups == 0
        # An IP literal needs no resolver at all, and is checked all the same.
        literal = await send_webhook(session, "http://10.1.2.3:9/", b"{}", {}, 5, LOOPBACK, True, loopback)
        assert literal.error_category == "ssrf_blocked" and loopback.lookups == 0
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(
    ("url", "allow_http", "category"),
    [
        ("ftp://example.com/x", True, "invalid_config"),
        ("http://127.0.0.1:9/x", False, "invalid_config"),
        ("https://169.254.169.254/latest", False, "ssrf_blocked"),
        ("https://no-such-host.invalid/", False, "dns_error"),
    ],
)
async def test_rejected_destinations(
    session: aiohttp.ClientSession, url: str, allow_http: bool, category: str
) -> None:
    result = await send_webhook(session, url, b"{}", {}, 5, LOOPBACK, allow_http)
    assert result.error_category == category and result.status_code is None


async def test_tls_verified_against_hostname() -> None:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_ctx)
    runner, receiver = await _start(respond(200, "tls ok"), server_ctx)
    url = f"https://localhost:{receiver.port}/"
    try:
        async with aiohttp.ClientSession() as untrusting:
            result = await send_webhook(untrusting, url, b"{}", {}, 5, LOOPBACK, False, fixed_resolver)
            assert result.error_category == "tls_error", result
        client_ctx = ssl.create_default_context()
        ca.configure_trust(client_ctx)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client_ctx)) as trusting:
            ok = await send_webhook(trusting, url, b"{}", {}, 5, LOOPBACK, False, fixed_resolver)
            assert ok.status_code == 200 and ok.response_body == "tls ok"

            async def other_name(host: str, port: int) -> list[str]:
                return ["127.0.0.1"]

            wrong = await send_webhook(
                trusting, f"https://wrong.example:{receiver.port}/", b"{}", {}, 5, LOOPBACK, False, other_name
            )
            assert wrong.error_category == "tls_error"  # the certificate is for localhost only
    finally:
        await runner.cleanup()


def test_a_policy_built_from_a_list_is_hashable_and_memoised_verdicts_match() -> None:
    from webhook_core.ssrf import SsrfError, check_addresses, check_addresses_cached

    policy = SsrfPolicy(allowed_networks=[ipaddress.ip_network("10.1.0.0/16")])
    same = SsrfPolicy(allowed_networks=(ipaddress.ip_network("10.1.0.0/16"),))
    assert hash(policy) == hash(same) and policy == same
    other = SsrfPolicy(allowed_networks=[ipaddress.ip_network("10.1.0.0/16")], allowed_ports={443})
    assert other != policy and {policy: 1}.get(other) is None
    for _ in range(2):  # the second answer comes from the memo
        assert check_addresses_cached("h", ["10.1.2.3"], policy) == check_addresses("h", ["10.1.2.3"], policy)
        with pytest.raises(SsrfError, match="resolves to an address webhooks may not target"):
            check_addresses_cached("h", ["10.2.0.1"], policy)


def test_a_target_pins_its_url_to_each_checked_address_and_keeps_few() -> None:
    from webhook_core.sending import _MAX_PINNED, _target

    target = _target("HTTPS://Example.org:8443/hook?x=1", False)
    assert not isinstance(target, str)
    assert (target.host_header, target.server_hostname, target.literal) == (
        "example.org:8443",
        "example.org",
        None,
    )
    assert str(target.pinned_url("2001:db8::1")) == "https://[2001:db8::1]:8443/hook?x=1"
    assert target.pinned_url("2001:db8::1") is target.pinned_url("2001:db8::1")
    for n in range(3 * _MAX_PINNED):  # DNS answers rotating through many addresses
        assert str(target.pinned_url(f"192.0.2.{n}")) == f"https://192.0.2.{n}:8443/hook?x=1"
    assert len(target.pinned) <= _MAX_PINNED
    literal = _target("http://[::1]:80/", True)
    assert not isinstance(literal, str) and (literal.literal, literal.host_header) == ("::1", "[::1]")
    assert _target("ftp://example.org/", False) == "subscription_url scheme 'ftp' is not allowed; use https"
