"""The SSRF address policy as an explicit table (issue 15 items 5 and 6): the verdicts must not
depend on the Python release's ``ipaddress`` flags, and no message names a resolved address."""

from __future__ import annotations

import ipaddress

import pytest

from service_kit.settings import DEFAULT_WEBHOOK_PORTS, parse_ports
from webhook_core.ssrf import (
    METADATA_ADDRESSES,
    SsrfError,
    SsrfPolicy,
    blocked_reason,
    check_addresses,
    port_blocked_reason,
    redact_addresses,
    resolve_checked,
)

OPEN = SsrfPolicy()

BLOCKED = [
    # IPv4 special-purpose registry
    ("0.1.2.3", "'this network'"),
    ("10.0.0.5", "private"),
    ("100.64.0.1", "carrier-grade NAT"),
    ("127.0.0.1", "loopback"),
    ("169.254.1.1", "link-local"),
    ("172.31.255.255", "private"),
    ("192.0.0.9", "IETF protocol assignment"),  # PCP anycast: is_global in some Python releases
    ("192.0.0.10", "IETF protocol assignment"),
    ("192.0.0.170", "IETF protocol assignment"),
    ("192.0.2.1", "documentation"),
    ("192.31.196.1", "AS112"),
    ("192.52.193.1", "AMT"),
    ("192.88.99.1", "6to4 relay anycast"),
    ("192.168.1.1", "private"),
    ("192.175.48.1", "AS112"),
    ("198.18.0.1", "benchmarking"),
    ("198.51.100.1", "documentation"),
    ("203.0.113.1", "documentation"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "broadcast"),
    # metadata addresses, including public ones
    ("169.254.169.254", "cloud metadata"),
    ("168.63.129.16", "cloud metadata"),  # Azure WireServer
    ("192.0.0.192", "cloud metadata"),  # Oracle
    ("100.100.100.200", "cloud metadata"),  # Alibaba
    ("fd00:ec2::254", "cloud metadata"),
    ("fd20:ce::254", "cloud metadata"),
    # IPv6 special-purpose registry
    ("::1", "loopback"),
    ("::", "unspecified"),
    ("::10.0.0.1", "IPv4-compatible (deprecated)"),
    ("::8.8.8.8", "IPv4-compatible (deprecated)"),
    ("100::1", "discard-only"),
    ("2001:db8::1", "documentation"),
    ("2001:2::1", "IETF protocol assignment"),
    ("2001:10::1", "IETF protocol assignment"),
    ("2620:4f:8000::1", "AS112"),
    ("3fff::1", "documentation"),
    ("5f00::1", "SRv6 SID"),
    ("fc00::1", "unique-local"),
    ("fd12:3456::1", "unique-local"),
    ("fe80::1", "link-local"),
    ("fec0::1", "site-local (deprecated)"),  # passes is_private/is_global checks in some releases
    ("ff02::1", "multicast"),
    ("4000::1", "reserved"),  # outside 2000::/3
    ("1::1", "reserved"),
    # embeddings of private or special IPv4
    ("::ffff:10.0.0.1", "IPv4-mapped private"),
    ("::ffff:169.254.169.254", "IPv4-mapped cloud metadata"),
    ("::ffff:192.0.0.192", "IPv4-mapped cloud metadata"),
    ("::ffff:127.0.0.1", "IPv4-mapped loopback"),
    ("64:ff9b::a00:1", "NAT64 private"),
    ("64:ff9b::a9fe:a9fe", "NAT64 cloud metadata"),
    ("64:ff9b:1::c0a8:101", "NAT64 private"),
    ("2002:a00:1::1", "6to4 private"),
    ("2002:7f00:1::", "6to4 loopback"),
    ("2002:a83f:8110::1", "6to4 cloud metadata"),  # 168.63.129.16
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
]

ALLOWED = [
    "93.184.216.34",
    "8.8.8.8",
    "1.1.1.1",
    "168.63.129.17",
    "192.0.1.1",
    "2606:2800:220:1:248:1893:25c8:1946",
    "2a00:1450:4001:80b::200e",
    "::ffff:93.184.216.34",
    "64:ff9b::808:808",  # NAT64 of 8.8.8.8
    "2002:808:808::1",  # 6to4 of 8.8.8.8
]


