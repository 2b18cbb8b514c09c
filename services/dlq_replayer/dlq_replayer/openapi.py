"""The OpenAPI document of the ``/dlq`` API, served at ``/dlq/openapi.json`` (no token needed).

aiohttp has no OpenAPI generator and the API has seven routes, so they are described here, with
their schemas taken from the models the handlers answer with; a test checks that every route of
``handlers.ROUTES`` is described. Errors are RFC 9457 problems, documented on every operation by
``service_kit.problems.document_problems`` as in the config API's document.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.json_schema import models_json_schema

from dlq_replayer.core import MessageDetail, MessageList, ReplayStarted
from dlq_replayer.filters import DlqFilters
from dlq_replayer.replay import ReplayOptions
from dlq_replayer.selection import DlqStats
from dlq_replayer.store import ReplayRecord
from service_kit.problems import document_problems

PREFIX = "/dlq"
REF = "#/components/schemas/{model}"


class ResumeStarted(BaseModel):
    """Answer (202) of a resume that has records left to send."""

    model_config = ConfigDict(frozen=True)

    replay_id: str
    resuming: int


class ReplayRequest(DlqFilters, ReplayOptions):
    """Body of ``POST /dlq/replays``: the filters and the options of the replay."""


@dataclass(frozen=True)
class Operation:
    """One route: what it takes and what it answers (status → model, or a list of the model)."""

    method: str
    path: str
    summary: str
    answers: dict[int, tuple[type[BaseModel], bool]]
    query: dict[str, dict[str, Any]] = field(default_factory=dict)
    body: type[BaseModel] | None = None
    errors: tuple[int, ...] = ()


def _filters_query() -> dict[str, dict[str, Any]]:
    schema = DlqFilters.model_json_schema()
    return dict(schema["properties"])


OPERATIONS: tuple[Operation, ...] = (
    Operation("get", "/messages", "Dead letters matching the filters, newest first (no payloads)",
              {200: (MessageList, False)}, query=_filters_query()),
    Operation("get", "/messages/{message_id}", "One dead letter; the payload only with ?payload=true",
              {200: (MessageDetail, False)}, query={"payload": {"type": "boolean", "default": False}},
              errors=(404,)),
    Operation("get", "/stats", "Counts by integration, webhook and error category",
              {200: (DlqStats, False)}, query=_filters_query()),
    Operation("post", "/replays", "Dry-run (200) or start a replay (202; poll its id)",
              {200: (ReplayStarted, False), 202: (ReplayStarted, False)}, body=ReplayRequest, errors=(409,)),
    Operation("get", "/replays", "The latest replays with their progress",
              {200: (ReplayRecord, True)}, query={"limit": {"type": "integer", "minimum": 1, "maximum": 1000}}),
    Operation("get", "/replays/{replay_id}", "One replay: who, when, filters, progress",
              {200: (ReplayRecord, False)}, errors=(404,)),
    Operation("post", "/replays/{replay_id}/resume", "Send what an interrupted replay has not sent yet",
              {200: (ReplayRecord, False), 202: (ResumeStarted, False)}, errors=(404, 409)),
)  # fmt: skip


@functools.cache
def build_openapi(version: str = "1.0.0") -> dict[str, Any]:
    """The whole document (built once; callers must not change it)."""
    models: set[type[BaseModel]] = {m for op in OPERATIONS for m, _ in op.answers.values()}
    models |= {op.body for op in OPERATIONS if op.body is not None}
    _, defs = models_json_schema(
        [(m, "serialization") for m in sorted(models, key=lambda m: m.__name__)], ref_template=REF
    )
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(PREFIX + op.path, {})[op.method] = _operation(op)
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "carehooks DLQ replayer API",
            "version": version,
            "description": "Inspect and replay dead letters. Every route needs `Authorization: Bearer "
            "<token>` of an operator or admin (the config API's tokens). Errors are RFC 9457 problem "
            "details (`application/problem+json`).",
        },
        "paths": paths,
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }
    return document_problems(doc, lambda _: [401, 403, 422, 503])


def _operation(op: Operation) -> dict[str, Any]:
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _path_names(op.path)
    ]
    parameters += [
        {"name": name, "in": "query", "required": False, "schema": s} for name, s in op.query.items()
    ]
    responses: dict[str, Any] = {}
    for status, (model, many) in op.answers.items():
        ref = {"$ref": REF.format(model=model.__name__)}
        schema = {"type": "array", "items": ref} if many else ref
        responses[str(status)] = {
            "description": model.__doc__.splitlines()[0] if model.__doc__ else "OK",
            "content": {"application/json": {"schema": schema}},
        }
    for status in op.errors:
        responses[str(status)] = {}  # described as a problem by document_problems
    out: dict[str, Any] = {"summary": op.summary, "parameters": parameters, "responses": responses}
    if op.body is not None:
        out["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": REF.format(model=op.body.__name__)}}},
        }
    return out


def _path_names(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{") and part.endswith("}")]
