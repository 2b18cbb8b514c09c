"""Which offsets may be committed: the contiguous finished prefix of each partition (pure).

Jobs of a partition finish out of order (a slow endpoint next to a fast one); committing past
an unfinished job would lose it on a crash, so the commit point is the lowest unfinished offset.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class OffsetTracker(Generic[K]):
    """Tracks started and finished offsets per partition key."""

    def __init__(self) -> None:
        self._started: dict[K, deque[int]] = {}
        self._finished: dict[K, set[int]] = {}
        self._next: dict[K, int] = {}
        self._committed: dict[K, int] = {}
        self._high: dict[K, int] = {}

    def start(self, key: K, offset: int) -> bool:
        """Record that ``offset`` is being processed; False when it was already started (a re-fetch)."""
        if offset < self._high.get(key, -1) + 1:
            return False
        self._high[key] = offset
        self._started.setdefault(key, deque()).append(offset)
        self._finished.setdefault(key, set())
        return True

    def finish(self, key: K, offset: int) -> None:
        """Record that ``offset`` is done; advances the commit point over the finished prefix."""
        finished = self._finished.get(key)
        queue = self._started.get(key)
        if finished is None or queue is None or not queue or offset < queue[0]:
            return  # the partition was revoked (and maybe re-assigned) meanwhile
        finished.add(offset)
        while queue and queue[0] in finished:
            done = queue.popleft()
            finished.discard(done)
            self._next[key] = done + 1

    def pending(self, key: K) -> int:
        """Number of started, unfinished offsets of ``key``."""
        return len(self._started.get(key, ())) - len(self._finished.get(key, ()))

    def position(self, key: K) -> int | None:
        """The commit point of ``key`` (next offset after the finished prefix), if any job finished."""
        return self._next.get(key)

    def to_commit(self) -> dict[K, int]:
        """Commit points that moved since the last :meth:`mark_committed`."""
        return {k: v for k, v in self._next.items() if self._committed.get(k) != v}

    def mark_committed(self, offsets: dict[K, int]) -> None:
        """Remember what was committed."""
        self._committed.update(offsets)

    def forget(self, key: K) -> None:
        """Drop a revoked partition."""
        for table in (self._started, self._finished, self._next, self._committed, self._high):
            table.pop(key, None)
