"""Topic names (defaults) and Kafka header names."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

SURVEYMONKEY_EVENTS = "integrations.surveymonkey.events"
FHIR_EVENTS = "integrations.fhir.events"
INVALID_EVENTS = "integrations.events.invalid"
PATIENT_INDEX = "integrations.patient-index"
WEBHOOKS_CONFIG = "webhooks.config"
DELIVERIES = "webhooks.deliveries"
DELIVERIES_PRIORITY = "webhooks.deliveries.priority"
DELIVERIES_DLQ = "webhooks.deliveries.dlq"
DELIVERY_RESULTS = "webhooks.delivery-results"
OPS = "webhooks.ops"

RETRY_TIERS_S: tuple[int, ...] = (1, 10, 60, 600, 3600)
"""Delay tiers of the retry topics, in seconds (see docs/architecture.md)."""


def retry_topic_name(base: str, tier_s: int) -> str:
    """Name of the retry topic for one delay tier, e.g. ``webhooks.deliveries.retry.10s``."""
    return f"{base}.retry.{tier_s}s"


class Topics(BaseModel):
    """Every topic name the system uses; each one is a setting (``TOPIC_<FIELD>`` or a shared prefix)."""

    model_config = ConfigDict(frozen=True)

    surveymonkey_events: str = SURVEYMONKEY_EVENTS
    fhir_events: str = FHIR_EVENTS
    invalid_events: str = INVALID_EVENTS
    patient_index: str = PATIENT_INDEX
    webhooks_config: str = WEBHOOKS_CONFIG
    deliveries: str = DELIVERIES
    deliveries_priority: str = DELIVERIES_PRIORITY
    deliveries_dlq: str = DELIVERIES_DLQ
    delivery_results: str = DELIVERY_RESULTS
    ops: str = OPS
    retry_tiers_s: tuple[int, ...] = RETRY_TIERS_S

    def with_prefix(self, prefix: str) -> Topics:
        """The same set with every name prefixed (tests give each test its own prefix)."""
        if not prefix:
            return self
        data = {
            name: f"{prefix}{value}" for name, value in self.model_dump().items() if isinstance(value, str)
        }
        return self.model_copy(update=data)

    def retry_topics(self) -> dict[int, str]:
        """Retry topic per delay tier (seconds -> name)."""
        return {tier: retry_topic_name(self.deliveries, tier) for tier in self.retry_tiers_s}

    def compacted(self) -> set[str]:
        """Topics that are log-compacted (latest value per key is the state)."""
        return {self.webhooks_config, self.patient_index}

    def all_topics(self) -> list[str]:
        """Every topic to create at start-up."""
        names = [v for v in self.model_dump().values() if isinstance(v, str)]
        return [*names, *self.retry_topics().values()]


class Headers:
    """Kafka header names."""

    INTEGRATION_ID = "integration-id"
    FHIR_INTERACTION = "fhir-interaction"
    MESSAGE_TYPE = "message-type"
    DELIVERY_ID = "delivery-id"
    WEBHOOK_ID = "webhook-id"
    PUBLISHED_AT = "published-at"
