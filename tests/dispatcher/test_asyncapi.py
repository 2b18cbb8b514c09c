"""docs/asyncapi.yaml: generated from the code, valid AsyncAPI 3.0, and in step with the dispatcher.

- drift: the committed file equals ``contracts.asyncapi.asyncapi_yaml()`` (run ``make asyncapi``);
- validity: the document passes the official AsyncAPI 3.0.0 JSON Schema (vendored, see asyncapi_schema/);
- coverage: every topic in ``Topics.all_topics()`` is a channel, input headers are described;
- FastStream: the AsyncAPI FastStream generates for the dispatcher's own subscriber names exactly the
  input channels the document describes as received by the dispatcher.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import yaml
from faststream.specification import AsyncAPI

from contracts.asyncapi import asyncapi_document, asyncapi_yaml
from contracts.topics import Headers, Topics
from dispatcher.app import create_app
from dispatcher.settings import DispatcherSettings

REPO = Path(__file__).resolve().parents[2]
SCHEMA = Path(__file__).resolve().parent / "asyncapi_schema" / "asyncapi-3.0.0.json"


@pytest.fixture(scope="module")
def validator() -> Any:
    return jsonschema_rs.validator_for(json.loads(SCHEMA.read_text()))


def test_committed_document_matches_the_code() -> None:
    committed = (REPO / "docs" / "asyncapi.yaml").read_text()
    assert committed == asyncapi_yaml(), "docs/asyncapi.yaml is stale: run `make asyncapi`"


def test_document_is_valid_asyncapi_3(validator: Any) -> None:
    doc = yaml.safe_load(asyncapi_yaml())
    errors = [f"{list(e.instance_path)}: {e}" for e in validator.iter_errors(doc)]
    assert errors == []
    assert doc["asyncapi"] == "3.0.0"


@pytest.mark.parametrize(
    ("where", "value"),
    [(("operations", "sendOps", "action"), "publish"), (("channels", "ops", "address"), 5)],
)
def test_the_validity_check_can_fail(validator: Any, where: tuple[str, ...], value: object) -> None:
    doc = copy.deepcopy(asyncapi_document())
    node = doc
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value
    assert not validator.is_valid(doc)


def test_every_topic_and_input_header_is_described() -> None:
    doc = asyncapi_document()
    addresses = {ch["address"] for ch in doc["channels"].values()}
    assert addresses == set(Topics().all_topics())
    messages = doc["components"]["messages"]
    sm_headers = messages["surveyMonkeyEvent"]["headers"]["properties"]
    fhir_headers = messages["fhirEvent"]["headers"]["properties"]
    assert {Headers.INTEGRATION_ID, "traceparent"} <= set(sm_headers)
    assert {Headers.INTEGRATION_ID, Headers.FHIR_INTERACTION, "traceparent"} <= set(fhir_headers)
    assert "required" not in messages["fhirEvent"]["headers"]  # all optional
    refs = json.dumps(doc)
    for schema in doc["components"]["schemas"]:
        assert f"#/components/schemas/{schema}" in refs
    for op in doc["operations"].values():
        assert op["channel"]["$ref"].removeprefix("#/channels/") in doc["channels"]


def test_fastStream_view_of_the_dispatcher_agrees(secrets_key: str) -> None:
    settings = DispatcherSettings(
        kafka_bootstrap_servers="localhost:9092",
        webhook_secrets_key=secrets_key,
    )
    app = create_app(settings)
    generated = AsyncAPI(app.broker, schema_version="3.0.0").to_specification().to_jsonable()
    received = {
        ch["address"]
        for ch in generated["channels"].values()
        if any(op["action"] == "receive" for op in generated["operations"].values())
    }
    ours = asyncapi_document()
    by_dispatcher = {
        ours["channels"][op["channel"]["$ref"].removeprefix("#/channels/")]["address"]
        for op in ours["operations"].values()
        if op["action"] == "receive" and op["summary"] == "dispatcher" and "bindings" in op
    }
    assert received == by_dispatcher == {Topics().surveymonkey_events, Topics().fhir_events, Topics().ops}
