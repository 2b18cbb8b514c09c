"""Delivery logs, status, the integration's delivery summary, and manual retry of one delivery."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import asyncpg
from aiokafka.errors import KafkaError
from fastapi import APIRouter, Path, Query

from admin_auth.tokens import Principal, record_audit
from config_api.api.deps import (
    BoxDep,
    OperatorDep,
    PoolDep,
    ProducerDep,
    SettingsDep,
    ViewerDep,
    integration_for,
)
from config_api.deliveries.breakdown import integration_breakdown
from config_api.deliveries.logs import CursorError, LogFilters, fetch_logs
from config_api.deliveries.resend import publish_job, resend_job
from config_api.deliveries.schemas import (
    DeliveryLogPage,
    IntegrationDeliverySummary,
    RetryAccepted,
    WebhookStatus,
)
from config_api.deliveries.status import (
    WINDOWS,
    failing_counts,
    integration_summary,
    webhook_status,
    window_start,
)
from config_api.errors import ConflictError, InvalidInputError, NotFoundError, UnavailableError
from config_api.webhooks import access as webhooks
from contracts.base import utcnow
from contracts.deliveries import Outcome, ReplayInfo, payload_context
from webhook_core.payload_crypto import Payloads
from webhook_core.secrets_crypto import DecryptionError

router = APIRouter(prefix="/admin/integration/{integration_id}", tags=["deliveries"])

# PostgreSQL text cannot hold NUL: refuse it up front (422) instead of failing in the driver.
NO_NUL = r"^[^\x00]*$"
IntegrationId = Annotated[str, Path(max_length=200, pattern=NO_NUL, description="The integration's id.")]
WebhookId = Annotated[str, Path(max_length=200, pattern=NO_NUL, description="The webhook's id.")]


async def webhook_of(
    conn: asyncpg.Pool | asyncpg.Connection, principal: Principal, integration_id: str, webhook_id: str
) -> dict[str, Any]:
    """The webhook row; 404 for an unknown integration or webhook, or a webhook of another integration."""
    row = await webhooks.fetch_webhook(conn, webhook_id)
    if row is not None and row["integration_id"] == integration_id and principal.can_access(integration_id):
        return row  # the integration exists (foreign key): one query on the hot path
    await integration_for(conn, principal, integration_id)  # names the integration when that is what is wrong
    raise NotFoundError(
        f"webhook {webhook_id!r} not found in integration {integration_id!r}", loc=["path", "webhook_id"]
    )


def utc_window(
    since: datetime | None, until: datetime | None, where: str = "query"
) -> tuple[datetime | None, datetime | None]:
    """``since``/``until`` in UTC (a time without an offset is read as UTC, the zone of every time in
    this API); 422 on ``since`` when the window is empty."""
    start, end = (
        None if v is None else v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)
        for v in (since, until)
    )
    if start is not None and end is not None and start >= end:
        raise InvalidInputError("since must be earlier than until", loc=[where, "since"])
    return start, end


@router.get("/webhooks/{webhook_id}/logs", response_model=DeliveryLogPage)
async def get_delivery_logs(
    integration_id: IntegrationId,
    webhook_id: WebhookId,
    pool: PoolDep,
    principal: ViewerDep,
    box: BoxDep,
    outcome: Annotated[Outcome | None, Query(description="Only attempts with this outcome.")] = None,
    event_type: Annotated[str | None, Query(max_length=200, pattern=NO_NUL)] = None,
    since: Annotated[datetime | None, Query(description="ISO time, inclusive (UTC when no offset).")] = None,
    until: Annotated[datetime | None, Query(description="ISO time, exclusive (UTC when no offset).")] = None,
    status_code: Annotated[int | None, Query(ge=100, le=599)] = None,
    delivery_id: Annotated[
        str | None, Query(max_length=200, pattern=NO_NUL, description="All attempts of one delivery.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=500, description="next_cursor of the previous page.")
    ] = None,
) -> dict[str, Any]:
    """Delivery attempts of a webhook, newest first, with cursor pagination. Response excerpts are
    shown to operators and admins only (viewers get `null`)."""
    await webhook_of(pool, principal, integration_id, webhook_id)
    start, end = utc_window(since, until)
    filters = LogFilters(outcome, event_type, start, end, status_code, delivery_id)
    try:
        reveal = box if principal.has_role("operator") else None  # viewers: no response excerpts
        return await fetch_logs(pool, webhook_id, filters, limit, cursor, reveal)
    except CursorError as exc:
        raise InvalidInputError(str(exc), loc=["query", "cursor"]) from None


@router.get("/webhooks/{webhook_id}/status", response_model=WebhookStatus)
async def get_delivery_status(
    integration_id: IntegrationId,
    webhook_id: WebhookId,
    pool: PoolDep,
    principal: ViewerDep,
    window: Annotated[Literal["1h", "24h", "7d"], Query(description="Window of the figures.")] = "24h",
) -> dict[str, Any]:
    """Health of a webhook (consecutive failures, last success/error) and its figures over a window."""
    row = await webhook_of(pool, principal, integration_id, webhook_id)
    figures = await webhook_status(pool, webhook_id, window)
    return {
        "webhook_id": webhook_id,
        "active": row["active"],
        "deactivated_reason": row["deactivated_reason"],
        **figures,
    }


@router.get("/delivery-summary", response_model=IntegrationDeliverySummary)
async def get_delivery_summary(
    integration_id: IntegrationId, pool: PoolDep, principal: ViewerDep
) -> dict[str, Any]:
    """Delivery health of every webhook of the integration (failing ones flagged) over the last 24 h."""
    await integration_for(pool, principal, integration_id)
    counts = (await failing_counts(pool, [integration_id]))[integration_id]
    spec = WINDOWS["24h"]
    errors = await integration_breakdown(pool, integration_id, spec.bucket_s, window_start(spec, utcnow()))
    return {
        "integration_id": integration_id,
        **counts,
        "webhooks": await integration_summary(pool, integration_id),
        "status_codes_24h": errors["status_codes"],
        "error_categories_24h": errors["error_categories"],
    }


@router.post(
    "/webhooks/{webhook_id}/deliveries/{delivery_id}/retry",
    response_model=RetryAccepted,
    status_code=202,
    responses={
        404: {"description": "Unknown delivery (or older than the log retention)."},
        409: {"description": "Webhook inactive."},
    },
)
async def retry_delivery(
    integration_id: IntegrationId,
    webhook_id: WebhookId,
    delivery_id: Annotated[str, Path(max_length=200, pattern=NO_NUL)],
    pool: PoolDep,
    principal: OperatorDep,
    box: BoxDep,
    producer: ProducerDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Send one delivery again now (failed, dead-lettered or succeeded), with the same delivery id.

    The job goes through the normal worker path with a fresh attempt budget; its attempts appear
    in the logs under the same `delivery_id` with the returned `replay_id`.
    """
    await webhook_of(pool, principal, integration_id, webhook_id)
    stored = await pool.fetchrow(
        "SELECT * FROM delivery_payloads WHERE delivery_id = $1 AND webhook_id = $2", delivery_id, webhook_id
    )
    if stored is None:
        raise NotFoundError(
            f"delivery {delivery_id!r} not found for webhook {webhook_id!r} (unknown, or older than the log retention)",
            loc=["path", "delivery_id"],
        )
    config = await webhooks.get_webhook_config(pool, webhook_id)
    if config is None:
        raise NotFoundError(f"webhook {webhook_id!r} not found", loc=["path", "webhook_id"])
    if not config.active:
        raise ConflictError(
            f"webhook {webhook_id!r} is inactive ({config.deactivated_reason or 'deactivated'}); re-activate it first",
            loc=["path", "webhook_id"],
        )
    try:
        body = box.decrypt(stored["payload_encrypted"], payload_context(delivery_id))
    except DecryptionError:
        raise ConflictError(
            "the stored payload does not decrypt with any configured key (WEBHOOK_SECRETS_KEYS)",
            loc=["path", "delivery_id"],
        ) from None
    if producer is None:
        raise UnavailableError("Kafka is unreachable; the retry was not queued, try again")
    replay_id = f"rt_{uuid.uuid4().hex}"
    replay = ReplayInfo(replay_id=replay_id, requested_by=principal.name, kind="manual_retry")
    job = resend_job(stored, config, body, replay)
    topic = settings.topics.deliveries
    payloads = Payloads(box, encrypt=settings.kafka_payload_encryption)
    try:
        await publish_job(producer, topic, job, payloads)
    except KafkaError:
        raise UnavailableError("Kafka did not accept the retry; nothing was queued, try again") from None
    await record_audit(
        pool,
        principal.name,
        "delivery.retry",
        integration_id=integration_id,
        webhook_id=webhook_id,
        details={"delivery_id": delivery_id, "replay_id": replay_id, "event_id": stored["event_id"]},
    )
    return {
        "delivery_id": delivery_id,
        "replay_id": replay_id,
        "attempt": 1,
        "topic": topic,
        "logs_url": f"/admin/integration/{integration_id}/webhooks/{webhook_id}/logs?delivery_id={delivery_id}",
    }
