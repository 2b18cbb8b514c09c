"""Which active webhooks an event goes to, with an index so non-matching webhooks cost nothing.

Webhooks are indexed by (integration id, event-type pattern) where the pattern is exact,
``Resource.*`` or ``*``; inside a bucket, webhooks with ``object_ids`` are further indexed by each id.
An event therefore looks at most ``2 + dots(event_type)`` buckets and, in each, only the webhooks
without object ids plus those naming one of its ids. Inactive webhooks are not indexed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from contracts.webhooks import WebhookConfigV1
from dispatcher.events import NormalisedEvent
from service_kit.config_view import ConfigChange
from webhook_core.criteria import compile_criteria
from webhook_core.filters import (
    DEFAULT_BUDGET_STEPS,
    CompiledFilter,
    FilterError,
    FilterEvaluationError,
    compile_filter,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Subscription:
    """A webhook prepared for matching (filters compiled once)."""

    webhook: WebhookConfigV1
    object_types: frozenset[str] | None
    object_ids: frozenset[str] | None
    predicates: tuple[CompiledFilter, ...]

    def accepts(self, event: NormalisedEvent, budget_steps: int = DEFAULT_BUDGET_STEPS) -> bool:
        """Object types, object ids and filters (the bucket already checked integration and type).

        Each filter gets ``budget_steps`` (raises FilterBudgetExceededError when it runs out).
        """
        if self.object_types is not None and self.object_types.isdisjoint(event.object_types):
            return False
        if self.object_ids is not None and self.object_ids.isdisjoint(event.object_ids):
            return False
        if self.predicates:
            view = event.filter_view()
            return all(p.matches(view, budget_steps) for p in self.predicates)
        return True


def prepare(webhook: WebhookConfigV1) -> Subscription:
    """Compile a webhook's filter and criteria (raises FilterError when either is invalid)."""
    predicates: list[CompiledFilter] = []
    if webhook.filter:
        predicates.append(compile_filter(webhook.filter))
    if webhook.criteria:
        predicates.append(compile_filter(compile_criteria(webhook.criteria)))
    return Subscription(
        webhook=webhook,
        object_types=frozenset(webhook.object_types) if webhook.object_types else None,
        object_ids=frozenset(webhook.object_ids) if webhook.object_ids else None,
        predicates=tuple(predicates),
    )


@dataclass
class _Bucket:
    any_object: dict[str, Subscription] = field(default_factory=dict)
    by_object_id: dict[str, dict[str, Subscription]] = field(default_factory=dict)

    def empty(self) -> bool:
        return not self.any_object and not self.by_object_id


def type_patterns(event_type: str) -> list[str]:
    """Every subscription pattern that can match an event type: exact, each ``prefix.*``, ``*``."""
    patterns = [event_type, "*"]
    position = event_type.find(".")
    while position != -1:
        patterns.append(event_type[:position] + ".*")
        position = event_type.find(".", position + 1)
    return patterns


class WebhookIndex:
    """Active webhooks by (integration, event-type pattern[, object id]); kept in step with the view."""

    def __init__(self) -> None:
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._where: dict[str, tuple[Subscription, list[tuple[str, str]]]] = {}
        self.rejected: dict[str, str] = {}
        """Webhook id -> why it is not indexed (an invalid filter that slipped past the config API)."""

    def __len__(self) -> int:
        return len(self._where)

    def on_change(self, change: ConfigChange) -> None:
        """WebhookView listener."""
        current = change.current
        if isinstance(current, WebhookConfigV1):
            self.upsert(current)
        elif change.current is None and isinstance(change.previous, WebhookConfigV1):
            self.remove(change.previous.id)

    def upsert(self, webhook: WebhookConfigV1) -> None:
        """Index (or re-index) a webhook; an inactive one is removed."""
        self.remove(webhook.id)
        if not webhook.active:
            return
        try:
            sub = prepare(webhook)
        except FilterError as exc:
            self.rejected[webhook.id] = str(exc)
            logger.warning(
                "webhook not indexed: invalid filter", extra={"webhook_id": webhook.id, "error": str(exc)}
            )
            return
        keys = [(webhook.integration_id, pattern) for pattern in dict.fromkeys(webhook.event_types)]
        for key in keys:
            bucket = self._buckets.setdefault(key, _Bucket())
            if sub.object_ids is None:
                bucket.any_object[webhook.id] = sub
            else:
                for object_id in sub.object_ids:
                    bucket.by_object_id.setdefault(object_id, {})[webhook.id] = sub
        self._where[webhook.id] = (sub, keys)

    def remove(self, webhook_id: str) -> None:
        """Drop a webhook from the index (no-op when absent)."""
        self.rejected.pop(webhook_id, None)
        entry = self._where.pop(webhook_id, None)
        if entry is None:
            return
        sub, keys = entry
        for key in keys:
            bucket = self._buckets.get(key)
            if bucket is None:
                continue
            bucket.any_object.pop(webhook_id, None)
            for object_id in sub.object_ids or ():
                subs = bucket.by_object_id.get(object_id)
                if subs is not None:
                    subs.pop(webhook_id, None)
                    if not subs:
                        del bucket.by_object_id[object_id]
            if bucket.empty():
                del self._buckets[key]

    def candidates(self, event: NormalisedEvent) -> dict[str, Subscription]:
        """Webhooks whose integration and event type fit, narrowed by object id where they set one."""
        found: dict[str, Subscription] = {}
        for pattern in type_patterns(event.event_type):
            bucket = self._buckets.get((event.integration_id, pattern))
            if bucket is None:
                continue
            found.update(bucket.any_object)
            for object_id in event.object_ids:
                subs = bucket.by_object_id.get(object_id)
                if subs:
                    found.update(subs)
        return found

    def match(
        self,
        event: NormalisedEvent,
        on_filter_error: Callable[[str, FilterEvaluationError], None] | None = None,
        budget_steps: int = DEFAULT_BUDGET_STEPS,
    ) -> list[WebhookConfigV1]:
        """The webhooks the event goes to, by webhook id.

        A filter that cannot be evaluated, or runs out of its ``budget_steps`` on this event, counts as
        false for this webhook only (``on_filter_error`` is told which).
        """
        matched: list[WebhookConfigV1] = []
        for webhook_id, sub in sorted(self.candidates(event).items()):
            try:
                ok = sub.accepts(event, budget_steps)
            except FilterEvaluationError as exc:
                if on_filter_error is not None:
                    on_filter_error(webhook_id, exc)
                ok = False
            if ok:
                matched.append(sub.webhook)
        return matched

    def load(self, webhooks: Iterable[WebhookConfigV1]) -> None:
        """Index many webhooks (start-up and benchmarks)."""
        for webhook in webhooks:
            self.upsert(webhook)
