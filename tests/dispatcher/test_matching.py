"""The match index: which buckets an event reads, and updates that leave no stale entries."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from dispatcher_helpers import webhook

from dispatcher.events import NormalisedEvent
from dispatcher.matching import WebhookIndex, type_patterns


def _event(
    event_type: str = "Appointment.update", object_id: str = "a1", integration: str = "ehr"
) -> NormalisedEvent:
    object_type = event_type.split(".")[0]
    return NormalisedEvent(
        source="fhir",
        integration_id=integration,
        event_id="e",
        event_type=event_type,
        object_type=object_type,
        object_id=object_id,
        event_time=datetime(2024, 1, 1, tzinfo=UTC),
        data={"resourceType": object_type, "id": object_id},
        object_types=frozenset({object_type}),
        object_ids=frozenset({object_id, f"{object_type}/{object_id}"}),
    )


@pytest.mark.parametrize(
    ("event_type", "patterns"),
    [
        ("Appointment.update", ["Appointment.update", "*", "Appointment.*"]),
        ("response_completed", ["response_completed", "*"]),
        ("a.b.c", ["a.b.c", "*", "a.*", "a.b.*"]),
    ],
)
def test_type_patterns(event_type: str, patterns: list[str]) -> None:
    assert type_patterns(event_type) == patterns


def test_candidates_skip_other_objects_and_integrations() -> None:
    index = WebhookIndex()
    index.load(
        [
            webhook("mine", object_ids=["a1"]),
            webhook("typed", object_ids=["Appointment/a1"], event_types=["Appointment.*"]),
            webhook("others", object_ids=["a2", "a3"]),
            webhook("any"),
            webhook("elsewhere", integration_id="ehr2"),
        ]
    )
    assert sorted(index.candidates(_event())) == ["any", "mine", "typed"]
    assert sorted(index.candidates(_event(object_id="a3"))) == ["any", "others"]


def test_updates_and_removals_leave_no_stale_entries() -> None:
    index = WebhookIndex()
    index.upsert(webhook("w", object_ids=["a1"], event_types=["Appointment.*", "Task.create"]))
    index.upsert(webhook("w", object_ids=["a2"], event_types=["Task.create"], version=2))
    assert index.candidates(_event()) == {}
    assert list(index.candidates(_event("Task.create", "a2"))) == ["w"]
    index.upsert(webhook("w", active=False, version=3))
    assert len(index) == 0
    assert index._buckets == {}


def test_invalid_filter_is_not_indexed() -> None:
    index = WebhookIndex()
    index.upsert(webhook("bad", filter={"data.x": {"$regex": "."}}))
    assert len(index) == 0
    assert "unknown operator" in index.rejected["bad"]
    index.remove("bad")
    assert index.rejected == {}
