"""FHIR search-style subscription criteria (``Appointment?status=booked``) compiled to the filter language.

Supported: ``<ResourceType>?<param>=<value>[&...]`` where the resource type is in the FHIR catalog and
each parameter is in :data:`SEARCH_PARAMETERS` for that type (plus ``_id`` and ``_lastUpdated``).
Parameters are ANDed; a comma in a value means any of (``status=booked,arrived``). Modifiers:
``:not`` (none of) and ``:missing=true|false``; date parameters accept the prefixes
``eq ge gt le lt``. Reference values are ``Type/id`` (a bare id is accepted when the parameter has
one target type, e.g. ``patient=123`` means ``Patient/123``). Token values are ``code`` or
``system|code``; for a CodeableConcept the system and the code are each checked against any coding
(the filter language does not tie them to the same coding). String parameters match a case-sensitive
prefix. Chained parameters, ``_has``, ``_include`` and other modifiers are rejected with a
:class:`~webhook_core.filters.FilterError` naming the parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import unquote

from contracts.catalogs import FHIR_RESOURCE_TYPES
from webhook_core.filters import MAX_LIST, FilterError, compile_filter

Kind = Literal["code", "concept", "identifier", "reference", "string", "date", "bool"]
MAX_CRITERIA_LENGTH = 2048


@dataclass(frozen=True)
class SearchParam:
    """One search parameter: how to match it and where in the resource (paths ORed)."""

    kind: Kind
    paths: tuple[str, ...]
    target: str | None = None
    """For references with a single target type: the type a bare id refers to."""


def _p(kind: Kind, *paths: str, target: str | None = None) -> SearchParam:
    return SearchParam(kind, paths, target)


_SUBJECT = _p("reference", "subject")
_PATIENT_SUBJECT = _p("reference", "subject", target="Patient")
_STATUS = _p("code", "status")
_CODE = _p("concept", "code")
_CATEGORY = _p("concept", "category")
_IDENTIFIER = _p("identifier", "identifier")
_ACTIVE = _p("bool", "active")
_TELECOM = _p("string", "telecom.value")
_CLINICAL_RESULT = {
    "status": _STATUS,
    "code": _CODE,
    "category": _CATEGORY,
    "subject": _SUBJECT,
    "patient": _PATIENT_SUBJECT,
    "encounter": _p("reference", "encounter", target="Encounter"),
    "date": _p("date", "effectiveDateTime"),
}
"""Observation and DiagnosticReport share these parameters."""

SEARCH_PARAMETERS: dict[str, dict[str, SearchParam]] = {
    "Appointment": {
        "status": _STATUS,
        "actor": _p("reference", "participant.actor"),
        "patient": _p("reference", "participant.actor", target="Patient"),
        "practitioner": _p("reference", "participant.actor", target="Practitioner"),
        "location": _p("reference", "participant.actor", target="Location"),
        "slot": _p("reference", "slot", target="Slot"),
        "service-type": _p("concept", "serviceType", "serviceType.concept"),
        "appointment-type": _p("concept", "appointmentType"),
        "date": _p("date", "start"),
    },
    "Task": {
        "status": _STATUS,
        "owner": _p("reference", "owner"),
        "patient": _p("reference", "for", target="Patient"),
        "subject": _p("reference", "for"),
        "focus": _p("reference", "focus"),
        "requester": _p("reference", "requester"),
        "priority": _p("code", "priority"),
        "intent": _p("code", "intent"),
        "business-status": _p("concept", "businessStatus"),
        "code": _CODE,
        "authored-on": _p("date", "authoredOn"),
        "modified": _p("date", "lastModified"),
    },
    "Patient": {
        "organization": _p("reference", "managingOrganization", target="Organization"),
        "general-practitioner": _p("reference", "generalPractitioner"),
        "identifier": _IDENTIFIER,
        "family": _p("string", "name.family"),
        "given": _p("string", "name.given"),
        "gender": _p("code", "gender"),
        "birthdate": _p("date", "birthDate"),
        "active": _ACTIVE,
        "email": _TELECOM,
        "phone": _TELECOM,
        "telecom": _TELECOM,
    },
    "Slot": {
        "status": _STATUS,
        "schedule": _p("reference", "schedule", target="Schedule"),
        "start": _p("date", "start"),
        "service-type": _p("concept", "serviceType", "serviceType.concept"),
    },
    "Schedule": {"actor": _p("reference", "actor"), "active": _ACTIVE},
    "Observation": _CLINICAL_RESULT,
    "DiagnosticReport": {**_CLINICAL_RESULT, "issued": _p("date", "issued")},
    "Encounter": {
        "status": _STATUS,
        "class": _p("code", "class.code", "class.coding.code"),
        "subject": _SUBJECT,
        "patient": _PATIENT_SUBJECT,
        "participant": _p("reference", "participant.individual", "participant.actor"),
        "location": _p("reference", "location.location", target="Location"),
        "service-provider": _p("reference", "serviceProvider", target="Organization"),
    },
    "CarePlan": {
        "status": _STATUS,
        "intent": _p("code", "intent"),
        "category": _CATEGORY,
        "subject": _SUBJECT,
        "patient": _PATIENT_SUBJECT,
    },
    "CareTeam": {
        "status": _STATUS,
        "category": _CATEGORY,
        "subject": _SUBJECT,
        "patient": _PATIENT_SUBJECT,
        "participant": _p("reference", "participant.member"),
    },
    "PractitionerRole": {
        "practitioner": _p("reference", "practitioner", target="Practitioner"),
        "organization": _p("reference", "organization", target="Organization"),
        "location": _p("reference", "location", target="Location"),
        "role": _p("concept", "code"),
        "specialty": _p("concept", "specialty"),
        "active": _ACTIVE,
    },
    "ServiceRequest": {
        "status": _STATUS,
        "intent": _p("code", "intent"),
        "priority": _p("code", "priority"),
        "code": _p("concept", "code", "code.concept"),
        "category": _CATEGORY,
        "subject": _SUBJECT,
        "patient": _PATIENT_SUBJECT,
        "requester": _p("reference", "requester"),
    },
    "MedicationRequest": {
        "status": _STATUS,
        "intent": _p("code", "intent"),
        "subject": _SUBJECT,
        "patient": _PATIENT_SUBJECT,
        "requester": _p("reference", "requester"),
        "code": _p("concept", "medicationCodeableConcept", "medication.concept"),
    },
    "Condition": {
        "clinical-status": _p("concept", "clinicalStatus"),
        "code": _CODE,
        "category": _CATEGORY,
        "subject": _SUBJECT,
        "patient": _PATIENT_SUBJECT,
    },
    "QuestionnaireResponse": {
        "status": _STATUS,
        "questionnaire": _p("string", "questionnaire"),
        "subject": _SUBJECT,
        "patient": _PATIENT_SUBJECT,
    },
    "Practitioner": {
        "identifier": _IDENTIFIER,
        "family": _p("string", "name.family"),
        "given": _p("string", "name.given"),
        "active": _ACTIVE,
        "email": _TELECOM,
        "phone": _TELECOM,
    },
    "Organization": {
        "identifier": _IDENTIFIER,
        "name": _p("string", "name"),
        "type": _p("concept", "type"),
        "active": _ACTIVE,
    },
    "Location": {
        "status": _STATUS,
        "name": _p("string", "name"),
        "organization": _p("reference", "managingOrganization", target="Organization"),
    },
    "AllergyIntolerance": {
        "patient": _p("reference", "patient", target="Patient"),
        "clinical-status": _p("concept", "clinicalStatus"),
        "code": _CODE,
    },
    "Procedure": {"status": _STATUS, "code": _CODE, "subject": _SUBJECT, "patient": _PATIENT_SUBJECT},
    "Immunization": {
        "status": _STATUS,
        "patient": _p("reference", "patient", target="Patient"),
        "vaccine-code": _p("concept", "vaccineCode"),
    },
    "Coverage": {
        "status": _STATUS,
        "beneficiary": _p("reference", "beneficiary", target="Patient"),
        "patient": _p("reference", "beneficiary", target="Patient"),
        "payor": _p("reference", "payor"),
    },
}

COMMON_PARAMETERS: dict[str, SearchParam] = {
    "_id": _p("code", "id"),
    "_lastUpdated": _p("date", "meta.lastUpdated"),
}

_DATE_PREFIXES = {"eq": "$eq", "ge": "$gte", "gt": "$gt", "le": "$lte", "lt": "$lt"}


@dataclass(frozen=True)
class ParsedCriteria:
    """The resource type of a criteria string and the equivalent filter document."""

    resource_type: str
    filter: dict[str, Any]


def parse_criteria(criteria: str) -> ParsedCriteria:
    """Parse and validate a criteria string (raises FilterError naming the part that is wrong)."""
    text = criteria.strip()
    if not text:
        raise FilterError("criteria: empty")
    if len(text) > MAX_CRITERIA_LENGTH:
        raise FilterError(f"criteria: longer than {MAX_CRITERIA_LENGTH} characters")
    resource_type, _, query = text.partition("?")
    if resource_type not in FHIR_RESOURCE_TYPES:
        raise FilterError(
            f"criteria: unknown resource type {resource_type!r}; expected one of {', '.join(sorted(FHIR_RESOURCE_TYPES))}"
        )
    clauses: list[dict[str, Any]] = [{"object_type": resource_type}]
    params = {**COMMON_PARAMETERS, **SEARCH_PARAMETERS.get(resource_type, {})}
    for part in query.split("&") if query else []:
        if not part:
            continue
        name, eq, raw_value = part.partition("=")
        where = f"criteria.{name}"
        if not eq:
            raise FilterError(f"{where}: expected <parameter>=<value>")
        name, _, modifier = unquote(name).partition(":")
        where = f"criteria.{name}"
        spec = params.get(name)
        if spec is None:
            known = ", ".join(sorted(params))
            raise FilterError(
                f"{where}: unsupported search parameter for {resource_type}; supported: {known}"
            )
        values = [unquote(v) for v in raw_value.split(",")]
        if any(not v for v in values):
            raise FilterError(f"{where}: empty value")
        if len(values) > MAX_LIST:
            raise FilterError(f"{where}: more than {MAX_LIST} values")
        clauses.append(_clause(spec, modifier, values, where))
    doc: dict[str, Any] = {"$and": clauses} if len(clauses) > 1 else clauses[0]
    compile_filter(doc)  # the generated document must itself be a valid filter (size limits)
    return ParsedCriteria(resource_type=resource_type, filter=doc)


def compile_criteria(criteria: str) -> dict[str, Any]:
    """FHIR search-style criteria -> filter document (the resource type becomes an object_type clause)."""
    return parse_criteria(criteria).filter


def _clause(spec: SearchParam, modifier: str, values: list[str], where: str) -> dict[str, Any]:
    if modifier == "missing":
        if values not in (["true"], ["false"]):
            raise FilterError(f"{where}:missing: expected true or false")
        exists = values == ["false"]
        paths = [_value_paths(spec, p)[0] for p in spec.paths]
        return (
            _any_path({p: {"$exists": True} for p in paths})
            if exists
            else {"$and": [{p: {"$exists": False}} for p in paths]}
        )
    if modifier not in ("", "not"):
        raise FilterError(f"{where}: unsupported modifier :{modifier}; supported: :not, :missing")
    alternatives = [_value_clause(spec, v, where) for v in values]
    clause = alternatives[0] if len(alternatives) == 1 else {"$or": alternatives}
    return {"$not": clause} if modifier == "not" else clause


def _value_paths(spec: SearchParam, path: str) -> list[str]:
    base = f"data.{path}"
    if spec.kind == "concept":
        return [f"{base}.coding.code", f"{base}.coding.system"]
    if spec.kind == "identifier":
        return [f"{base}.value", f"{base}.system"]
    if spec.kind == "reference":
        return [f"{base}.reference"]
    return [base]


def _value_clause(spec: SearchParam, value: str, where: str) -> dict[str, Any]:
    per_path: list[dict[str, Any]] = []
    for path in spec.paths:
        paths = _value_paths(spec, path)
        if spec.kind in ("concept", "identifier"):
            system, bar, code = value.rpartition("|")
            pred: dict[str, Any] = {paths[0]: code} if code else {}
            if bar and system:
                pred[paths[1]] = system
            if not pred:
                raise FilterError(f"{where}: expected code or system|code")
            per_path.append(pred)
        elif spec.kind == "reference":
            per_path.append({paths[0]: _reference(spec, value, where)})
        elif spec.kind == "bool":
            if value not in ("true", "false"):
                raise FilterError(f"{where}: expected true or false")
            per_path.append({paths[0]: value == "true"})
        elif spec.kind == "string":
            per_path.append({paths[0]: {"$prefix": value}})
        elif spec.kind == "date":
            op = "$eq"
            if len(value) > 2 and value[:2] in _DATE_PREFIXES and not value[:2].isdigit():
                op, value = _DATE_PREFIXES[value[:2]], value[2:]
            # ISO-8601 strings of the same precision order lexicographically.
            per_path.append({paths[0]: {op: value} if op != "$eq" else {"$prefix": value}})
        else:
            per_path.append({paths[0]: value})
    return per_path[0] if len(per_path) == 1 else {"$or": per_path}


def _reference(spec: SearchParam, value: str, where: str) -> str:
    if "/" in value:
        kind, _, ident = value.rstrip("/").rpartition("/")
        resource = kind.rsplit("/", 1)[-1]
        if not ident or not resource:
            raise FilterError(f"{where}: expected Type/id, got {value!r}")
        return f"{resource}/{ident}"
    if spec.target is None:
        raise FilterError(f"{where}: expected Type/id (this parameter refers to several resource types)")
    return f"{spec.target}/{value}"


def _any_path(preds: dict[str, Any]) -> dict[str, Any]:
    items = [{k: v} for k, v in preds.items()]
    return items[0] if len(items) == 1 else {"$or": items}
