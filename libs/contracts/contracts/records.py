"""The one way to write a delivery-job record and an invalid-event record (key, value, headers).

Every producer of delivery jobs (the dispatcher, the worker's retry hops, the config API's manual
retry and the DLQ replayer) uses :func:`delivery_job_record`, so jobs carry the same key (the
webhook id: the worker runs one lane per key) and the same headers wherever they come from.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from contracts.deliveries import DeliveryJobV1
from contracts.events import InvalidEventV1
from contracts.headers import HeaderValue, headers_as_text
from contracts.topics import Headers

_JOB_HEADERS = frozenset({Headers.MESSAGE_TYPE, Headers.DELIVERY_ID, Headers.WEBHOOK_ID})
MAX_INVALID_REASON_CHARS = 2000


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
    value: bytes | None = None,
) -> Record:
    """The record of a delivery job: key = webhook id, the job's identifying headers first.

    ``extra_headers`` (e.g. the original event's headers, the retry tier's due time) follow; any of
    them named like an identifying header is dropped so the job's own values win. ``value`` may be
    passed when the caller already serialised the job (it must be ``job.to_bytes()``).
    """
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
    entry_index: int | None = None,
    max_value_bytes: int | None = None,
) -> InvalidEventV1:
    """The ``invalid_event.v1`` for a record that could not be used.

    ``reason`` must name fields and problems, never values (it is shown to operators). The value is
    truncated to ``max_value_bytes`` (the reason says so) so the invalid record stays publishable.
    """
    original = value or b""
    if max_value_bytes is not None and len(original) > max_value_bytes:
        reason += f" (value truncated to its first {max_value_bytes} of {len(original)} bytes)"
        original = original[:max_value_bytes]
    text_headers = dict(headers) if isinstance(headers, Mapping) else headers_as_text(headers)
    return InvalidEventV1(
        source_topic=source_topic,
        partition=partition,
        offset=offset,
        key_b64=base64.b64encode(key).decode() if key is not None else None,
        value_b64=base64.b64encode(original).decode(),
        headers=text_headers,
        reason=reason[:MAX_INVALID_REASON_CHARS],
        entry_index=entry_index,
        received_at=received_at,
    )
