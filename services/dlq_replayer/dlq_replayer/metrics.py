"""Prometheus metrics of the replayer, on the service's own registry (served by ``GET /metrics``)."""

from __future__ import annotations

from prometheus_client import Counter

from service_kit.http_metrics import HttpMetrics
from service_kit.service_metrics import ServiceMetrics

SERVICE = "dlq_replayer"

BASE = ServiceMetrics(SERVICE, "dlq-replayer")
"""Build info and readiness (the webhook view caught up)."""
REGISTRY = BASE.registry
HTTP = HttpMetrics(SERVICE, REGISTRY)

REPLAY_ITEMS = Counter(
    "carehooks_dlq_replay_items_total",
    "Dead letters handled by replays, by outcome (sent or failed).",
    ["outcome"],
    registry=REGISTRY,
)
REPLAYS_STARTED = Counter(
    "carehooks_dlq_replays_started_total", "Replays started or resumed, by kind.", ["kind"], registry=REGISTRY
)
