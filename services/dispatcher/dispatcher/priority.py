"""Priority routing: integration rules (contacts, contact lists, event types) and webhook priority."""

from __future__ import annotations

from typing import Any

from contracts.webhooks import Priority, PriorityRulesV1, WebhookConfigV1
from dispatcher.enrichment import linkable_person
from dispatcher.events import NormalisedEvent, id_text


def contact_list_ids(event: NormalisedEvent) -> set[str]:
    """Contact lists an event is about: the object itself, the filter, or ``resources.contact_list_id``."""
    ids: set[str] = set()
    if event.object_type == "contact_list":
        ids.add(event.object_id)
    data = event.data
    if data.get("filter_type") == "contact_list":
        filter_id = id_text(data.get("filter_id"))
        if filter_id:
            ids.add(filter_id)
    resources = data.get("resources")
    if isinstance(resources, dict):
        list_id = id_text(resources.get("contact_list_id"))
        if list_id:
            ids.add(list_id)
    return ids


def _contact_ids(event: NormalisedEvent, person: dict[str, Any] | None) -> set[str]:
    ids: set[str] = set()
    if event.object_type == "contact":
        ids.add(event.object_id)
    if person is not None:
        pid = id_text(person.get("id"))
        if pid:
            ids.add(pid)
    resources = event.data.get("resources")
    if isinstance(resources, dict):
        cid = id_text(resources.get("contact_id"))
        if cid:
            ids.add(cid)
    return ids


def rules_priority(event: NormalisedEvent, rules: PriorityRulesV1 | None) -> bool:
    """Whether the integration's priority rules make this event priority (for every webhook)."""
    if rules is None:
        return False
    if event.event_type in rules.event_types:
        return True
    if event.source != "surveymonkey":
        return False
    found = linkable_person(event)
    person = found[1] if found else None
    if rules.contact_ids and not _contact_ids(event, person).isdisjoint(rules.contact_ids):
        return True
    if rules.contact_list_ids and not contact_list_ids(event).isdisjoint(rules.contact_list_ids):
        return True
    if person is not None and rules.custom_field_rules:
        fields = person.get("custom_fields")
        if isinstance(fields, dict):
            for rule in rules.custom_field_rules:
                value = fields.get(rule.field)
                if isinstance(value, str) and value.strip().casefold() == rule.equals.strip().casefold():
                    return True
    return False


def job_priority(event_is_priority: bool, webhook: WebhookConfigV1) -> Priority:
    """A job is high priority when the rules say so or the webhook itself is high priority."""
    return "high" if event_is_priority or webhook.priority == "high" else "normal"
