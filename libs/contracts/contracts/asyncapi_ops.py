"""The messages of ``webhooks.ops`` for the AsyncAPI document (:mod:`contracts.asyncapi`).

Every one is also an event of the built-in ``carehooks`` integration (operational webhooks,
docs/observability.md#operational-webhooks); none is written about that integration's own webhooks.
"""

from __future__ import annotations

from pydantic import BaseModel

from contracts.events import (
    DeliveryDeadLetteredV1,
    DlqReplayCompletedV1,
    WebhookDeactivatedV1,
    WebhookHealthChangedV1,
)

OPS_MESSAGES: tuple[tuple[str, str, str, type[BaseModel]], ...] = (
    (
        "webhookDeactivated",
        "Webhook deactivated",
        "A webhook was deactivated automatically.",
        WebhookDeactivatedV1,
    ),
    (
        "webhookHealthChanged",
        "Webhook failing / recovered",
        "A webhook started failing (CONFIG_API_FAILING_AFTER_FAILURES deliveries in a row failed, or its "
        "recent success rate fell below CONFIG_API_FAILING_BELOW_SUCCESS_RATE) or delivered again after failing.",
        WebhookHealthChangedV1,
    ),
    (
        "deliveryDeadLettered",
        "Delivery dead-lettered",
        "A delivery was dead-lettered (ids, reason and final status; never the body).",
        DeliveryDeadLetteredV1,
    ),
    (
        "dlqReplayCompleted",
        "DLQ replay completed",
        "A DLQ replay ended, completed or failed, with its counts (written by the DLQ replayer; key = replay id).",
        DlqReplayCompletedV1,
    ),
)
"""(message id, title, summary, model) of each record type on the ops topic (key = webhook id, or
replay id for replays)."""

OPS_INTAKE = (
    "Turned into events of the built-in carehooks integration (operational webhooks); records about "
    "the carehooks integration's own webhooks are skipped (no loops). "
)
"""How the dispatcher reads the ops topic (the start of its receive operation's description)."""
