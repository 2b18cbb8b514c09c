"""A short-lived cache in front of the resolver, so each delivery does not cost a getaddrinfo.

Safe against DNS rebinding: the cached addresses are still SSRF-checked on every send and the
request connects to exactly those addresses, so check and connect always see the same answer.
The cost is that a changed DNS record is picked up after at most the TTL (aiohttp's own default
DNS cache is 10 s too). Failures are cached briefly by the inner resolver
(:class:`webhook_core.dns.AsyncResolver`), which also shares one lookup among concurrent callers.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from webhook_core.ssrf import Resolver


class CachingResolver:
    """Wraps a resolver; answers for ``ttl_s`` are reused (bounded to ``max_entries`` hosts)."""

    def __init__(
        self,
        inner: Resolver,
        ttl_s: float,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.inner = inner
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.clock = clock
        self._entries: dict[tuple[str, int], tuple[float, list[str]]] = {}

    def peek(self, host: str, port: int) -> list[str] | None:
        """The fresh cached addresses of ``host``, or None (no lookup: lets the sender skip its timeout)."""
        if self.ttl_s <= 0:
            return None
        hit = self._entries.get((host, port))
        if hit is not None and hit[0] > self.clock():
            return list(hit[1])
        return None

    async def __call__(self, host: str, port: int) -> list[str]:
        """Addresses of ``host`` (cached, or from the inner resolver)."""
        if self.ttl_s <= 0:
            return await self.inner(host, port)
        hit = self.peek(host, port)
        if hit is not None:
            return hit
        addresses = await self.inner(host, port)
        now = self.clock()
        if len(self._entries) >= self.max_entries:
            self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
            if len(self._entries) >= self.max_entries:
                self._entries.clear()  # all fresh and full: start over rather than grow without bound
        self._entries[(host, port)] = (now + self.ttl_s, list(addresses))
        return addresses
