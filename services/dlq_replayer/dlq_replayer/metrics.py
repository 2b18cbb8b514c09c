"""Prometheus metrics of the replayer (registered once per process on the default registry)."""

from __future__ import annotations

from prometheus_client import Counter

REPLAY_ITEMS = Counter(
    "dlq_replayer_items_total", "DLQ records handled by replays, by outcome (sent or failed).", ["outcome"]
)
REPLAYS_STARTED = Counter("dlq_replayer_replays_started_total", "Replays started or resumed.", ["kind"])
