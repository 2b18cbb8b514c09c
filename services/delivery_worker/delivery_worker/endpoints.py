"""Per-webhook lanes, guards and parking in one place: what the fetch loop and the delivery ask of an endpoint.

- lane width: how many jobs of one record key (a webhook id) may run at once;
- guards: the in-flight limiter, token bucket, circuit breaker and slot-time estimate of each webhook,
  shared by every partition the process owns (:class:`~delivery_worker.limits.WebhookGuards`);
- parking: whether a newly fetched job should go round the shortest retry tier rather than queue
  (the pure rule is :func:`delivery_worker.limits.should_park`);
- the ``circuit_open`` gauge (webhooks whose breaker is not closed).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from contracts.deliveries import CircuitState
from delivery_worker.limits import WebhookGuards, should_park
from delivery_worker.metrics import WorkerMetrics
from service_kit.config_view import WebhookView

UNKNOWN_LANE_LIMIT = 8
"""Lane width of a key that is not a known webhook: its jobs are cancels, deferrals or invalid records."""


class Endpoints:
    """Lanes, guards and parking of every webhook this process delivers to."""

    def __init__(
        self,
        view: WebhookView,
        metrics: WorkerMetrics,
        *,
        max_queued_per_webhook: int,
        park_after_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.view = view
        self.metrics = metrics
        self.max_queued_per_webhook = max_queued_per_webhook
        self.park_after_s = park_after_s
        self.clock = clock
        self.guards: dict[str, WebhookGuards] = {}
        self._not_closed: set[str] = set()

    def guards_of(self, webhook_id: str) -> WebhookGuards:
        """The webhook's guards (created on first use)."""
        guards = self.guards.get(webhook_id)
        if guards is None:
            guards = self.guards[webhook_id] = WebhookGuards()
        return guards

    def lane_limit(self, key: bytes | None) -> int:
        """How many jobs of one record key may run at once: the webhook's max_in_flight."""
        config = self.view.webhooks.get(key.decode("utf-8", errors="replace")) if key else None
        return max(1, config.max_in_flight) if config is not None else UNKNOWN_LANE_LIMIT

    def should_park(
        self,
        key: bytes | None,
        waiting: int,
        window_load: float,
        window_drain_s: Callable[[], float],
        loop_lag_s: float = 0.0,
    ) -> bool:
        """Whether a newly fetched job of this key should go round the shortest retry tier rather
        than queue behind ``waiting`` others; ``window_load`` is the share of the fetching consumer's
        window in use and ``window_drain_s()`` how long that window would take to drain at its recent
        rate of finished jobs (a callable, evaluated only for a lane long enough to matter: this runs
        for every fetched job); ``loop_lag_s`` is the event loop's recent lag (a CPU-bound worker
        does not park)."""
        if waiting < self.max_queued_per_webhook or key is None:
            return False
        webhook_id = key.decode("utf-8", errors="replace")
        config = self.view.webhooks.get(webhook_id)
        if config is None:
            return False  # its jobs make no request: they never hold the queue up for long
        return should_park(
            waiting=waiting,
            max_queued=self.max_queued_per_webhook,
            window_load=window_load,
            window_drain_s=window_drain_s(),
            max_in_flight=config.max_in_flight,
            slot_time_s=self.guards_of(webhook_id).slot_time.estimate(self.clock()),
            park_after_s=self.park_after_s,
            loop_lag_s=loop_lag_s,
        )

    def circuit_changed(self, webhook_id: str, state: CircuitState) -> None:
        """Keep the ``circuit_open`` gauge in step (O(1) per attempt, whatever the number of webhooks)."""
        before = len(self._not_closed)
        if state == "closed":
            self._not_closed.discard(webhook_id)
        else:
            self._not_closed.add(webhook_id)
        if len(self._not_closed) != before:
            self.metrics.circuit_open.set(len(self._not_closed))
