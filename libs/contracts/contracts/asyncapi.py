"""The AsyncAPI 3.0 description of every topic carehooks reads or writes (``docs/asyncapi.yaml``).

Built from the code, never edited by hand: topic names from :class:`~contracts.topics.Topics`, header
names from :class:`~contracts.topics.Headers`, payload schemas from the message models (pydantic JSON
Schema, their ``$defs`` hoisted into ``components.schemas``), the input catalogs from
:mod:`contracts.catalogs`. ``make asyncapi`` writes the YAML; a test fails when the committed file drifts;
the config API serves the same document at ``/asyncapi`` (HTML) and ``/asyncapi.yaml``. No I/O here.
"""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import BaseModel

from contracts.asyncapi_inputs import (
    TRACEPARENT_CARRIED,
    TRACEPARENT_IN,
    fhir_payload,
    integration_header,
    surveymonkey_payload,
)
from contracts.asyncapi_ops import OPS_INTAKE, OPS_MESSAGES
from contracts.catalogs import FHIR_INTERACTIONS
from contracts.deliveries import DeadLetterV1, DeliveryJobV1, DeliveryResultV1
from contracts.events import InvalidEventV1, PatientIndexEntryV1
from contracts.topics import Headers, Topics
from contracts.webhooks import PriorityRulesV1, WebhookConfigV1

KAFKA_BINDING = "0.5.0"
WORKER, WORKER_GROUP = "delivery_worker", "DELIVERY_WORKER_GROUP_ID"
REF = "#/components/schemas/{model}"
AT_LEAST_ONCE = (
    "At-least-once: a consumer commits only after its output was acknowledged, so a record can be seen "
    "twice after a crash or rebalance; delivery ids stay the same, receivers de-duplicate."
)


def _schema(model: type[BaseModel], schemas: dict[str, Any]) -> dict[str, str]:
    """Put the model's JSON Schema (and its sub-models) into ``schemas``; return a reference to it."""
    doc = _clean(model.model_json_schema(ref_template=REF))
    for name, sub in doc.pop("$defs", {}).items():
        schemas[name] = sub
    schemas[model.__name__] = doc
    return {"$ref": REF.format(model=model.__name__)}


def _clean(node: Any) -> Any:
    """AsyncAPI's Schema Object takes ``discriminator`` as a property name, not OpenAPI's object."""
    if isinstance(node, dict):
        out = {k: _clean(v) for k, v in node.items()}
        disc = out.get("discriminator")
        if isinstance(disc, dict):
            out["discriminator"] = disc.get("propertyName", "type")
        return out
    if isinstance(node, list):
        return [_clean(v) for v in node]
    return node


