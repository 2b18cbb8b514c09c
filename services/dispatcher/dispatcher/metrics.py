"""Prometheus metrics of one dispatcher (own registry, so several instances can share a process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from service_kit.service_metrics import ServiceMetrics

SERVICE = "dispatcher"


class DispatcherMetrics(ServiceMetrics):
    """Every metric the dispatcher exports, registered on one registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        super().__init__(SERVICE, "dispatcher", registry)
        r = self.registry
        self.events_consumed = Counter(
            "carehooks_events_consumed_total",
            "Events consumed, by integration and outcome (matched, unmatched, invalid).",
            ["integration", "outcome"],
            registry=r,
        )
        self.jobs_emitted = Counter(
            "carehooks_delivery_jobs_emitted_total",
            "Delivery jobs published (acknowledged by the broker).",
            ["integration", "priority"],
            registry=r,
        )
        self.dispatch_duration = Histogram(
            "carehooks_dispatch_duration_seconds",
            "Time to turn one record into jobs (parse, match, build).",
            buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5),
            registry=r,
        )
        self.webhooks_indexed = Gauge(
            "carehooks_webhooks_indexed", "Active webhooks in the dispatcher's match index.", registry=r
        )
        self.filter_errors = Counter(
            "carehooks_filter_errors_total", "Webhook filters that could not be evaluated.", registry=r
        )
        self.filter_budget_exceeded = Counter(
            "carehooks_filter_budget_exceeded_total",
            "Webhooks skipped for one event because their filter ran out of its evaluation budget.",
            registry=r,
        )
        self.patient_index_entries = Gauge(
            "carehooks_patient_index_entries", "Keys in the dispatcher's patient index.", registry=r
        )
