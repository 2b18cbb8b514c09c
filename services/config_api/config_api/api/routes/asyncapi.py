"""``/asyncapi`` (readable HTML) and ``/asyncapi.yaml`` (raw): the AsyncAPI 3 document of every topic.

The document is built in memory from ``contracts.asyncapi`` for this deployment's topic names (the
committed ``docs/asyncapi.yaml`` is the same document with the default names). The page is rendered
here, server-side, with no script and no external asset (the admin UI allows none); every value is
HTML-escaped. Nothing is written to disk. No authentication: it describes topics and schemas, no data.
"""

from __future__ import annotations

import html
from functools import lru_cache
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from contracts.asyncapi import asyncapi_document, asyncapi_yaml
from contracts.topics import Topics

router = APIRouter(tags=["docs"])
STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem;color:#222}"
    "table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem}td,th{border:1px solid #ccc;"
    "padding:.3rem .5rem;text-align:left;vertical-align:top}code{background:#f4f4f4;padding:0 .2rem}"
    "ul{margin:.2rem 0}section{margin-bottom:2rem}"
)


def _topics(request: Request) -> Topics:
    settings = getattr(request.app.state, "settings", None)
    topics = getattr(settings, "topics", None)
    return topics if isinstance(topics, Topics) else Topics()


@lru_cache(maxsize=8)
def _page(topics: Topics) -> str:
    return render_html(asyncapi_document(topics))


@router.get("/asyncapi.yaml", summary="AsyncAPI 3 document (YAML)", response_class=Response)
async def asyncapi_raw(request: Request) -> Response:
    """The AsyncAPI 3.0 document of every topic, for tools."""
    return Response(asyncapi_yaml(_topics(request)), media_type="application/yaml")


@router.get("/asyncapi", summary="AsyncAPI 3 document (HTML)", response_class=HTMLResponse)
async def asyncapi_page(request: Request) -> HTMLResponse:
    """The same document as a readable page."""
    return HTMLResponse(_page(_topics(request)))


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def render_schema(schema: Any, depth: int = 0) -> str:
    """A JSON Schema as nested lists: type, constraints, description, properties (refs become links)."""
    if not isinstance(schema, dict) or depth > 12:
        return _e(schema)
    if "$ref" in schema:
        name = _ref_name(str(schema["$ref"]))
        return f'<a href="#schema-{_e(name)}">{_e(name)}</a>'
    parts: list[str] = []
    if "type" in schema:
        parts.append(f"<code>{_e(schema['type'])}</code>")
    if "const" in schema:
        parts.append(f"= <code>{_e(schema['const'])}</code>")
    if "enum" in schema:
        parts.append("one of " + ", ".join(f"<code>{_e(v)}</code>" for v in schema["enum"]))
    if "format" in schema:
        parts.append(f"({_e(schema['format'])})")
    if schema.get("description"):
        parts.append(f"— {_e(schema['description'])}")
    out = " ".join(parts)
    for combinator in ("oneOf", "anyOf", "allOf"):
        if combinator in schema:
            items = "".join(f"<li>{render_schema(s, depth + 1)}</li>" for s in schema[combinator])
            out += f" {combinator}:<ul>{items}</ul>"
    if isinstance(schema.get("items"), dict):
        out += f" items: {render_schema(schema['items'], depth + 1)}"
    properties = schema.get("properties")
    if isinstance(properties, dict):
        required = set(schema.get("required", ()))
        rows = "".join(
            f"<li><code>{_e(name)}</code>{' (required)' if name in required else ''}: "
            f"{render_schema(sub, depth + 1)}</li>"
            for name, sub in properties.items()
        )
        out += f"<ul>{rows}</ul>"
    return out


def _links(names: dict[str, Any]) -> str:
    return ", ".join('<a href="#message-' + _e(m) + '">' + _e(m) + "</a>" for m in names)


def render_html(doc: dict[str, Any]) -> str:
    """The whole document as one self-contained HTML page."""
    info = doc["info"]
    channels = doc["channels"]
    rows = "".join(
        f'<tr><td id="channel-{_e(cid)}"><code>{_e(ch["address"])}</code></td><td>{_e(ch["description"])}</td>'
        f"<td>{_links(ch['messages'])}</td>"
        f"<td>{_e(', '.join(ch['bindings']['kafka']['topicConfiguration']['cleanup.policy']))}</td></tr>"
        for cid, ch in channels.items()
    )
    ops = "".join(
        f"<tr><td>{_e(op['action'])}</td><td><code>{_e(channels[_ref_name(op['channel']['$ref'])]['address'])}</code>"
        f"</td><td>{_e(op['summary'])}</td><td>{_e(op['description'])}</td></tr>"
        for op in doc["operations"].values()
    )
    messages = "".join(
        f'<section id="message-{_e(mid)}"><h3>{_e(m["title"])} <code>{_e(mid)}</code></h3>'
        f"<p>{_e(m['summary'])}</p><p>Key: {_e(m['bindings']['kafka']['key']['description'])}</p>"
        + (f"<p>Headers:</p>{render_schema(m['headers'])}" if "headers" in m else "")
        + f"<p>Payload: {render_schema(m['payload'])}</p></section>"
        for mid, m in doc["components"]["messages"].items()
    )
    schemas = "".join(
        f'<section id="schema-{_e(name)}"><h3>{_e(name)}</h3>{render_schema(s)}</section>'
        for name, s in doc["components"]["schemas"].items()
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(info['title'])} AsyncAPI</title><style>{STYLE}</style></head><body>"
        f"<h1>{_e(info['title'])} — AsyncAPI {_e(doc['asyncapi'])}</h1><p>{_e(info['description'])}</p>"
        '<p><a href="asyncapi.yaml">Raw document (YAML)</a></p>'
        f"<h2>Channels</h2><table><tr><th>topic</th><th>what</th><th>messages</th><th>cleanup</th></tr>{rows}</table>"
        f"<h2>Operations</h2><table><tr><th>action</th><th>topic</th><th>by</th><th>semantics</th></tr>{ops}</table>"
        f"<h2>Messages</h2>{messages}<h2>Schemas</h2>{schemas}</body></html>"
    )