def _headers(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        out["required"] = required
    return out


def _message(
    name: str,
    title: str,
    summary: str,
    payload: dict[str, Any],
    key: str,
    headers: dict[str, Any] | None = None,
) -> dict[str, Any]:
    msg: dict[str, Any] = {
        "name": name,
        "title": title,
        "summary": summary,
        "contentType": "application/json",
        "payload": payload,
        "bindings": {
            "kafka": {"key": {"type": "string", "description": key}, "bindingVersion": KAFKA_BINDING}
        },
    }
    if headers is not None:
        msg["headers"] = headers
    return msg


def asyncapi_document(topics: Topics | None = None) -> dict[str, Any]:
    """The whole document as plain data (deterministic: same code, same document)."""
    t = topics or Topics()
    schemas: dict[str, Any] = {}
    job_headers = _headers(
        {
            Headers.MESSAGE_TYPE: {"const": "delivery_job.v1"},
            Headers.DELIVERY_ID: {
                "type": "string",
                "description": "msg_ + 32 hex; the Standard Webhooks webhook-id.",
            },
            Headers.WEBHOOK_ID: {"type": "string"},
            "traceparent": TRACEPARENT_CARRIED,
        },
        [Headers.MESSAGE_TYPE, Headers.DELIVERY_ID, Headers.WEBHOOK_ID],
    )
    job = _schema(DeliveryJobV1, schemas)
    messages: dict[str, Any] = {
        "surveyMonkeyEvent": _message(
            "surveyMonkeyEvent",
            "SurveyMonkey event",
            "A SurveyMonkey callback or connector contact event.",
            surveymonkey_payload(),
            "Producer's choice (the object id is usual); not used for routing.",
            _headers(
                {
                    Headers.INTEGRATION_ID: integration_header("surveymonkey"),
                    "traceparent": TRACEPARENT_IN,
                }
            ),
        ),
        "fhirEvent": _message(
            "fhirEvent",
            "FHIR event",
            "One FHIR resource, or a Bundle of them.",
            fhir_payload(),
            "Producer's choice (`<Type>/<id>` is usual); not used for routing.",
            _headers(
                {
                    Headers.INTEGRATION_ID: integration_header("ehr"),
                    Headers.FHIR_INTERACTION: {
                        "type": "string",
                        "enum": list(FHIR_INTERACTIONS),
                        "description": "Interaction of a single resource (default update); Bundles carry it per entry.",
                    },
                    "traceparent": TRACEPARENT_IN,
                }
            ),
        ),
        "deliveryJob": _message(
            "deliveryJob", "Delivery job", "One event for one webhook.", job, "Webhook id.", job_headers
        ),
        "retryJob": _message(
            "retryJob",
            "Delivery job waiting for a retry",
            "A delivery job parked on a delay tier until retry-due-ms.",
            job,
            "Webhook id.",
            _headers(
                {
                    **job_headers["properties"],
                    "retry-due-ms": {
                        "type": "string",
                        "description": "Epoch milliseconds of the next attempt.",
                    },
                    "retry-tier": {"type": "string", "description": "Delay tier in seconds."},
                },
                ["retry-due-ms"],
            ),
        ),
        "deadLetter": _message(
            "deadLetter",
            "Dead letter",
            "A job that will not be retried, with its attempts and reason.",
            _schema(DeadLetterV1, schemas),
            "Webhook id.",
            _headers({"traceparent": TRACEPARENT_CARRIED}),
        ),
        "deliveryResult": _message(
            "deliveryResult",
            "Delivery result",
            "The outcome of one attempt.",
            _schema(DeliveryResultV1, schemas),
            "Webhook id.",
            _headers({"traceparent": TRACEPARENT_CARRIED}),
        ),
        "webhookConfig": _message(
            "webhookConfig",
            "Webhook configuration",
            "The current configuration of one webhook; a tombstone (null value) when it is deleted.",
            _schema(WebhookConfigV1, schemas),
            "Webhook id.",
        ),
        "priorityRules": _message(
            "priorityRules",
            "Priority rules",
            "An integration's priority rules.",
            _schema(PriorityRulesV1, schemas),
            "`priority-rules/<integration id>`.",
        ),
        **{
            mid: _message(mid, title, summary, _schema(model, schemas), "Webhook id.")
            for mid, title, summary, model in OPS_MESSAGES
        },
        "patientIndexEntry": _message(
            "patientIndexEntry",
            "Patient index entry",
            "A normalised email / E.164 phone pointing at a FHIR Patient; a tombstone when it no longer does.",
            _schema(PatientIndexEntryV1, schemas),
            "`email:<address>` or `phone:<+E164>`.",
        ),
        "invalidEvent": _message(
            "invalidEvent",
            "Invalid input event",
            "An input that could not be turned into jobs, with the reason (e.g. `too_large: ...`, "
            "`handler_error: ...`, a field error); key, value, headers and reason copied bounded.",
            _schema(InvalidEventV1, schemas),
            "The original key (its first 1024 bytes).",
            _headers({Headers.MESSAGE_TYPE: {"const": "invalid_event.v1"}}),
        ),
    }
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}

    def channel(cid: str, address: str, description: str, msgs: list[str], compacted: bool = False) -> None:
        channels[cid] = {
            "address": address,
            "description": description,
            "messages": {m: {"$ref": f"#/components/messages/{m}"} for m in msgs},
            "bindings": {
                "kafka": {
                    "topic": address,
                    "topicConfiguration": {"cleanup.policy": ["compact" if compacted else "delete"]},
                    "bindingVersion": KAFKA_BINDING,
                }
            },
        }

    def operation(oid: str, cid: str, who: str, description: str, group: str | None = None) -> None:
        op: dict[str, Any] = {
            "action": "send" if oid.startswith("send") else "receive",
            "channel": {"$ref": f"#/channels/{cid}"},
            "summary": who,
            "description": description,
            "messages": [{"$ref": f"#/channels/{cid}/messages/{m}"} for m in channels[cid]["messages"]],
        }
        if group is not None:
            op["bindings"] = {
                "kafka": {
                    "groupId": {"type": "string", "description": group},
                    "bindingVersion": KAFKA_BINDING,
                }
            }
        operations[oid] = op

    channel("surveymonkeyEvents", t.surveymonkey_events, "Input: SurveyMonkey events.", ["surveyMonkeyEvent"])
    channel("fhirEvents", t.fhir_events, "Input: FHIR resources and Bundles.", ["fhirEvent"])
    channel("deliveries", t.deliveries, "Delivery jobs.", ["deliveryJob"])
    channel(
        "deliveriesPriority",
        t.deliveries_priority,
        "High-priority delivery jobs (served first).",
        ["deliveryJob"],
    )
    for tier, name in t.retry_topics().items():
        channel(f"retry{tier}s", name, f"Jobs waiting {tier} s before their next attempt.", ["retryJob"])
    channel(
        "deadLetters", t.deliveries_dlq, "Dead letters; keep them as long as you may replay.", ["deadLetter"]
    )
    channel("deliveryResults", t.delivery_results, "One result per attempt.", ["deliveryResult"])
    channel(
        "config",
        t.webhooks_config,
        "Webhook configuration and priority rules (latest per key).",
        ["webhookConfig", "priorityRules"],
        compacted=True,
    )
    channel(
        "ops", t.ops, "Operational events (operators, alerting, carehooks).", [m[0] for m in OPS_MESSAGES]
    )
    channel(
        "patientIndex",
        t.patient_index,
        "Contact keys to FHIR Patients (latest per key).",
        ["patientIndexEntry"],
        compacted=True,
    )
    channel("invalidEvents", t.invalid_events, "Inputs that could not be dispatched.", ["invalidEvent"])

    intake = (
        "The dispatcher consumes in batches (consumer group DISPATCHER_GROUP_ID, FastStream batch subscriber) "
        "and commits a batch only after every record produced from it was acknowledged. " + AT_LEAST_ONCE
    )
    operation(
        "receiveSurveyMonkeyEvents",
        "surveymonkeyEvents",
        "dispatcher",
        intake,
        "DISPATCHER_GROUP_ID",
    )
    operation("receiveFhirEvents", "fhirEvents", "dispatcher", intake, "DISPATCHER_GROUP_ID")
    operation("receiveOps", "ops", "dispatcher", OPS_INTAKE + intake, "DISPATCHER_GROUP_ID")
    out = "Written by the dispatcher (key = webhook id), dlq_replayer (replays) and the config API (manual retry). "
    operation("sendDeliveries", "deliveries", "dispatcher, dlq_replayer, config_api", out + AT_LEAST_ONCE)
    operation("sendPriorityDeliveries", "deliveriesPriority", "dispatcher", out + AT_LEAST_ONCE)
    worker = "The delivery worker commits the finished prefix of each partition. " + AT_LEAST_ONCE
    operation("receiveDeliveries", "deliveries", WORKER, worker, WORKER_GROUP)
    operation(
        "receivePriorityDeliveries",
        "deliveriesPriority",
        WORKER,
        worker,
        WORKER_GROUP,
    )
    for tier in t.retry_tiers_s:
        operation(
            f"sendRetry{tier}s",
            f"retry{tier}s",
            WORKER,
            "A failed attempt parks the job here.",
        )
        operation(
            f"receiveRetry{tier}s",
            f"retry{tier}s",
            WORKER,
            "Re-attempted once retry-due-ms passed. " + AT_LEAST_ONCE,
            WORKER_GROUP,
        )
    operation(
        "sendDeadLetters",
        "deadLetters",
        WORKER,
        "Attempts exhausted or a permanent failure.",
    )
    operation("receiveDeadLetters", "deadLetters", "dlq_replayer", "Inspected and replayed on request.")
    operation(
        "sendDeliveryResults",
        "deliveryResults",
        WORKER,
        "One result per attempt. " + AT_LEAST_ONCE,
    )
    operation(
        "receiveDeliveryResults",
        "deliveryResults",
        "config_api",
        "Stored idempotently; offsets committed after the rows.",
        "config-api:<results topic>",
    )
    operation("sendConfig", "config", "config_api", "Published through a transactional outbox.")
    operation(
        "receiveConfig",
        "config",
        "dispatcher, delivery_worker, dlq_replayer",
        "Read from the beginning at start-up, then followed (no group).",
    )
    operation(
        "sendOps",
        "ops",
        "config_api, delivery_worker, dlq_replayer",
        "Deactivations, failing / recovered (config_api); dead letters (delivery_worker); replay ends "
        "(dlq_replayer, key = replay id).",
    )
    operation("sendPatientIndex", "patientIndex", "dispatcher", "Updated from FHIR Patient events.")
    operation(
        "receivePatientIndex",
        "patientIndex",
        "dispatcher",
        "Every instance reads it from the beginning (no group).",
    )
    operation(
        "sendInvalidEvents",
        "invalidEvents",
        "dispatcher",
        "Bounded copies of inputs that could not be dispatched.",
    )

    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "carehooks",
            "version": "1.0.0",
            "description": (
                "Every Kafka topic carehooks reads or writes. Topic names are defaults: each is a setting "
                "(TOPIC_<NAME>) and TOPIC_PREFIX prefixes them all. Values are compact JSON (UTF-8). "
                "Generated from libs/contracts (contracts.asyncapi); do not edit by hand: run `make asyncapi`."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "kafka": {
                "host": "localhost:9092",
                "protocol": "kafka",
                "description": "KAFKA_BOOTSTRAP_SERVERS. Producers use acks=all without idempotence.",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": dict(sorted(schemas.items()))},
    }


def asyncapi_yaml(topics: Topics | None = None) -> str:
    """The document as YAML text (what ``docs/asyncapi.yaml`` holds)."""
    text: str = yaml.safe_dump(asyncapi_document(topics), sort_keys=False, allow_unicode=True, width=110)
    return "# Generated by `make asyncapi` from libs/contracts/contracts/asyncapi.py; do not edit.\n" + text
