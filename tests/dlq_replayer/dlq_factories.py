"""Builders of dead letters and webhook configs shared by the DLQ replayer tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from contracts.deliveries import AttemptSummary, DeadLetterV1, DeliveryJobV1
from contracts.webhooks import WebhookConfigV1
from dlq_replayer.selection import DlqEntry

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def job(
    n: int,
    webhook: str = "wh-a",
    integration: str = "sm-1",
    event_type: str = "response_completed",
    attempts: int = 3,
    category: str = "http_5xx",
) -> DeliveryJobV1:
    """A dead job after ``attempts`` failed attempts."""
    return DeliveryJobV1(
        delivery_id=f"dlv-{webhook}-{n}",
        webhook_id=webhook,
        integration_id=integration,
        event_id=f"evt-{n}",
        event_type=event_type,
        event_time=T0,
        dispatched_at=T0,
        body=f'{{"n": {n}, "email": "patient{n}@example.org"}}',
        attempt=attempts + 1,
        not_before=T0 + timedelta(hours=1),
        attempts=[
            AttemptSummary(
                attempt=i + 1,
                attempted_at=T0 + timedelta(seconds=i),
                outcome="failed",
                status_code=503 if category == "http_5xx" else None,
                error_category=category,  # type: ignore[arg-type]
            )
            for i in range(attempts)
        ],
    )


def letter(n: int, at: datetime = T0, **kwargs: object) -> DeadLetterV1:
    """A dead letter of ``job(n, **kwargs)``."""
    j = job(n, **kwargs)  # type: ignore[arg-type]
    last = j.attempts[-1]
    return DeadLetterV1(
        job=j,
        reason="max attempts reached",
        final_error_category=last.error_category,
        final_status_code=last.status_code,
        dead_lettered_at=at,
        original_headers={"delivery-id": j.delivery_id},
    )


def entry(
    n: int, partition: int = 0, offset: int | None = None, at: datetime = T0, **kwargs: object
) -> DlqEntry:
    """A parsed DLQ record."""
    return DlqEntry(
        partition=partition,
        offset=n if offset is None else offset,
        timestamp=at,
        letter=letter(n, at, **kwargs),
        headers={},
    )


def webhook(
    wid: str, active: bool = True, integration: str = "sm-1", url: str = "https://example.org/h"
) -> WebhookConfigV1:
    """A webhook config as on webhooks.config."""
    return WebhookConfigV1(
        id=wid,
        integration_id=integration,
        integration_type="surveymonkey",
        name=wid,
        subscription_url=url,
        event_types=["*"],
        active=active,
        updated_at=T0,
    )
