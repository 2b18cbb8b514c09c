"""The metrics every carehooks service exports, whatever it does.

Each service gets its own registry (tests run several services in one process) holding the
process, platform and GC collectors, ``carehooks_build_info``, a readiness gauge and the one
consumer-lag gauge all Kafka consumers share, so a dashboard or alert needs one name per concept.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Gauge,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
)

from service_kit.config_view import WebhookView
from service_kit.integration_label import OTHER, KnownIntegrations


def package_version(distribution: str) -> str:
    """The installed version of a service's distribution ("unknown" when not installed)."""
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "unknown"


def with_runtime_collectors(registry: CollectorRegistry) -> CollectorRegistry:
    """``registry`` plus the process, platform and GC collectors the default registry carries."""
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


class ServiceMetrics:
    """Build info, readiness and consumer lag of one service, on that service's registry.

    The Kafka services subclass it with their own metrics; ``integration()`` bounds their labels.
    """

    def __init__(self, service: str, distribution: str, registry: CollectorRegistry | None = None) -> None:
        if registry is REGISTRY:
            raise ValueError("give each service its own registry: the default one is shared by the process")
        self.service = service
        self.registry = with_runtime_collectors(registry or CollectorRegistry())
        r = self.registry
        self.build_info = Gauge(
            "carehooks_build_info",
            "Always 1; the labels name the running build.",
            ["version", "service"],
            registry=r,
        )
        self.build_info.labels(package_version(distribution), service).set(1)
        self.ready = Gauge(
            "carehooks_service_ready",
            "1 while the service's /readyz answers ready, else 0.",
            ["service"],
            registry=r,
        )
        self.ready.labels(service).set(0)
        self.consumer_lag = Gauge(
            "carehooks_kafka_consumer_lag",
            "Records between a consumer group's position and the partition end.",
            ["service", "group", "topic", "partition"],
            registry=r,
        )
        self._lag: dict[tuple[str, str, int], tuple[Gauge, int]] = {}
        self._integrations: KnownIntegrations | None = None

    def watch_integrations(self, view: WebhookView) -> None:
        """Label values of ``integration`` come from this view's configured integrations."""
        self._integrations = KnownIntegrations(view)

    def integration(self, integration_id: str) -> str:
        """The ``integration`` label value for an id taken from a record (``other`` unless configured)."""
        return OTHER if self._integrations is None else self._integrations.label(integration_id)

    def watch_ready(self, ready: Callable[[], bool]) -> None:
        """Read readiness from ``ready`` at every scrape."""
        self.ready.labels(self.service).set_function(lambda: 1.0 if ready() else 0.0)

    def set_ready(self, ready: bool) -> None:
        """Record readiness measured elsewhere (an asynchronous check)."""
        self.ready.labels(self.service).set(1.0 if ready else 0.0)

    def set_lag(self, group: str, topic: str, partition: int, lag: int) -> None:
        """Records ``group`` is behind on one partition (negative values are clamped to 0).

        Called per batch and per commit tick for every assigned partition: the labelled child is looked
        up once, and an unchanged value (an idle partition) is not set again.
        """
        value = max(lag, 0)
        key = (group, topic, partition)
        known = self._lag.get(key)
        if known is None:
            child = self.consumer_lag.labels(self.service, group, topic, str(partition))
        elif known[1] != value:
            child = known[0]
        else:
            return
        child.set(value)
        self._lag[key] = (child, value)
