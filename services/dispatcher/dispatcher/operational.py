"""``webhooks.ops`` records -> events of the built-in ``carehooks`` integration (operational webhooks).

The config API (and other services) write operational records on ``webhooks.ops``; the dispatcher reads
that topic like an input topic and turns each record into an event, so admins subscribe to carehooks'
own events with ordinary webhooks. The event carries the record's facts (ids, reason, counts), never the
payload of a delivery.

No loops: a record about a webhook of the ``carehooks`` integration itself (an operational webhook that
failed, was deactivated or dead-lettered) yields no event, so an operational webhook's failures can never
feed operational events about themselves. Unknown record types are skipped (a newer producer may write
types this dispatcher does not know yet); a known type that does not validate is an invalid input.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from contracts.base import ContractModel
from contracts.catalogs import CAREHOOKS_INTEGRATION
from contracts.events import (
    DeliveryDeadLetteredV1,
    DlqReplayCompletedV1,
    WebhookDeactivatedV1,
    WebhookHealthChangedV1,
)
from dispatcher.events import InvalidInputError, NormalisedEvent


@dataclass(frozen=True)
class OpsKind:
    """How one ``webhooks.ops`` record type becomes an event."""

    model: type[ContractModel]
    event_type: Callable[[Any], str]
    object_type: str
    object_id: Callable[[Any], str]
    subject_integration: Callable[[Any], str | None]
    """The integration of the webhook the record is about (None: not about one webhook)."""
    moment: Callable[[Any], datetime]


OPS_KINDS: dict[str, OpsKind] = {
    "webhook_deactivated.v1": OpsKind(
        WebhookDeactivatedV1,
        lambda r: "webhook.deactivated",
        "webhook",
        lambda r: r.webhook_id,
        lambda r: r.integration_id,
        lambda r: r.deactivated_at,
    ),
    "webhook_health_changed.v1": OpsKind(
        WebhookHealthChangedV1,
        lambda r: f"webhook.{r.state}",
        "webhook",
        lambda r: r.webhook_id,
        lambda r: r.integration_id,
        lambda r: r.changed_at,
    ),
    "delivery_dead_lettered.v1": OpsKind(
        DeliveryDeadLetteredV1,
        lambda r: "delivery.dead_lettered",
        "delivery",
        lambda r: r.delivery_id,
        lambda r: r.integration_id,
        lambda r: r.dead_lettered_at,
    ),
    "dlq_replay_completed.v1": OpsKind(
        DlqReplayCompletedV1,
        lambda r: "dlq.replay.completed",
        "replay",
        lambda r: r.replay_id,
        lambda r: None,  # about a replay, not one webhook: ending a replay triggers nothing that loops
        lambda r: r.finished_at,
    ),
}


def parse_ops_record(doc: object) -> NormalisedEvent | None:
    """The ``carehooks`` event of one ops record; None for unknown types and records about ops webhooks."""
    if not isinstance(doc, dict):
        raise InvalidInputError("expected a JSON object (a webhooks.ops record)")
    record_type = doc.get("type")
    if not isinstance(record_type, str):
        raise InvalidInputError("type: missing (required in a webhooks.ops record)")
    kind = OPS_KINDS.get(record_type)
    if kind is None:
        return None
    try:
        record = kind.model.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "record"
        raise InvalidInputError(f"{record_type}: {where}: {first['msg']}") from None
    if kind.subject_integration(record) == CAREHOOKS_INTEGRATION:
        return None  # no loops: nothing about an operational webhook becomes an operational event
    data: dict[str, Any] = record.model_dump(mode="json", exclude={"type"})
    object_id = kind.object_id(record)
    moment = kind.moment(record)
    return NormalisedEvent(
        source="carehooks",
        integration_id=CAREHOOKS_INTEGRATION,
        event_id=ops_event_id(record_type, object_id, moment),
        event_type=kind.event_type(record),
        object_type=kind.object_type,
        object_id=object_id,
        event_time=moment,
        data=data,
        object_types=frozenset({kind.object_type}),
        object_ids=frozenset({object_id}),
    )


def ops_event_id(record_type: str, object_id: str, moment: datetime) -> str:
    """Stable per record content: a re-read record gives the same delivery ids (receivers de-duplicate)."""
    digest = hashlib.sha256(f"{record_type}\x1f{object_id}\x1f{moment.isoformat()}".encode()).hexdigest()
    return f"ops_{digest[:32]}"
