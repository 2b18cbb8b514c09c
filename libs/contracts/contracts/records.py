"""The one way to write a delivery-job record and an invalid-event record (key, value, headers).

Every producer of delivery jobs (the dispatcher, the worker's retry hops, the config API's manual
retry and the DLQ replayer) uses :func:`delivery_job_record`, so jobs carry the same key (the
webhook id: the worker runs one lane per key) and the same headers wherever they come from.
Both builders take a :class:`PayloadSealer` (``webhook_core.payload_crypto.Payloads``): it encrypts
the body or copied value when ``KAFKA_PAYLOAD_ENCRYPTION`` is on, so no producer can forget it.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from contracts.deliveries import DeliveryJobV1
from contracts.events import InvalidEventV1
from contracts.headers import HeaderValue, headers_as_text
from contracts.topics import Headers

_JOB_HEADERS = frozenset({Headers.MESSAGE_TYPE, Headers.DELIVERY_ID, Headers.WEBHOOK_ID})
MAX_INVALID_REASON_CHARS = 2000
MAX_INVALID_VALUE_BYTES = 1_000_000
"""Most bytes of a record copied into an invalid record (enough to see what is wrong; the rest may
be PHI and would only make the invalid topic a second store of it)."""


class PayloadSealer(Protocol):
    """Encrypts what a record carries of a payload, or not, as ``KAFKA_PAYLOAD_ENCRYPTION`` says."""

    def seal(self, job: DeliveryJobV1) -> DeliveryJobV1:
        """The job as it must travel (body encrypted, or plaintext when encryption is off)."""
        ...

    def seal_value(self, value: bytes, context: str) -> str | None:
        """``value`` encrypted under ``context``; ``None`` when encryption is off."""
        ...


@dataclass(frozen=True)
class Record:
    """One record to produce."""

    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]] = field(default_factory=list)


def delivery_job_record(
    job: DeliveryJobV1,
    extra_headers: Iterable[tuple[str, bytes]] | Mapping[str, str] = (),
    *,
    sealer: PayloadSealer,
    value: bytes | None = None,
) -> Record:
    """The record of a delivery job: key = webhook id, the job's identifying headers first.

    ``extra_headers`` (e.g. the original event's headers, the retry tier's due time) follow; any of
    them named like an identifying header is dropped so the job's own values win. ``value`` may be
    passed when the caller already serialised the sealed job (it must be ``sealer.seal(job).to_bytes()``).
    """
    job = sealer.seal(job)
    items = extra_headers.items() if isinstance(extra_headers, Mapping) else extra_headers
    extra = [
        (name, val.encode() if isinstance(val, str) else val)
        for name, val in items
        if name not in _JOB_HEADERS
    ]
    headers = [
        (Headers.MESSAGE_TYPE, job.type.encode()),
        (Headers.DELIVERY_ID, job.delivery_id.encode()),
        (Headers.WEBHOOK_ID, job.webhook_id.encode()),
        *extra,
    ]
    return Record(job.webhook_id.encode(), value if value is not None else job.to_bytes(), headers)


def invalid_event(
    *,
    source_topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    headers: Iterable[tuple[str, HeaderValue]] | Mapping[str, str] | None,
    reason: str,
    received_at: datetime,
    sealer: PayloadSealer,
    entry_index: int | None = None,
    max_value_bytes: int = MAX_INVALID_VALUE_BYTES,
) -> InvalidEventV1:
    """The ``invalid_event.v1`` for a record that could not be used.

    ``reason`` must name fields and problems, never values (it is shown to operators). The value is
    truncated to ``max_value_bytes`` (at most :data:`MAX_INVALID_VALUE_BYTES`; the reason says so)
    and encrypted by ``sealer`` (bound to the source record's position) when encryption is on.
    """
    original = value or b""
    limit = min(max_value_bytes, MAX_INVALID_VALUE_BYTES)
    if len(original) > limit:
        reason += f" (value truncated to its first {limit} of {len(original)} bytes)"
        original = original[:limit]
    text_headers = dict(headers) if isinstance(headers, Mapping) else headers_as_text(headers)
    sealed = sealer.seal_value(original, invalid_value_context(source_topic, partition, offset))
    return InvalidEventV1(
        source_topic=source_topic,
        partition=partition,
        offset=offset,
        key_b64=base64.b64encode(key).decode() if key is not None else None,
        value_b64=base64.b64encode(original).decode() if sealed is None else None,
        value_encrypted=sealed,
        headers=text_headers,
        reason=reason[:MAX_INVALID_REASON_CHARS],
        entry_index=entry_index,
        received_at=received_at,
    )


def invalid_value_context(source_topic: str, partition: int, offset: int) -> str:
    """Associated data of an invalid record's encrypted value (see ``InvalidEventV1.value_context``)."""
    return f"invalid:{source_topic}:{partition}:{offset}"
