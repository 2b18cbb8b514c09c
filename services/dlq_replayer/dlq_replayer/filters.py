"""Parsing operator input: times (ISO or relative like ``2h``), DLQ message ids and filters. Pure."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from contracts.base import utcnow
from contracts.deliveries import ErrorCategory
from dlq_replayer.errors import InvalidInputError

_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_ID = re.compile(r"^(\d+)-(\d+)$")


def parse_time(text: str, now: datetime | None = None) -> datetime:
    """An aware UTC datetime from ISO 8601 (``Z`` or offset; naive means UTC) or ``<n><s|m|h|d|w>`` ago."""
    moment = now or utcnow()
    match = _RELATIVE.match(text)
    if match:
        return moment - timedelta(seconds=float(match.group(1)) * _UNIT_S[match.group(2)])
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{text!r} is neither an ISO 8601 time nor a relative time like 30m, 2h, 7d"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=moment.tzinfo)
    return parsed.astimezone(moment.tzinfo)


def format_message_id(partition: int, offset: int) -> str:
    """The URL-safe id of a DLQ record: ``<partition>-<offset>``."""
    return f"{partition}-{offset}"


def parse_message_id(text: str, dlq_topic: str) -> tuple[int, int]:
    """(partition, offset) from ``<partition>-<offset>`` or ``<topic>:<partition>:<offset>``."""
    match = _ID.match(text)
    if match:
        return _bounded(text, int(match.group(1)), int(match.group(2)))
    topic, sep, rest = text.rpartition(":")
    topic, sep2, partition = topic.rpartition(":")
    if sep and sep2 and partition.isdigit() and rest.isdigit():
        if topic != dlq_topic:
            raise InvalidInputError(
                f"message id {text!r} names topic {topic!r}, not the DLQ topic {dlq_topic!r}"
            )
        return _bounded(text, int(partition), int(rest))
    raise InvalidInputError(
        f"message id {text!r} is not <partition>-<offset> (e.g. 0-42) or <topic>:<partition>:<offset>"
    )


def _bounded(text: str, partition: int, offset: int) -> tuple[int, int]:
    # Kafka partitions are int32 and offsets int64; larger numbers would fail inside the client.
    if partition >= 2**31 or offset >= 2**63:
        raise InvalidInputError(f"message id {text!r} is out of range")
    return partition, offset


class DlqFilters(BaseModel):
    """Which dead letters an inspection or replay selects (every given filter must match)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    integration: str | None = None
    webhook: str | None = None
    event_type: str | None = None
    error_category: ErrorCategory | None = None
    since: datetime | None = Field(
        default=None, description="Record time >= since (ISO or relative, e.g. 2h)."
    )
    until: datetime | None = Field(default=None, description="Record time < until (ISO or relative).")
    replayed: bool | None = Field(
        default=None, description="yes: only already replayed; no: only never replayed."
    )
    limit: int | None = Field(default=None, ge=1, le=100_000)

    @field_validator("since", "until", mode="before")
    @classmethod
    def _time(cls, value: object) -> object:
        if isinstance(value, str):
            return parse_time(value)
        if isinstance(value, datetime) and value.tzinfo is None:
            raise ValueError("must be timezone-aware")
        return value

    @field_validator("replayed", mode="before")
    @classmethod
    def _yes_no(cls, value: object) -> object:
        if isinstance(value, str):
            lowered = value.strip().lower()
            if lowered in {"yes", "true", "1"}:
                return True
            if lowered in {"no", "false", "0"}:
                return False
            raise ValueError(f"{value!r} is not yes or no")
        return value

    @field_validator("integration", "webhook", "event_type", mode="before")
    @classmethod
    def _blank(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            raise ValueError("must not be empty")
        return value

    @model_validator(mode="after")
    def _window(self) -> DlqFilters:
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise ValueError("since must be before until")
        return self

    def describe(self) -> dict[str, Any]:
        """The filters that are set, JSON-ready (for replay records and the audit log)."""
        return self.model_dump(mode="json", exclude_none=True)


def build_filters(raw: dict[str, Any]) -> DlqFilters:
    """Validate raw filter values (query string or CLI options); raises InvalidInputError naming each bad one."""
    cleaned = {k: v for k, v in raw.items() if v is not None}
    try:
        return DlqFilters.model_validate(cleaned)
    except ValidationError as exc:
        raise InvalidInputError(describe_validation_error(exc)) from None


def describe_validation_error(exc: ValidationError) -> str:
    """One ``field: problem`` clause per error, joined with ``; ``."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "input"
        msg = str(err["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {msg}")
    return "; ".join(parts)
