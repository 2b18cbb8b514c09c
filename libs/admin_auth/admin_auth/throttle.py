"""Throttling of failed authentication, per client (shared by the config API and the DLQ replayer).

After ``max_failures`` failed attempts from one client within ``window_s``, that client is refused
(429 with ``Retry-After``) for ``block_s``, whatever token it sends, so a token cannot be guessed at
line rate. Pure and clock-injected (``now``), so it is table-tested; each service holds one instance
per process. The client key is the peer address: behind a reverse proxy every client shares the
proxy's address, so the proxy should throttle too (see docs/security.md).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field

DEFAULT_MAX_FAILURES = 10
DEFAULT_WINDOW_S = 60.0
DEFAULT_BLOCK_S = 60.0


@dataclass
class _Client:
    failures: list[float] = field(default_factory=list)
    blocked_until: float = 0.0


class AuthThrottle:
    """Failed-authentication counts per client, bounded in memory (least recently seen dropped)."""

    def __init__(
        self,
        max_failures: int = DEFAULT_MAX_FAILURES,
        window_s: float = DEFAULT_WINDOW_S,
        block_s: float = DEFAULT_BLOCK_S,
        max_clients: int = 10_000,
    ) -> None:
        if max_failures < 1 or window_s <= 0 or block_s <= 0 or max_clients < 1:
            raise ValueError("max_failures, window_s, block_s and max_clients must be positive")
        self.max_failures = max_failures
        self.window_s = window_s
        self.block_s = block_s
        self.max_clients = max_clients
        self._clients: OrderedDict[str, _Client] = OrderedDict()

    def retry_after(self, client: str, now: float) -> int | None:
        """Whole seconds the client must wait before authenticating again, or None when it may try."""
        state = self._clients.get(client)
        if state is None or state.blocked_until <= now:
            return None
        return max(1, math.ceil(state.blocked_until - now))

    def failed(self, client: str, now: float) -> int | None:
        """Record a failure; returns the wait (as :meth:`retry_after`) once the client is blocked."""
        state = self._clients.pop(client, None) or _Client()
        self._clients[client] = state  # most recently seen last
        while len(self._clients) > self.max_clients:
            self._clients.popitem(last=False)
        state.failures = [t for t in state.failures if now - t < self.window_s]
        state.failures.append(now)
        if len(state.failures) >= self.max_failures:
            state.blocked_until = now + self.block_s
            state.failures.clear()
        return self.retry_after(client, now)

    def succeeded(self, client: str) -> None:
        """A valid token: forget the client's earlier failures."""
        self._clients.pop(client, None)
