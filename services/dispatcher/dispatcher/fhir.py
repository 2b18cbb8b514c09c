"""FHIR resources and Bundles -> normalised events (one per resource entry).

Accepted: a single resource (interaction from the ``fhir-interaction`` header, default ``update``);
Bundles of type ``history`` (R4/R4B backport notifications: a leading Parameters / SubscriptionStatus
entry is skipped), ``subscription-notification`` (R5, leading SubscriptionStatus skipped),
``transaction`` and ``batch`` (interaction from ``entry.request.method``). An entry without a
``resource`` (id-only payloads, DELETE) is described by its ``request.url`` / ``fullUrl``.

Event id: ``<Type>/<id>/_history/<versionId>:<interaction>``, or ``<Type>/<id>/_hash/<sha256/16>:<interaction>``
when there is no versionId, so re-publishing the same content yields the same id.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from typing import Any

from contracts.catalogs import FHIR_INTERACTIONS, FHIR_RESOURCE_TYPES
from dispatcher.events import EntryError, InvalidInputError, NormalisedEvent, ParseResult, parse_time

DEFAULT_INTEGRATION = "ehr"
DEFAULT_INTERACTION = "update"
NOTIFICATION_BUNDLES = frozenset({"history", "subscription-notification"})
REQUEST_BUNDLES = frozenset({"transaction", "batch"})
STATUS_RESOURCES = frozenset({"SubscriptionStatus", "Parameters"})
METHOD_INTERACTIONS = {"POST": "create", "PUT": "update", "PATCH": "update", "DELETE": "delete"}
_ID = re.compile(r"^[A-Za-z0-9.\-]{1,64}$")


def parse_fhir(
    doc: object, integration_id: str, interaction: str | None, kafka_time: datetime
) -> ParseResult:
    """Parse a resource or Bundle (raises InvalidInputError when nothing in it is usable)."""
    if interaction is not None and interaction not in FHIR_INTERACTIONS:
        raise InvalidInputError(
            f"fhir-interaction header: expected create, update or delete, got {interaction[:20]!r}"
        )
    default = interaction or DEFAULT_INTERACTION
    if not isinstance(doc, dict):
        raise InvalidInputError("expected a JSON object (a FHIR resource or Bundle)")
    if doc.get("resourceType") != "Bundle":
        return ParseResult(events=[_event(doc, default, integration_id, kafka_time)])
    bundle_type = doc.get("type")
    if bundle_type not in NOTIFICATION_BUNDLES | REQUEST_BUNDLES:
        raise InvalidInputError(
            f"Bundle.type: expected history, subscription-notification, transaction or batch, got {str(bundle_type)[:30]!r}"
        )
    entries = doc.get("entry", [])
    if not isinstance(entries, list):
        raise InvalidInputError("Bundle.entry: expected a list")
    result = ParseResult()
    for index, entry in enumerate(entries):
        if index == 0 and bundle_type in NOTIFICATION_BUNDLES and _is_status(entry):
            continue  # the notification's own status, not a change
        try:
            result.events.append(_entry_event(entry, str(bundle_type), default, integration_id, kafka_time))
        except InvalidInputError as exc:
            result.errors.append(EntryError(index=index, reason=f"Bundle.entry[{index}]: {exc}"))
    return result


def _is_status(entry: object) -> bool:
    return (
        isinstance(entry, dict)
        and isinstance(entry.get("resource"), dict)
        and entry["resource"].get("resourceType") in STATUS_RESOURCES
    )


def _entry_event(
    entry: object, bundle_type: str, default: str, integration_id: str, kafka_time: datetime
) -> NormalisedEvent:
    if not isinstance(entry, dict):
        raise InvalidInputError("expected an object")
    request = entry.get("request")
    interaction = default
    url: str | None = None
    if request is not None:
        if not isinstance(request, dict):
            raise InvalidInputError("request: expected an object")
        method = request.get("method")
        if method not in METHOD_INTERACTIONS:
            raise InvalidInputError(
                f"request.method: expected POST, PUT, PATCH or DELETE, got {str(method)[:10]!r}"
            )
        interaction = METHOD_INTERACTIONS[str(method)]
        raw_url = request.get("url")
        url = raw_url if isinstance(raw_url, str) else None
    elif bundle_type in REQUEST_BUNDLES:
        raise InvalidInputError(f"request: required in a {bundle_type} bundle")
    resource = entry.get("resource")
    full_url = entry.get("fullUrl") if isinstance(entry.get("fullUrl"), str) else None
    patch = request is not None and request.get("method") == "PATCH"
    if resource is None or patch:
        # A PATCH entry carries the patch document, not the resource; id-only and DELETE carry none.
        resource = _reference_stub(url, full_url)
        if resource is None:
            raise InvalidInputError("no resource, and neither request.url nor fullUrl names Type/id")
    elif not isinstance(resource, dict):
        raise InvalidInputError("resource: expected an object")
    elif "id" not in resource:
        stub = _reference_stub(url, full_url)
        if stub is not None and stub["resourceType"] == resource.get("resourceType"):
            resource = {**resource, "id": stub["id"]}
    return _event(resource, interaction, integration_id, kafka_time)


def _reference_stub(url: str | None, full_url: str | None) -> dict[str, Any] | None:
    for candidate in (url, full_url):
        if not candidate:
            continue
        if candidate.startswith("urn:uuid:"):
            continue
        path = candidate.split("?", 1)[0].rstrip("/")
        parts = path.split("/")
        if len(parts) >= 2 and parts[-2] in FHIR_RESOURCE_TYPES and _ID.match(parts[-1]):
            return {"resourceType": parts[-2], "id": parts[-1]}
    return None


def _event(
    resource: dict[str, Any], interaction: str, integration_id: str, kafka_time: datetime
) -> NormalisedEvent:
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str) or not resource_type:
        raise InvalidInputError("resourceType: missing")
    if resource_type not in FHIR_RESOURCE_TYPES:
        raise InvalidInputError(f"resourceType: {resource_type[:40]!r} is not a supported FHIR resource type")
    rid = resource.get("id")
    if not isinstance(rid, str) or not _ID.match(rid):
        raise InvalidInputError(f"{resource_type}.id: missing or not a FHIR id")
    meta = resource.get("meta")
    if meta is not None and not isinstance(meta, dict):
        raise InvalidInputError(f"{resource_type}.meta: expected an object")
    meta = meta or {}
    version = meta.get("versionId")
    if isinstance(version, str) and version:
        event_id = f"{resource_type}/{rid}/_history/{version}:{interaction}"
    else:
        canonical = json.dumps(resource, sort_keys=True, separators=(",", ":")).encode()
        event_id = f"{resource_type}/{rid}/_hash/{hashlib.sha256(canonical).hexdigest()[:16]}:{interaction}"
    last_updated = meta.get("lastUpdated")
    event_time = parse_time(last_updated, f"{resource_type}.meta.lastUpdated") if last_updated else kafka_time
    return NormalisedEvent(
        source="fhir",
        integration_id=integration_id,
        event_id=event_id,
        event_type=f"{resource_type}.{interaction}",
        object_type=resource_type,
        object_id=rid,
        event_time=event_time,
        data=resource,
        object_types=frozenset({resource_type}),
        object_ids=frozenset({rid, f"{resource_type}/{rid}"}),
    )
