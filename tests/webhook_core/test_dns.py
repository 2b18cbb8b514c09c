"""The asynchronous resolver against a fake DNS server on loopback UDP that black-holes one name."""

from __future__ import annotations

import asyncio
import time

import pytest
from fake_dns import fake_dns

from webhook_core.dns import AsyncResolver
from webhook_core.ssrf import DnsError


async def test_a_black_holed_name_does_not_slow_down_the_others() -> None:
    async with fake_dns({"good.test": "127.0.0.1", "other.test": "127.0.0.2"}, {"slow.test"}) as dns:
        resolver = AsyncResolver(nameservers=[dns.nameserver], timeout_s=3.0, negative_ttl_s=30.0)
        try:
            # Many callers wait on the dead name at once (what filled the thread pool before).
            slow = [asyncio.ensure_future(resolver("slow.test", 443)) for _ in range(64)]
            await asyncio.sleep(0.05)
            started = time.monotonic()
            for _ in range(20):
                assert await resolver("good.test", 443) == ["127.0.0.1"]
                assert await resolver("other.test", 443) == ["127.0.0.2"]
            assert time.monotonic() - started < 2.0  # 40 lookups, none waiting on the dead name
            outcomes = await asyncio.gather(*slow, return_exceptions=True)
            assert all(isinstance(o, DnsError) for o in outcomes)
            assert dns.queries.count("slow.test") <= 6  # one lookup (c-ares tries, A + AAAA) for 64 callers
            # The failure is remembered: no new query, an immediate answer.
            before = len(dns.queries)
            started = time.monotonic()
            with pytest.raises(DnsError, match=r"slow\.test"):
                await resolver("slow.test", 443)
            assert time.monotonic() - started < 0.5 and len(dns.queries) == before
        finally:
            await resolver.close()


async def test_concurrent_lookups_of_one_host_share_one_query_and_a_caller_may_give_up() -> None:
    async with fake_dns({"good.test": "127.0.0.1"}, {"slow.test"}) as dns:
        resolver = AsyncResolver(nameservers=[dns.nameserver], timeout_s=1.0, negative_ttl_s=0)
        try:
            answers = await asyncio.gather(*(resolver("good.test", 80) for _ in range(50)))
            assert all(a == ["127.0.0.1"] for a in answers)
            assert resolver.lookups == 1
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.1):  # a caller giving up early does not cancel the shared lookup
                    await resolver("slow.test", 80)
            with pytest.raises(DnsError):
                await resolver("slow.test", 80)
            assert resolver.lookups == 2  # the second caller joined the first caller's lookup
        finally:
            await resolver.close()


async def test_unknown_names_fail_with_a_dns_error() -> None:
    async with fake_dns({}) as dns:
        resolver = AsyncResolver(nameservers=[dns.nameserver], timeout_s=1.0)
        try:
            with pytest.raises(DnsError, match="does not resolve"):
                await resolver("nx.test", 80)
        finally:
            await resolver.close()


async def test_in_flight_lookups_are_bounded() -> None:
    async with fake_dns({}, {"a.test", "b.test"}) as dns:
        resolver = AsyncResolver(nameservers=[dns.nameserver], timeout_s=1.0, max_in_flight=1)
        try:
            first = asyncio.ensure_future(resolver("a.test", 80))
            await asyncio.sleep(0.01)
            with pytest.raises(DnsError, match="too many lookups"):
                await resolver("b.test", 80)
            with pytest.raises(DnsError):
                await first
        finally:
            await resolver.close()
