"""Prometheus metrics of the config API, on the API's own registry (served by ``GET /metrics``)."""

from __future__ import annotations

import asyncpg
from prometheus_client import Counter, Gauge

from service_kit.http_metrics import HttpMetrics
from service_kit.service_metrics import ServiceMetrics

SERVICE = "config_api"

BASE = ServiceMetrics(SERVICE, "config-api")
"""Build info, readiness (measured at each scrape and /readyz) and the results consumer's lag."""
REGISTRY = BASE.registry
HTTP = HttpMetrics(SERVICE, REGISTRY)

RESULTS_CONSUMED = Counter(
    "carehooks_delivery_results_ingested_total",
    "Delivery results consumed by the config API, by outcome (stored, duplicate, invalid).",
    ["outcome"],
    registry=REGISTRY,
)
for _outcome in ("stored", "duplicate", "invalid"):
    RESULTS_CONSUMED.labels(_outcome)  # at 0 from the start: a stalled ingest shows as no increase
OUTBOX_PUBLISHED = Counter(
    "carehooks_config_outbox_published_total",
    "Outbox records published to webhooks.config.",
    registry=REGISTRY,
)
OUTBOX_PUBLISH_FAILURES = Counter(
    "carehooks_config_outbox_publish_failures_total",
    "Failed attempts to publish the config outbox.",
    registry=REGISTRY,
)
OUTBOX_PENDING = Gauge(
    "carehooks_config_outbox_pending",
    "Outbox records not yet published (as last seen by the relay).",
    registry=REGISTRY,
)
WEBHOOKS_AUTO_DEACTIVATED = Counter(
    "carehooks_webhooks_auto_deactivated_total",
    "Webhooks deactivated automatically by the delivery-health rules, by integration.",
    ["integration"],
    registry=REGISTRY,
)
WEBHOOKS_BY_STATE = Gauge(
    "carehooks_webhooks",
    "Configured webhooks by integration and health state (healthy, failing, inactive), read at scrape.",
    ["integration", "state"],
    registry=REGISTRY,
)

_WEBHOOK_STATES = """
SELECT w.integration_id,
       CASE WHEN NOT w.active THEN 'inactive'
            WHEN COALESCE(h.consecutive_failures, 0) > 0 THEN 'failing'
            ELSE 'healthy' END AS state,
       count(*) AS n
  FROM webhooks w LEFT JOIN webhook_delivery_health h ON h.webhook_id = w.id
 GROUP BY 1, 2
"""


async def refresh_webhook_states(pool: asyncpg.Pool) -> None:
    """Set ``carehooks_webhooks`` from PostgreSQL (integration ids come from the DB: bounded)."""
    rows = await pool.fetch(_WEBHOOK_STATES, timeout=2)
    WEBHOOKS_BY_STATE.clear()
    for row in rows:
        WEBHOOKS_BY_STATE.labels(row["integration_id"], row["state"]).set(row["n"])
        # At 0 before the first deactivation, so that alerting on increase() sees the first one.
        WEBHOOKS_AUTO_DEACTIVATED.labels(row["integration_id"])
