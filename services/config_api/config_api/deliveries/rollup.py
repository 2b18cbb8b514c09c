"""Turning a batch of delivery results into rollup increments (pure, table-tested).

Each result adds to two buckets of its webhook: the minute bucket (for the 1h window) and the
hour bucket (for 24h and 7d). ``attempts`` counts requests actually made: results the circuit
breaker short-circuited and cancels are not attempts (cancels have their own counter).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from config_api.deliveries.latency import bin_index, empty_histogram
from contracts.deliveries import DeliveryResultV1

MINUTE_S = 60
HOUR_S = 3600
BUCKET_SIZES_S: tuple[int, ...] = (MINUTE_S, HOUR_S)


def bucket_start(moment: datetime, bucket_s: int) -> datetime:
    """Start of the bucket of ``bucket_s`` seconds that holds ``moment`` (UTC, epoch-aligned)."""
    epoch = int(moment.timestamp())
    return datetime.fromtimestamp(epoch - epoch % bucket_s, UTC)


@dataclass
class StatsDelta:
    """Increments for one (webhook, bucket)."""

    integration_id: str
    attempts: int = 0
    succeeded: int = 0
    failed: int = 0
    retrying: int = 0
    dead_lettered: int = 0
    cancelled: int = 0
    latency_hist: list[int] = field(default_factory=empty_histogram)

    def add(self, result: DeliveryResultV1) -> None:
        """Count one result."""
        if result.outcome == "cancelled":
            self.cancelled += 1
            return
        if result.outcome == "dead_lettered":
            self.dead_lettered += 1
        if result.error_category == "circuit_open":
            return  # no request was made
        self.attempts += 1
        if result.outcome == "succeeded":
            self.succeeded += 1
        else:
            self.failed += 1
            if result.outcome == "retrying":
                self.retrying += 1
        if result.response_ms is not None:
            self.latency_hist[bin_index(result.response_ms)] += 1


StatsKey = tuple[str, int, datetime]
"""(webhook_id, bucket_s, bucket_start)"""


def rollup(results: Iterable[DeliveryResultV1]) -> dict[StatsKey, StatsDelta]:
    """Increments per (webhook, bucket size, bucket start) for a batch of new results."""
    out: dict[StatsKey, StatsDelta] = {}
    for result in results:
        for size in BUCKET_SIZES_S:
            key = (result.webhook_id, size, bucket_start(result.attempted_at, size))
            delta = out.get(key)
            if delta is None:
                delta = out[key] = StatsDelta(integration_id=result.integration_id)
            delta.add(result)
    return out
