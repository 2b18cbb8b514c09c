"""Prometheus metrics of one dispatcher (own registry, so several instances can share a process)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass
class DispatcherMetrics:
    """The metrics the issue names, registered on one registry."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.events_consumed = Counter(
            "events_consumed_total", "Events consumed", ["integration", "outcome"], registry=r
        )
        self.jobs_emitted = Counter(
            "delivery_jobs_emitted_total", "Delivery jobs published", ["integration", "priority"], registry=r
        )
        self.dispatch_duration = Histogram(
            "dispatch_duration_seconds",
            "Time to turn one record into jobs (parse, match, build)",
            buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5),
            registry=r,
        )
        self.webhooks_indexed = Gauge("webhooks_indexed", "Active webhooks in the match index", registry=r)
        self.filter_errors = Counter("filter_errors_total", "Filters that could not be evaluated", registry=r)
        self.filter_budget_exceeded = Counter(
            "filter_budget_exceeded_total",
            "Webhooks skipped for one event because their filter ran out of its evaluation budget",
            registry=r,
        )
        self.consumer_lag = Gauge(
            "dispatcher_consumer_lag",
            "Records behind the end of each input partition",
            ["topic", "partition"],
            registry=r,
        )
        self.patient_index_entries = Gauge("patient_index_entries", "Keys in the patient index", registry=r)
