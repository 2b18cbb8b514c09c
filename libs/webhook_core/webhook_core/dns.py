"""An asynchronous DNS resolver (c-ares through aiodns) that one slow name cannot turn into an outage.

``loop.getaddrinfo`` runs in the default thread pool, and a cancelled wait does not free its thread:
a few black-holed names fill the pool and every other lookup queues behind them. This resolver
sends its queries from the event loop (no threads), and:

- de-duplicates lookups in flight: concurrent callers for one host share one query, so a host can
  never have more than one lookup running (a caller giving up does not cancel it for the others);
- bounds every lookup (``timeout_s``; c-ares' own timeout and tries are set below it);
- caches failures for ``negative_ttl_s``, so a dead name is not asked again per delivery;
- bounds the number of distinct hosts being looked up at once (``max_in_flight``): past that a lookup
  fails at once instead of growing without limit.

Successful answers are not cached here (the worker's :class:`~delivery_worker.dns_cache.CachingResolver`
does, with its own TTL); the SSRF check runs on every answer by the caller.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Sequence

import aiodns

from webhook_core.ssrf import DnsError


class AsyncResolver:
    """``await resolver(host, port)`` → addresses, or :class:`~webhook_core.ssrf.DnsError`."""

    def __init__(
        self,
        *,
        nameservers: Sequence[str] | None = None,
        timeout_s: float = 5.0,
        negative_ttl_s: float = 5.0,
        max_in_flight: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.nameservers = list(nameservers) if nameservers else None
        self.timeout_s = timeout_s
        self.negative_ttl_s = negative_ttl_s
        self.max_in_flight = max_in_flight
        self.clock = clock
        self.lookups = 0
        """Queries started (for tests and metrics: de-duplicated callers do not count)."""
        self._resolver: aiodns.DNSResolver | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._in_flight: dict[str, asyncio.Future[list[str]]] = {}
        self._failures: dict[str, tuple[float, str]] = {}

    async def __call__(self, host: str, port: int) -> list[str]:
        """The addresses of ``host`` (IPv6 and IPv4, in the resolver's order, without repeats)."""
        now = self.clock()
        failed = self._failures.get(host)
        if failed is not None:
            if failed[0] > now:
                raise DnsError(failed[1])
            del self._failures[host]
        shared = self._in_flight.get(host)
        if shared is None:
            if len(self._in_flight) >= self.max_in_flight:
                raise DnsError(f"host {host!r} not resolved: too many lookups in flight")
            shared = asyncio.ensure_future(self._lookup(host))
            self._in_flight[host] = shared
            shared.add_done_callback(lambda done: self._settled(host, done))
        # shield: a caller that gives up (its own timeout) leaves the query running for the others.
        return list(await asyncio.shield(shared))

    def _settled(self, host: str, done: asyncio.Future[list[str]]) -> None:
        self._in_flight.pop(host, None)
        if not done.cancelled():
            done.exception()  # retrieved here: every caller may have given up before it ended

    async def _lookup(self, host: str) -> list[str]:
        self.lookups += 1
        try:
            async with asyncio.timeout(self.timeout_s):
                answer = await self._channel().getaddrinfo(host, port=None, type=socket.SOCK_STREAM)
        except TimeoutError:
            raise self._failed(host, f"host {host!r} did not resolve within {self.timeout_s:g} s") from None
        except aiodns.error.DNSError as exc:
            detail = exc.args[1] if len(exc.args) > 1 else type(exc).__name__
            raise self._failed(host, f"host {host!r} does not resolve ({detail})") from None
        seen: list[str] = []
        for node in answer.nodes:
            raw = node.addr[0]
            address = raw.decode() if isinstance(raw, bytes) else str(raw)
            if address not in seen:
                seen.append(address)
        if not seen:
            raise self._failed(host, f"host {host!r} does not resolve")
        return seen

    def _failed(self, host: str, message: str) -> DnsError:
        if self.negative_ttl_s > 0:
            if len(self._failures) >= self.max_in_flight:
                now = self.clock()
                self._failures = {h: f for h, f in self._failures.items() if f[0] > now}
            self._failures[host] = (self.clock() + self.negative_ttl_s, message)
        return DnsError(message)

    def _channel(self) -> aiodns.DNSResolver:
        """The c-ares channel of the running loop (created on first use: it binds to a loop)."""
        loop = asyncio.get_running_loop()
        if self._resolver is None or self._loop is not loop:
            tries = 2
            options: dict[str, object] = {"timeout": max(0.1, self.timeout_s / (tries + 1)), "tries": tries}
            self._resolver = aiodns.DNSResolver(nameservers=self.nameservers, loop=loop, **options)
            self._loop = loop
        return self._resolver

    async def close(self) -> None:
        """Stop the c-ares channel (pending queries fail)."""
        if self._resolver is not None:
            resolver, self._resolver = self._resolver, None
            await resolver.close()
