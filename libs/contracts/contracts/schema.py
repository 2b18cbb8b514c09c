"""JSON Schema export of every message model (committed under ``libs/contracts/schemas``)."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from contracts.deliveries import DeadLetterV1, DeliveryJobV1, DeliveryResultV1
from contracts.events import (
    DeliveryDeadLetteredV1,
    DlqReplayCompletedV1,
    InvalidEventV1,
    PatientIndexEntryV1,
    WebhookDeactivatedV1,
    WebhookHealthChangedV1,
)
from contracts.webhooks import PriorityRulesV1, WebhookConfigV1

MESSAGE_MODELS: tuple[type[BaseModel], ...] = (
    WebhookConfigV1,
    PriorityRulesV1,
    DeliveryJobV1,
    DeliveryResultV1,
    DeadLetterV1,
    InvalidEventV1,
    WebhookDeactivatedV1,
    DeliveryDeadLetteredV1,
    WebhookHealthChangedV1,
    DlqReplayCompletedV1,
    PatientIndexEntryV1,
)

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"


def render_schemas() -> dict[str, str]:
    """File name -> JSON text of each model's schema."""
    out: dict[str, str] = {}
    for model in MESSAGE_MODELS:
        tag = model.model_fields["type"].default
        out[f"{tag}.json"] = json.dumps(model.model_json_schema(), indent=2, sort_keys=True) + "\n"
    return out


def write_schemas(directory: Path = SCHEMA_DIR) -> list[Path]:
    """Write every schema file; returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_schemas().items():
        path = directory / name
        path.write_text(text)
        written.append(path)
    return written
