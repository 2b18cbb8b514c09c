"""Event generators: SurveyMonkey callbacks, FHIR resources and bundles, and poison messages.

Every generated event carries a key the receiver can read back from a delivery's body
(``sm:<event_id>`` or ``fhir:<Type>/<id>``), so deliveries are attributed to published events
without relying on the dispatcher's own event ids. FHIR resource ids are unique per run, so each
bundle entry is its own event. Poison messages carry a ``chaos-poison-<n>`` marker in their bytes.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

SURVEYS = [str(20_000_001 + i) for i in range(8)]
COLLECTORS = {s: [f"{s}{j}" for j in range(2)] for s in SURVEYS}
PRACTITIONERS = [f"Practitioner/p{i}" for i in range(1, 6)]
CONTACT_LISTS = [str(40_000_001 + i) for i in range(4)]

SM_EVENT_MIX: list[tuple[str, int]] = [
    ("response_completed", 40),
    ("response_created", 10),
    ("response_updated", 8),
    ("response_disqualified", 3),
    ("response_overquota", 2),
    ("response_deleted", 3),
    ("collector_created", 2),
    ("collector_updated", 2),
    ("survey_updated", 4),
    ("contact_created", 10),
    ("contact_updated", 6),
    ("contact_list_contacts_added", 6),
    ("contact_list_created", 4),
]
FHIR_TYPES: list[tuple[str, int]] = [
    ("Appointment", 30),
    ("Task", 15),
    ("Patient", 12),
    ("Observation", 15),
    ("Encounter", 10),
    ("Condition", 8),
    ("CarePlan", 10),
]
_METHOD_INTERACTION = {"POST": "create", "PUT": "update", "PATCH": "update", "DELETE": "delete"}


@dataclass(frozen=True)
class EventFacts:
    """What the independent matcher needs to know about one event."""

    key: str
    integration_id: str
    event_type: str
    object_type: str
    object_id: str
    object_types: frozenset[str]
    object_ids: frozenset[str]
    data: dict[str, Any]


@dataclass
class Message:
    """One Kafka message to publish (a bundle carries several events)."""

    source: str  # "surveymonkey" | "fhir"
    value: bytes
    headers: list[tuple[str, bytes]]
    events: list[EventFacts] = field(default_factory=list)
    poison: str | None = None
    published_at: float = 0.0


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="microseconds")


def _weighted(rng: random.Random, table: list[tuple[str, int]]) -> str:
    return rng.choices([n for n, _ in table], weights=[w for _, w in table])[0]


class EventGenerator:
    """Deterministic (seeded) stream of messages; ``poison_rate`` of them are poison."""

    def __init__(self, seed: int = 8, poison_rate: float = 0.01, run_tag: str = "r") -> None:
        self.rng = random.Random(seed)
        self.poison_rate = poison_rate
        self.run_tag = run_tag
        self.n = 0

    def _next_id(self) -> int:
        self.n += 1
        return self.n

    def message(self, now: float) -> Message:
        """The next message, stamped with ``now`` as its event time."""
        if self.rng.random() < self.poison_rate:
            return self.poison()
        if self.rng.random() < 0.5:
            return self.surveymonkey(now)
        return self.fhir(now)

    # SurveyMonkey ------------------------------------------------------------------------------

    def surveymonkey(self, now: float, event_type: str | None = None) -> Message:
        """One SurveyMonkey callback body (or connector contact event)."""
        rng = self.rng
        n = self._next_id()
        etype = event_type or _weighted(rng, SM_EVENT_MIX)
        event_id = str(7_000_000_000 + n)
        survey = rng.choice(SURVEYS)
        collector = rng.choice(COLLECTORS[survey])
        body: dict[str, Any] = {
            "name": "chaos webhook",
            "event_type": etype,
            "event_id": event_id,
            "event_datetime": _iso(now),
        }
        if etype.startswith("response_"):
            filter_type = rng.choice(["survey", "collector"])
            body |= {
                "filter_type": filter_type,
                "filter_id": survey if filter_type == "survey" else collector,
                "object_type": "response",
                "object_id": str(90_000_000_000 + n),
                "resources": {"survey_id": survey, "collector_id": collector, "user_id": "555"},
            }
            if filter_type == "collector":
                body["resources"] |= {"respondent_id": str(80_000_000 + n), "recipient_id": str(60_000 + n)}
        elif etype.startswith("collector_"):
            body |= {
                "filter_type": "survey",
                "filter_id": survey,
                "object_type": "collector",
                "object_id": collector,
                "resources": {"survey_id": survey, "collector_id": collector, "user_id": "555"},
            }
        elif etype.startswith("survey_"):
            body |= {
                "filter_type": "survey",
                "filter_id": survey,
                "object_type": "survey",
                "object_id": survey,
                "resources": {"survey_id": survey, "user_id": "555"},
            }
        elif etype.startswith("contact_list"):
            lst = rng.choice(CONTACT_LISTS)
            body |= {
                "filter_type": "contact_list",
                "filter_id": lst,
                "object_type": "contact_list",
                "object_id": lst,
                "resources": {"contact_list_id": lst, "user_id": "555"},
            }
        else:
            contact_id = str(30_000_000 + n)
            body |= {
                "filter_type": "contact",
                "filter_id": contact_id,
                "object_type": "contact",
                "object_id": contact_id,
                "resources": {
                    "user_id": "555",
                    "contact": {
                        "id": contact_id,
                        "first_name": "Test",
                        "last_name": f"Person{n}",
                        "email": f" Person{n}@Example.org ",
                        "phone_number": f"+1 (415) 555-0{n % 1000:03d}",
                        "custom_fields": {"1": "Mr", "3": rng.choice(["high", "normal", "normal", "normal"])},
                    },
                },
            }
        object_types = {body["object_type"], body["filter_type"]}
        object_ids = {body["object_id"], body["filter_id"]}
        res = body["resources"]
        if "survey_id" in res:
            object_types.add("survey")
            object_ids.add(res["survey_id"])
        if "collector_id" in res:
            object_types.add("collector")
            object_ids.add(res["collector_id"])
        facts = EventFacts(
            key=f"sm:{event_id}",
            integration_id="surveymonkey",
            event_type=etype,
            object_type=body["object_type"],
            object_id=body["object_id"],
            object_types=frozenset(object_types),
            object_ids=frozenset(object_ids),
            data=body,
        )
        return Message("surveymonkey", json.dumps(body).encode(), [], [facts])

    # FHIR --------------------------------------------------------------------------------------

    def _resource(self, now: float, rtype: str) -> dict[str, Any]:
        rng = self.rng
        n = self._next_id()
        rid = f"{self.run_tag}{n:07d}"
        patient = f"Patient/pt-{rng.randrange(40)}"
        res: dict[str, Any] = {
            "resourceType": rtype,
            "id": rid,
            "meta": {"versionId": "1", "lastUpdated": _iso(now)},
        }
        if rtype == "Appointment":
            res |= {
                "status": rng.choice(["booked", "booked", "arrived", "proposed", "cancelled"]),
                "participant": [
                    {"actor": {"reference": rng.choice(PRACTITIONERS)}, "status": "accepted"},
                    {"actor": {"reference": patient}, "status": "accepted"},
                ],
            }
        elif rtype == "Task":
            res |= {
                "status": rng.choice(["requested", "accepted", "completed"]),
                "intent": "order",
                "owner": {"reference": rng.choice(PRACTITIONERS)},
                "for": {"reference": patient},
            }
        elif rtype == "Patient":
            res |= {
                "active": True,
                "name": [{"family": f"Doe{n}", "given": ["Jan"]}],
                "telecom": [{"system": "email", "value": f"p{n}@example.org"}],
            }
        elif rtype == "Observation":
            res |= {
                "status": rng.choice(["final", "final", "preliminary", "amended"]),
                "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
                "subject": {"reference": patient},
            }
        elif rtype == "Encounter":
            res |= {
                "status": rng.choice(["planned", "in-progress", "finished"]),
                "subject": {"reference": patient},
            }
        elif rtype == "Condition":
            res |= {"subject": {"reference": patient}, "code": {"text": "hypertension"}}
        elif rtype == "CarePlan":
            res |= {"status": "active", "intent": "plan", "subject": {"reference": patient}}
        return res

    def _facts(self, res: dict[str, Any], interaction: str) -> EventFacts:
        rtype, rid = res["resourceType"], res["id"]
        return EventFacts(
            key=f"fhir:{rtype}/{rid}",
            integration_id="ehr",
            event_type=f"{rtype}.{interaction}",
            object_type=rtype,
            object_id=rid,
            object_types=frozenset({rtype}),
            object_ids=frozenset({rid, f"{rtype}/{rid}"}),
            data=res,
        )

    def fhir(self, now: float) -> Message:
        """A single resource (50 %), an R4B history bundle, an R5 notification or a transaction."""
        rng = self.rng
        form = rng.choices(["single", "history", "r5", "transaction"], weights=[50, 20, 15, 15])[0]
        if form == "single":
            res = self._resource(now, _weighted(rng, FHIR_TYPES))
            interaction = rng.choice(["create", "update", "update", "delete", None])
            headers = [] if interaction is None else [("fhir-interaction", interaction.encode())]
            return Message(
                "fhir", json.dumps(res).encode(), headers, [self._facts(res, interaction or "update")]
            )
        resources = [self._resource(now, _weighted(rng, FHIR_TYPES)) for _ in range(rng.choice([1, 2, 3]))]
        methods = [rng.choice(["POST", "PUT"]) if form != "r5" else "PUT" for _ in resources]
        entries = [
            {
                "fullUrl": f"https://ehr.example.org/fhir/{r['resourceType']}/{r['id']}",
                "resource": r,
                "request": {
                    "method": m,
                    "url": r["resourceType"] if m == "POST" else f"{r['resourceType']}/{r['id']}",
                },
                **(
                    {"response": {"status": "201" if m == "POST" else "200"}} if form != "transaction" else {}
                ),
            }
            for r, m in zip(resources, methods, strict=True)
        ]
        bundle: dict[str, Any] = {"resourceType": "Bundle", "id": f"b-{self.run_tag}{self._next_id()}"}
        if form == "transaction":
            bundle |= {"type": "transaction", "entry": entries}
        else:
            status: dict[str, Any] = {
                "fullUrl": f"urn:uuid:status-{self.n}",
                "resource": {
                    "resourceType": "SubscriptionStatus",
                    "status": "active",
                    "type": "event-notification",
                    "eventsSinceSubscriptionStart": str(self.n),
                    "notificationEvent": [
                        {
                            "eventNumber": str(self.n),
                            "timestamp": _iso(now),
                            "focus": {"reference": entries[0]["fullUrl"]},
                        }
                    ],
                    "subscription": {"reference": "https://ehr.example.org/fhir/Subscription/chaos"},
                    "topic": "http://example.org/fhir/SubscriptionTopic/chaos",
                },
            }
            if form == "history":
                status["request"] = {
                    "method": "GET",
                    "url": "https://ehr.example.org/fhir/Subscription/chaos/$status",
                }
                status["response"] = {"status": "200"}
                bundle |= {"type": "history", "timestamp": _iso(now), "entry": [status, *entries]}
            else:
                bundle |= {
                    "type": "subscription-notification",
                    "timestamp": _iso(now),
                    "entry": [status, *entries],
                }
        facts = [self._facts(r, _METHOD_INTERACTION[m]) for r, m in zip(resources, methods, strict=True)]
        return Message("fhir", json.dumps(bundle).encode(), [], facts)

    # Poison ------------------------------------------------------------------------------------

    def poison(self) -> Message:
        """A message the dispatcher must route to the invalid topic (never deliver, never crash on)."""
        n = self._next_id()
        marker = f"chaos-poison-{self.run_tag}-{n}"
        kind = self.rng.choice(["not_json", "not_object", "sm_no_event_type", "fhir_unknown_type"])
        if kind == "not_json":
            return Message(
                self.rng.choice(["surveymonkey", "fhir"]),
                b"\x00\x01" + marker.encode() + b" {{",
                [],
                poison=marker,
            )
        if kind == "not_object":
            return Message(
                self.rng.choice(["surveymonkey", "fhir"]), json.dumps([marker, 1]).encode(), [], poison=marker
            )
        if kind == "sm_no_event_type":
            body = {"name": "broken", "event_id": marker, "object_type": "response", "object_id": "1"}
            return Message("surveymonkey", json.dumps(body).encode(), [], poison=marker)
        res = {"resourceType": "Spaceship", "id": marker, "meta": {"versionId": "1"}}
        return Message("fhir", json.dumps(res).encode(), [], poison=marker)


def key_from_result_event_id(event_id: str) -> str:
    """Best-effort generator key of a dispatcher event id (SurveyMonkey id, or ``Type/id/...`` for FHIR)."""
    parts = event_id.split("/")
    if len(parts) >= 2:
        return f"fhir:{parts[0]}/{parts[1]}"
    return f"sm:{event_id}"
