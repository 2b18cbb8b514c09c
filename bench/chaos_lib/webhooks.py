"""The chaos webhook set and an independent matcher.

The matcher re-implements, from the issue's text and without importing the dispatcher or
``webhook_core.filters``, the subset of the matching rules the scenario's webhooks use: event types
(exact, ``Type.*``, ``*``), object types and object ids (with SurveyMonkey scopes), the filter
operators ``$eq $ne $in $nin $prefix $exists`` with ``$and $or $not``, and FHIR ``criteria`` on
``status``. Expected deliveries computed with it are therefore a second opinion, not a copy.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from chaos_lib.events import PRACTITIONERS, SURVEYS, EventFacts

FAST_RETRY = {
    "max_attempts": 6,
    "initial_delay_ms": 500,
    "multiplier": 2,
    "max_delay_ms": 4000,
    "jitter": 0.2,
}
FRAGILE_RETRY = {
    "max_attempts": 2,
    "initial_delay_ms": 500,
    "multiplier": 2,
    "max_delay_ms": 2000,
    "jitter": 0.2,
}
PATIENT_RETRY = {
    "max_attempts": 10,
    "initial_delay_ms": 1000,
    "multiplier": 2,
    "max_delay_ms": 16000,
    "jitter": 0.2,
}


@dataclass
class WebhookSpec:
    """One webhook of the scenario: its label (receiver path) and the create body."""

    label: str
    integration_id: str
    body: dict[str, Any]
    webhook_id: str | None = None
    secrets: list[str] = field(default_factory=list)


def _sm(label: str, event_types: list[str], **extra: Any) -> WebhookSpec:
    return WebhookSpec(label, "surveymonkey", {"name": f"chaos {label}", "event_types": event_types, **extra})


def _fhir(label: str, event_types: list[str], **extra: Any) -> WebhookSpec:
    return WebhookSpec(label, "ehr", {"name": f"chaos {label}", "event_types": event_types, **extra})


def chaos_webhooks(count: int = 50, seed: int = 8) -> list[WebhookSpec]:
    """``count`` webhooks, half SurveyMonkey and half FHIR (a fixed core, then seeded variations)."""
    s = SURVEYS
    sm = [
        _sm("s00", ["response_completed"], filter={"data.filter_type": "survey"}),
        _sm("s01", ["response_completed", "response_updated"], object_types=["survey"], object_ids=[s[1]]),
        _sm("s02", ["*"], object_types=["survey"], object_ids=[s[2]], retry_policy=FRAGILE_RETRY),
        _sm("s03", ["*"], object_types=["collector"], object_ids=[f"{s[3]}0"]),
        _sm(
            "s04",
            ["response_completed", "response_created"],
            object_types=["collector"],
            object_ids=[f"{s[0]}0", f"{s[1]}1"],
        ),
        _sm("s05", ["contact_created", "contact_updated"], priority="high"),
        _sm("s06", ["contact_list_contacts_added", "contact_list_created"]),
        _sm("s07", ["survey_updated", "collector_created", "collector_updated"]),
        _sm("s08", ["response_completed"], filter={"data.resources.survey_id": {"$in": [s[4], s[5]]}}),
        _sm("s09", ["response_disqualified", "response_overquota", "response_deleted"], priority="high"),
        _sm("s10", ["response_created"], filter={"data.filter_type": "collector"}),
        _sm(
            "s11",
            ["contact_created", "contact_updated"],
            filter={"data.resources.contact.custom_fields.3": {"$eq": "high"}},
        ),
        _sm("s12", ["response_completed"], object_ids=[s[6]]),
    ]
    fh = [
        _fhir("f00", ["Appointment.create"]),
        _fhir(
            "f01",
            ["Appointment.update"],
            filter={"data.status": {"$in": ["booked", "arrived"]}},
        ),
        _fhir(
            "f02",
            ["Appointment.*"],
            filter={"data.participant.actor.reference": {"$eq": PRACTITIONERS[0]}},
            retry_policy=FRAGILE_RETRY,
        ),
        _fhir("f03", ["Task.*"], criteria="Task?status=requested"),
        _fhir("f04", ["Patient.create"], priority="high"),
        _fhir("f05", ["Observation.create", "Observation.update"], filter={"data.status": "final"}),
        _fhir("f06", ["*"], object_types=["Condition"], retry_policy=FRAGILE_RETRY),
        _fhir("f07", ["Encounter.*"], retry_policy=PATIENT_RETRY),
        _fhir("f08", ["*"], filter={"data.subject.reference": {"$in": ["Patient/pt-7", "Patient/pt-8"]}}),
        _fhir("f09", ["Task.update"], priority="high"),
        _fhir("f10", ["Appointment.delete", "Task.delete", "Observation.delete"]),
        _fhir(
            "f11",
            ["Appointment.update"],
            filter={"$or": [{"data.status": "cancelled"}, {"data.status": "proposed"}]},
        ),
    ]
    rng = random.Random(seed)
    sm_types = [
        "response_completed",
        "response_created",
        "response_updated",
        "survey_updated",
        "response_deleted",
    ]
    fhir_types = ["Appointment", "Task", "Observation", "Encounter", "Condition", "CarePlan", "Patient"]
    i = len(sm)
    while len(sm) < count // 2:
        sm.append(
            _sm(f"s{i:02d}", rng.sample(sm_types, 2), object_types=["survey"], object_ids=[rng.choice(s)])
        )
        i += 1
    i = len(fh)
    while len(fh) < count - count // 2:
        rt = rng.choice(fhir_types)
        kind = rng.random()
        patients = [f"Patient/pt-{rng.randrange(40)}" for _ in range(3)]
        if kind < 0.4:
            flt = {"data.meta.versionId": {"$exists": True}, "data.subject.reference": {"$in": patients}}
            spec = _fhir(f"f{i:02d}", [f"{rt}.create", f"{rt}.update"], filter=flt)
        elif kind < 0.7:
            flt = {"$not": {"data.id": {"$prefix": "zz"}}, "data.for.reference": {"$in": patients}}
            spec = _fhir(f"f{i:02d}", [f"{rt}.update"], filter=flt)
        else:
            spec = _fhir(
                f"f{i:02d}", [f"{rt}.*"], object_ids=[f"{rt}/none-{i}"]
            )  # matches nothing: cost only
        fh.append(spec)
        i += 1
    specs = sm[: count // 2] + fh[: count - count // 2]
    for spec in specs:
        spec.body.setdefault("retry_policy", FAST_RETRY)
        spec.body.setdefault("timeout_ms", 2000)
    return specs


# --- the independent matcher --------------------------------------------------------------------


def _values(doc: Any, path: list[str]) -> list[Any]:
    """Every value at ``path`` (arrays anywhere along it fan out)."""
    if not path:
        return list(doc) if isinstance(doc, list) else [doc]
    if isinstance(doc, list):
        out: list[Any] = []
        for item in doc:
            out.extend(_values(item, path))
        return out
    if isinstance(doc, dict) and path[0] in doc:
        return _values(doc[path[0]], path[1:])
    return []


def _field_values(event: EventFacts, name: str) -> list[Any]:
    if name == "type":
        return [event.event_type]
    if name == "object_type":
        return [event.object_type]
    if name == "object_id":
        return [event.object_id]
    if name.startswith("data."):
        return _values(event.data, name[5:].split("."))
    return []


def _predicate(values: list[Any], cond: Any) -> bool:
    if not isinstance(cond, dict) or not any(str(k).startswith("$") for k in cond):
        return any(v == cond for v in values)
    for op, arg in cond.items():
        if op == "$eq":
            ok = any(v == arg for v in values)
        elif op == "$ne":
            ok = all(v != arg for v in values)
        elif op == "$in":
            ok = any(v in arg for v in values)
        elif op == "$nin":
            ok = all(v not in arg for v in values)
        elif op == "$prefix":
            ok = any(isinstance(v, str) and v.startswith(arg) for v in values)
        elif op == "$exists":
            ok = bool(values) == bool(arg)
        else:
            raise ValueError(f"the chaos matcher does not implement {op}")
        if not ok:
            return False
    return True


def filter_matches(flt: dict[str, Any], event: EventFacts) -> bool:
    """Evaluate a filter document on an event."""
    for key, cond in flt.items():
        if key == "$and":
            ok = all(filter_matches(c, event) for c in cond)
        elif key == "$or":
            ok = any(filter_matches(c, event) for c in cond)
        elif key == "$not":
            ok = not filter_matches(cond, event)
        else:
            ok = _predicate(_field_values(event, key), cond)
        if not ok:
            return False
    return True


def _event_type_matches(pattern: str, event_type: str) -> bool:
    if pattern in ("*", event_type):
        return True
    return pattern.endswith(".*") and event_type.startswith(pattern[:-1])


def matches(config: dict[str, Any] | None, integration_id: str, event: EventFacts) -> bool:
    """Whether a webhook (its current body; None = deleted) receives an event."""
    if config is None or not config.get("active", True) or integration_id != event.integration_id:
        return False
    if not any(_event_type_matches(p, event.event_type) for p in config["event_types"]):
        return False
    if config.get("object_types") and not event.object_types.intersection(config["object_types"]):
        return False
    if config.get("object_ids") and not event.object_ids.intersection(config["object_ids"]):
        return False
    criteria = config.get("criteria")
    if criteria:
        rtype, _, query = criteria.partition("?")
        if event.object_type != rtype:
            return False
        for part in filter(None, query.split("&")):
            name, _, value = part.partition("=")
            if name != "status":
                raise ValueError(f"the chaos matcher does not implement criteria parameter {name}")
            if event.data.get("status") != value:
                return False
    flt = config.get("filter")
    return not (flt and not filter_matches(flt, event))
