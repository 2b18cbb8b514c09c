"""Delivery jobs: deterministic ids and the Standard Webhooks-shaped body."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from pydantic_core import to_json

from contracts.deliveries import DeliveryJobV1
from contracts.webhooks import Priority, WebhookConfigV1
from dispatcher.events import NormalisedEvent


def delivery_id(event_id: str, webhook_id: str) -> str:
    """``msg_`` + 32 hex of sha256(event id, webhook id): the same pair always gives the same id."""
    digest = hashlib.sha256(f"{event_id}\x1f{webhook_id}".encode()).hexdigest()
    return f"msg_{digest[:32]}"


def render_body(event: NormalisedEvent) -> str:
    """The JSON text POSTed to every webhook of this event (rendered once per event).

    pydantic-core's serialiser: 0.7 µs instead of 3.7 µs with ``json.dumps`` for a typical event, the
    same compact UTF-8 text (exponents are written without padding, ``2.5e-8`` for ``2.5e-08``). A lone
    surrogate, which only the standard library's parser lets through, goes through ``json.dumps`` as before.
    """
    body: dict[str, Any] = {
        "type": event.event_type,
        "timestamp": event.event_time.isoformat().replace("+00:00", "Z"),
        "data": event.data,
        "integration_id": event.integration_id,
        "event_id": event.event_id,
        "object_type": event.object_type,
        "object_id": event.object_id,
    }
    if event.patient_reference is not None:
        body["patient_reference"] = event.patient_reference
    try:
        return to_json(body).decode()
    except ValueError:
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def build_job(
    event: NormalisedEvent,
    webhook: WebhookConfigV1,
    body: str,
    priority: Priority,
    dispatched_at: datetime,
    published_at: datetime | None,
) -> DeliveryJobV1:
    """One job for one (event, webhook)."""
    return DeliveryJobV1(
        delivery_id=delivery_id(event.event_id, webhook.id),
        webhook_id=webhook.id,
        integration_id=event.integration_id,
        event_id=event.event_id,
        event_type=event.event_type,
        object_type=event.object_type,
        object_id=event.object_id,
        event_time=event.event_time,
        dispatched_at=dispatched_at,
        priority=priority,
        body=body,
        quality_flags=list(event.quality_flags),
        published_at=published_at,
    )
