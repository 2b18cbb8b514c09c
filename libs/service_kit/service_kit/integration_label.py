"""The ``integration`` metric label takes configured integration ids only.

The id arrives in a producer's Kafka header, so copying it into a label would let any producer
create unbounded time series. Ids the config view knows (webhooks or priority rules) keep their
name; anything else is counted as ``other``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Container

from contracts.webhooks import PriorityRulesV1, WebhookConfigV1
from service_kit.config_view import ConfigChange, WebhookView

OTHER = "other"


def integration_label(integration_id: str, known: Container[str]) -> str:
    """``integration_id`` when it is configured, else ``other``."""
    return integration_id if integration_id in known else OTHER


def _integration_of(record: WebhookConfigV1 | PriorityRulesV1 | None) -> str | None:
    return None if record is None else record.integration_id


class KnownIntegrations:
    """The integration ids a :class:`WebhookView` holds, kept in step with its changes."""

    def __init__(self, view: WebhookView) -> None:
        self._refs: Counter[str] = Counter(w.integration_id for w in view.webhooks.values())
        self._refs.update(view.priority_rules.keys())
        self._known = set(self._refs)
        """The ids with a reference, as a set: looked up once per delivery."""
        view.subscribe(self._on_change)

    def __contains__(self, integration_id: object) -> bool:
        return integration_id in self._known

    def label(self, integration_id: str) -> str:
        """The label value for ``integration_id`` (same answer as :func:`integration_label`)."""
        return integration_id if integration_id in self._known else OTHER

    def _on_change(self, change: ConfigChange) -> None:
        before = _integration_of(change.previous)
        after = _integration_of(change.current)
        if before is not None:
            self._refs[before] -= 1
            if self._refs[before] <= 0:
                del self._refs[before]
                self._known.discard(before)
        if after is not None:
            self._refs[after] += 1
            self._known.add(after)
