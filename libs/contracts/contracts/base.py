"""Base model for every message on a topic."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict


def _require_tz(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("datetime must be timezone-aware")
    return value.astimezone(UTC)


AwareDatetime = Annotated[datetime, AfterValidator(_require_tz)]
"""A timezone-aware datetime, normalised to UTC."""


class ContractModel(BaseModel):
    """Frozen, strict-about-unknown-fields base for messages."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def to_bytes(self) -> bytes:
        """Serialise as compact JSON bytes (the Kafka value)."""
        return self.model_dump_json().encode()


def utcnow() -> datetime:
    """The current time in UTC (aware)."""
    return datetime.now(UTC)
