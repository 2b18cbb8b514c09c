"""Event-type and object-type catalogs of each integration type.

SurveyMonkey: its 12 v3 webhook events plus the contact events our SurveyMonkey connector
produces (SurveyMonkey has no contact webhooks; the connector polls contacts).
FHIR: ``<ResourceType>.<create|update|delete>`` for the resource types below.
carehooks: the platform's own operational events (``webhooks.ops``), delivered like any other event to
the webhooks of the built-in ``carehooks`` integration (docs/observability.md#operational-webhooks).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

IntegrationType = Literal["surveymonkey", "fhir", "custom"]


class CatalogEntry(BaseModel):
    """One event type or object type with a one-line description."""

    model_config = ConfigDict(frozen=True)

    name: str
    description: str


SURVEYMONKEY_EVENT_TYPES: dict[str, str] = {
    "response_created": "A respondent began a survey response.",
    "response_updated": "A survey response was updated.",
    "response_completed": "A survey response was completed.",
    "response_disqualified": "A survey response was disqualified.",
    "response_overquota": "A survey response went over a quota.",
    "response_deleted": "A survey response was deleted.",
    "collector_created": "A collector was created.",
    "collector_updated": "A collector was updated.",
    "collector_deleted": "A collector was deleted.",
    "survey_created": "A survey was created.",
    "survey_updated": "A survey was updated.",
    "survey_deleted": "A survey was deleted.",
    "contact_created": "A contact was created (SurveyMonkey connector).",
    "contact_updated": "A contact was updated (SurveyMonkey connector).",
    "contact_deleted": "A contact was deleted (SurveyMonkey connector).",
    "contact_list_created": "A contact list was created (SurveyMonkey connector).",
    "contact_list_updated": "A contact list was updated (SurveyMonkey connector).",
    "contact_list_deleted": "A contact list was deleted (SurveyMonkey connector).",
    "contact_list_contacts_added": "Contacts were added to a contact list (SurveyMonkey connector).",
    "contact_list_contacts_removed": "Contacts were removed from a contact list (SurveyMonkey connector).",
}

SURVEYMONKEY_OBJECT_TYPES: dict[str, str] = {
    "survey": "A survey; as a subscription scope it covers the survey's collectors and responses.",
    "collector": "A collector; as a subscription scope it covers the collector's responses.",
    "response": "A survey response.",
    "contact": "A contact in the SurveyMonkey address book.",
    "contact_list": "A contact list.",
}

FHIR_RESOURCE_TYPES: dict[str, str] = {
    "Patient": "Demographics of a person receiving care.",
    "CareTeam": "People and organisations who plan and take part in a patient's care.",
    "Appointment": "A booking of a healthcare event among patients, practitioners and locations.",
    "Schedule": "A container for the slots of time that may be booked.",
    "Slot": "A slot of time on a schedule that may be available for booking.",
    "PractitionerRole": "The roles and services a practitioner offers at an organisation.",
    "CarePlan": "How one or more practitioners intend to deliver care to a patient.",
    "Task": "A task to be performed.",
    "DiagnosticReport": "The findings and interpretation of diagnostic tests.",
    "Observation": "Measurements and simple assertions about a patient.",
    "Encounter": "An interaction between a patient and healthcare providers.",
    "Condition": "A clinical condition, problem or diagnosis.",
    "Practitioner": "A person with a formal role in providing care.",
    "Organization": "A formally recognised grouping of people or organisations.",
    "Location": "Details and position of a place where services are provided.",
    "ServiceRequest": "A request for a procedure or diagnostic service.",
    "MedicationRequest": "An order or request for a medication.",
    "QuestionnaireResponse": "A structured set of answers to a questionnaire.",
    "AllergyIntolerance": "Risk of a harmful or undesirable reaction to a substance.",
    "Procedure": "An action performed on or for a patient.",
    "Immunization": "An immunisation event.",
    "Coverage": "Insurance or payment coverage of a patient.",
}

CAREHOOKS_INTEGRATION = "carehooks"
"""Id of the built-in integration of operational events (a ``custom`` integration seeded by migration 007)."""

# Only types something produces are listed (docs/observability.md#operational-webhooks names the ones
# planned); adding one means a producer, an OpsKind in dispatcher.operational and a migration that
# updates the seeded row (latest: 009).
CAREHOOKS_EVENT_TYPES: dict[str, str] = {
    "webhook.deactivated": "A webhook was deactivated automatically (410 Gone, or it kept failing).",
    "webhook.failing": (
        "A webhook started failing: N deliveries in a row failed (CONFIG_API_FAILING_AFTER_FAILURES) or its "
        "recent success rate fell below CONFIG_API_FAILING_BELOW_SUCCESS_RATE."
    ),
    "webhook.recovered": "A webhook that was failing delivered successfully again.",
    "delivery.dead_lettered": "A delivery exhausted its attempts or failed permanently (dead letter).",
    "dlq.replay.completed": "A DLQ replay ended (completed, or failed with items left unsent); counts per state.",
}

CAREHOOKS_OBJECT_TYPES: dict[str, str] = {
    "webhook": "A webhook (object id = webhook id).",
    "delivery": "A delivery (object id = delivery id).",
    "replay": "A DLQ replay (object id = replay id).",
}

FHIR_INTERACTIONS: tuple[str, ...] = ("create", "update", "delete")

_INTERACTION_WORDS = {"create": "created", "update": "updated", "delete": "deleted"}


def fhir_event_types() -> dict[str, str]:
    """Every FHIR event type ``<ResourceType>.<interaction>`` with a description."""
    return {
        f"{rt}.{op}": f"A {rt} resource was {_INTERACTION_WORDS[op]}."
        for rt in FHIR_RESOURCE_TYPES
        for op in FHIR_INTERACTIONS
    }


def event_catalog(integration_type: IntegrationType) -> dict[str, str]:
    """Built-in event types of an integration type (custom integrations bring their own)."""
    if integration_type == "surveymonkey":
        return dict(SURVEYMONKEY_EVENT_TYPES)
    if integration_type == "fhir":
        return fhir_event_types()
    return {}


def object_catalog(integration_type: IntegrationType) -> dict[str, str]:
    """Built-in object types of an integration type (custom integrations bring their own)."""
    if integration_type == "surveymonkey":
        return dict(SURVEYMONKEY_OBJECT_TYPES)
    if integration_type == "fhir":
        return dict(FHIR_RESOURCE_TYPES)
    return {}


def event_type_pattern_valid(pattern: str, catalog: set[str], integration_type: IntegrationType) -> bool:
    """Whether a subscription's event-type entry is valid: exact, ``*``, or (FHIR) ``Resource.*``."""
    if pattern == "*" or pattern in catalog:
        return True
    if pattern.endswith(".*"):
        prefix = pattern[:-2]
        return any(name.startswith(prefix + ".") for name in catalog)
    return False


def event_type_matches(pattern: str, event_type: str) -> bool:
    """Whether one subscription pattern matches an event type."""
    if pattern == "*" or pattern == event_type:
        return True
    return pattern.endswith(".*") and event_type.startswith(pattern[:-1])
