"""Shared builders for the dispatcher tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from contracts.base import utcnow
from contracts.webhooks import WebhookConfigV1

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def sample(name: str) -> dict[str, Any]:
    """A sample file as a dict (e.g. ``fhir/appointment.json``)."""
    data: dict[str, Any] = json.loads((SAMPLES / name).read_text())
    return data


def webhook(wid: str, integration_id: str = "ehr", **fields: Any) -> WebhookConfigV1:
    """A webhook config with sensible defaults (every event type of the integration)."""
    base: dict[str, Any] = {
        "id": wid,
        "integration_id": integration_id,
        "integration_type": "surveymonkey" if integration_id.startswith("survey") else "fhir",
        "name": wid,
        "subscription_url": "http://127.0.0.1:9/hook",
        "event_types": ["*"],
        "updated_at": utcnow(),
    }
    base.update(fields)
    return WebhookConfigV1(**base)


def sm_body(event_type: str, **fields: Any) -> dict[str, Any]:
    """A SurveyMonkey callback body of one event type (object type derived from the name)."""
    object_type = next(
        t for t in ("contact_list", "contact", "response", "collector", "survey") if event_type.startswith(t)
    )
    body: dict[str, Any] = {
        "name": "hook",
        "filter_type": "survey",
        "filter_id": "s1",
        "event_type": event_type,
        "event_id": f"e-{event_type}",
        "object_type": object_type,
        "object_id": "o1",
        "event_datetime": "2024-05-01T10:00:00.000001+00:00",
        "resources": {"survey_id": "s1", "collector_id": "c1", "user_id": "u1"},
    }
    body.update(fields)
    return body