@pytest.mark.parametrize(("address", "reason"), BLOCKED)
def test_blocked_addresses(address: str, reason: str) -> None:
    assert blocked_reason(ipaddress.ip_address(address), OPEN) == reason


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_pass(address: str) -> None:
    assert blocked_reason(ipaddress.ip_address(address), OPEN) is None


def test_allowed_networks_open_a_range_but_never_metadata() -> None:
    policy = SsrfPolicy(
        allowed_networks=(ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("169.254.0.0/16"))
    )
    assert blocked_reason(ipaddress.ip_address("10.1.2.3"), policy) is None
    assert blocked_reason(ipaddress.ip_address("::ffff:10.1.2.3"), policy) is None
    assert blocked_reason(ipaddress.ip_address("169.254.1.1"), policy) is None
    for metadata in METADATA_ADDRESSES:
        assert blocked_reason(metadata, policy) == "cloud metadata"


def test_the_table_does_not_follow_ipaddress_flags() -> None:
    # Whatever this Python release says about these, the verdict is fixed.
    for address in ("fec0::1", "192.0.0.192", "192.0.0.9", "168.63.129.16"):
        assert blocked_reason(ipaddress.ip_address(address), OPEN) is not None


def test_messages_never_name_a_resolved_address() -> None:
    with pytest.raises(SsrfError) as caught:
        check_addresses("internal.example.com", ["93.184.216.34", "10.0.0.5"], OPEN)
    assert "10.0.0.5" not in str(caught.value) and "internal.example.com" in str(caught.value)
    with pytest.raises(SsrfError, match="private"):
        check_addresses("10.0.0.5", ["10.0.0.5"], OPEN)  # a literal the caller wrote: the kind is named
    text = "Cannot connect to host 10.0.0.5:443 ssl:default [Connect call failed ('10.0.0.5', 443)]"
    assert redact_addresses(text, ["10.0.0.5"], "h.example") == (
        "Cannot connect to host h.example:443 ssl:default [Connect call failed ('h.example', 443)]"
    )


@pytest.mark.parametrize(
    ("raw", "ports"),
    [
        ("443", {443}),
        ("443, 8443", {443, 8443}),
        ("8000-8002,443", {8000, 8001, 8002, 443}),
        ("*", None),
        (None, None),
    ],
)
def test_parse_ports(raw: str | None, ports: set[int] | None) -> None:
    assert parse_ports(raw) == (None if ports is None else frozenset(ports))


@pytest.mark.parametrize("raw", ["0", "65536", "x", "10-5", "443-", ",", "-1"])
def test_parse_ports_rejects(raw: str) -> None:
    with pytest.raises(ValueError):
        parse_ports(raw)


async def test_ports_are_checked_before_any_lookup() -> None:
    policy = SsrfPolicy(allowed_ports=DEFAULT_WEBHOOK_PORTS)
    assert port_blocked_reason(443, policy) is None and port_blocked_reason(8443, policy) is None
    assert port_blocked_reason(6379, OPEN) is None
    asked: list[str] = []

    async def resolver(host: str, port: int) -> list[str]:
        asked.append(host)
        return ["93.184.216.34"]

    with pytest.raises(SsrfError, match="port 6379 is not allowed"):
        await resolve_checked("cache.example.com", 6379, policy, resolver)
    assert asked == []
    assert await resolve_checked("ok.example.com", 8443, policy, resolver) == ["93.184.216.34"]


async def test_send_time_port_check_sends_nothing() -> None:
    import ipaddress as ip

    import aiohttp
    from aiohttp import web

    from webhook_core.sending import send_webhook

    hits: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/h", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    loopback = (ip.ip_network("127.0.0.0/8"),)
    try:
        async with aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{port}/h"
            closed = SsrfPolicy(allowed_networks=loopback, allowed_ports=frozenset({443, 8443}))
            blocked = await send_webhook(session, url, b"{}", {}, 5, closed, True)
            assert (blocked.error_category, hits) == ("ssrf_blocked", [])
            assert f"port {port} is not allowed" in (blocked.error or "")
            opened = SsrfPolicy(allowed_networks=loopback, allowed_ports=frozenset({port}))
            assert (await send_webhook(session, url, b"{}", {}, 5, opened, True)).success
            assert hits == ["/h"]
    finally:
        await runner.cleanup()
