"""Table tests of the filter language (pure)."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import pytest

from webhook_core.filters import MAX_DEPTH, FilterError, FilterEvaluationError, compile_filter

APPOINTMENT: dict[str, Any] = {
    "type": "Appointment.update",
    "object_type": "Appointment",
    "object_id": "a1",
    "integration_id": "ehr",
    "data": {
        "resourceType": "Appointment",
        "id": "a1",
        "status": "booked",
        "minutesDuration": 30,
        "start": "2024-05-01T10:00:00Z",
        "participant": [
            {"actor": {"reference": "Patient/p1"}, "status": "accepted"},
            {"actor": {"reference": "Practitioner/dr7"}, "status": "accepted"},
        ],
        "serviceType": [{"coding": [{"system": "http://snomed.info/sct", "code": "57"}]}],
        "cancelled": False,
        "note": None,
    },
}


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"data.status": "booked"}, True),
        ({"data.status": "cancelled"}, False),
        ({"data.status": {"$eq": "booked"}}, True),
        ({"data.status": {"$ne": "booked"}}, False),
        ({"data.status": {"$in": ["booked", "arrived"]}}, True),
        ({"data.status": {"$nin": ["booked", "arrived"]}}, False),
        ({"data.participant.actor.reference": {"$prefix": "Practitioner/"}}, True),
        ({"data.participant.actor.reference": "Patient/p1"}, True),
        ({"data.participant.actor.reference": {"$ne": "Patient/p1"}}, False),
        ({"data.participant.0.actor.reference": "Patient/p1"}, True),
        ({"data.participant.1.actor.reference": "Patient/p1"}, False),
        ({"data.participant.9.actor.reference": "Patient/p1"}, False),
        ({"data.serviceType.coding.code": "57"}, True),
        ({"data.participant.actor.reference": {"$contains": "dr"}}, True),
        ({"data.minutesDuration": {"$gte": 30, "$lt": 60}}, True),
        ({"data.minutesDuration": {"$gt": 30}}, False),
        ({"data.start": {"$gte": "2024-05-01", "$lt": "2024-05-02"}}, True),
        ({"data.minutesDuration": 30.0}, True),
        ({"data.cancelled": False}, True),
        ({"data.cancelled": 0}, False),  # booleans and numbers are different kinds
        ({"data.note": {"$exists": True}}, False),  # null counts as absent
        ({"data.missing": {"$exists": False}}, True),
        ({"data.status": {"$exists": True}}, True),
        ({"data.missing": {"$gt": 1}}, False),
        ({"data.missing": {"$ne": "x"}}, True),
        ({"type": {"$prefix": "Appointment."}, "object_id": "a1"}, True),
        ({"integration_id": "other"}, False),
        ({"$or": [{"data.status": "cancelled"}, {"object_type": "Appointment"}]}, True),
        ({"$and": [{"data.status": "booked"}, {"object_type": "Task"}]}, False),
        ({"$not": {"data.status": "booked"}}, False),
        ({"$not": {"$not": {"data.status": "booked"}}}, True),
    ],
)
def test_matches(doc: dict[str, Any], expected: bool) -> None:
    assert compile_filter(doc).matches(APPOINTMENT) is expected


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"data.status": {"$in": "booked"}}, "filter.data.status.$in: expected a list"),
        ({"data.status": {"$regex": "b.*"}}, "filter.data.status.$regex: unknown operator"),
        ({"$in": ["x"]}, "filter.$in: unknown operator at document level"),
        ({"$and": {"a": 1}}, "filter.$and: expected a list"),
        ({"$and": []}, "filter.$and: expected at least one"),
        ({"$or": [1]}, "filter.$or[0]: expected an object"),
        ({"foo": 1}, "filter.foo: unknown path"),
        ({"type.x": 1}, "filter.type.x: unknown path"),
        ({"data..x": 1}, "empty segment"),
        ({}, "filter: empty filter object"),
        ({"data.x": {"$gt": True}}, "filter.data.x.$gt: expected a number or a string"),
        ({"data.x": {"$gt": None}}, "expected a number or a string"),
        ({"data.x": {"$exists": "yes"}}, "filter.data.x.$exists: expected true or false"),
        ({"data.x": {"$prefix": 3}}, "filter.data.x.$prefix: expected a string"),
        ({"data.x": {"$eq": [1]}}, "expected a string, number, boolean or null"),
        ({"data.x": {"a": 1}}, "expected a scalar or an object of operators"),
        ({"data.x": {"$in": ["a", {"b": 1}]}}, "filter.data.x.$in[1]"),
        ({"data.x": "y" * 2000}, "longer than"),
        ({"data." + ".".join(["a"] * 20): 1}, "segments"),
    ],
)
def test_invalid_documents_name_the_path(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(FilterError) as info:
        compile_filter(doc)
    assert message in str(info.value)


def test_depth_limit() -> None:
    doc: dict[str, Any] = {"data.status": "booked"}
    for _ in range(MAX_DEPTH - 1):
        doc = {"$not": doc}
    compile_filter(doc)  # exactly at the limit
    with pytest.raises(FilterError, match="nested deeper than 8"):
        compile_filter({"$not": doc})


def test_size_limit() -> None:
    with pytest.raises(FilterError, match="too large"):
        compile_filter({"$and": [{"data.a": i} for i in range(300)]})


def test_non_mapping_document() -> None:
    with pytest.raises(FilterError, match="filter: expected an object, got a list"):
        compile_filter([])  # type: ignore[arg-type]


def test_type_mismatch_cannot_be_evaluated() -> None:
    compiled = compile_filter({"data.status": {"$gt": 5}})
    with pytest.raises(FilterEvaluationError, match=r"\$gt compares a number with a string"):
        compiled.matches(APPOINTMENT)


def test_paths_resolve_through_any_mapping_not_only_dicts() -> None:
    # resolve() takes a fast path for dict; other mappings (a read-only view) must resolve the same.
    flt = compile_filter({"data.items.v": {"$in": [2]}, "data.kind": "x"})
    items = [MappingProxyType({"v": 1}), {"v": 2}]
    assert flt.matches(MappingProxyType({"data": MappingProxyType({"items": items, "kind": "x"})})) is True
    assert flt.matches({"data": MappingProxyType({"items": items[:1], "kind": "x"})}) is False
