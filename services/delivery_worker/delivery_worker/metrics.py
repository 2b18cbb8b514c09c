"""Prometheus metrics of the worker (one registry per app, so tests can run several workers)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from service_kit.service_metrics import ServiceMetrics

M = TypeVar("M", Counter, Gauge, Histogram)

SERVICE = "delivery_worker"
_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_E2E_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0, 600.0, 3600.0, 86400.0)


class WorkerMetrics(ServiceMetrics):
    """Every metric the worker exports."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        super().__init__(SERVICE, "delivery-worker", registry)
        r = self.registry
        self.attempts = Counter(
            "carehooks_delivery_attempts_total",
            "Delivery attempts (and cancels/deferrals) by outcome.",
            ["integration", "outcome", "error_category"],
            registry=r,
        )
        self.duration = Histogram(
            "carehooks_delivery_duration_seconds",
            "Duration of one POST to a receiver.",
            ["integration"],
            buckets=_DURATION_BUCKETS,
            registry=r,
        )
        self.event_to_delivery = Histogram(
            "carehooks_event_to_delivery_seconds",
            "From the source event's publication to its successful delivery.",
            buckets=_E2E_BUCKETS,
            registry=r,
        )
        self.retries = Counter(
            "carehooks_retries_scheduled_total", "Jobs put on a retry tier topic.", ["tier"], registry=r
        )
        self.dead_lettered = Counter(
            "carehooks_dead_lettered_total", "Jobs sent to the DLQ.", ["integration", "reason"], registry=r
        )
        # in_flight and pending are read at scrape time (set_function), not updated per job.
        self.in_flight = Gauge("carehooks_delivery_requests_in_flight", "POSTs in flight.", registry=r)
        self.pending = Gauge(
            "carehooks_delivery_jobs_pending", "Jobs fetched and not yet finished.", registry=r
        )
        self.circuit_open = Gauge(
            "carehooks_circuits_open", "Webhooks whose circuit is open or half-open.", registry=r
        )
        self.parked = Counter(
            "carehooks_backlog_parked_total",
            "Jobs parked on the retry path because their webhook's queue was full.",
            registry=r,
        )
        self.invalid_jobs = Counter(
            "carehooks_invalid_jobs_total", "Records that were not a valid delivery job.", registry=r
        )
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        self._of_integration: dict[str, IntegrationMetrics] = {}
        self._by_integration = {id(m) for m in (self.attempts, self.duration, self.dead_lettered)}

    def child(self, metric: M, *labels: str) -> M:
        """``metric.labels(*labels)``, memoised: the worker asks for the same few children per delivery.

        A job's integration id (first label of the ``integration`` metrics) becomes its label value
        here, ``other`` unless configured, so the call sites pass the id as it came.
        """
        if id(metric) in self._by_integration:
            labels = (self.integration(labels[0]), *labels[1:])
        key = (id(metric), labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found

    def of_integration(self, integration_id: str) -> IntegrationMetrics:
        """The children every delivery of ``integration_id`` updates, memoised per label value (one
        lookup per delivery instead of two child lookups; the values are bounded: configured ids and
        ``other``)."""
        label = self.integration(integration_id)
        found = self._of_integration.get(label)
        if found is None:
            found = self._of_integration[label] = IntegrationMetrics(
                succeeded=self.attempts.labels(label, "succeeded", "none"),
                duration=self.duration.labels(label),
            )
        return found


@dataclass(frozen=True)
class IntegrationMetrics:
    """One integration's children of the per-delivery metrics."""

    succeeded: Counter
    duration: Histogram
