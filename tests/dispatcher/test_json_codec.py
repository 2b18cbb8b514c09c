"""The dispatcher's JSON codec: pydantic-core's parser and serialiser, with the standard library's semantics.

``load_json`` must accept exactly what ``json.loads`` accepts, with the same values (integers of any
size, NaN, escaped lone surrogates, deep nesting), and ``render_body`` must write a text that reads
back as the document ``json.dumps`` would have written: the faster library may change speed only.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatcher.events import NormalisedEvent, load_json
from dispatcher.jobs import render_body

EDGES = [
    b'{"big": 123456789012345678901234567890, "neg": -123456789012345678901234567890}',
    b'{"nan": NaN, "inf": Infinity, "ninf": -Infinity, "huge": 1.0e400}',
    b'{"lone": "\\ud800", "pair": "\\ud83d\\ude00"}',  # json accepts an escaped lone surrogate
    b"[" * 300 + b"]" * 300,  # deeper than pydantic-core's limit, within the standard library's
    b'{"a": 1, "a": 2}',
    b'{"text": "\xc3\xa9\xe2\x80\xa8", "f": 2.5e-08, "z": -0.0}',
    b' \n {"padded": true} \n',
]


def _same(a: Any, b: Any) -> bool:
    """Equal documents, NaN equal to NaN, and ints not confused with floats."""
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


@pytest.mark.parametrize("value", EDGES)
def test_load_json_gives_what_the_standard_library_gives(value: bytes) -> None:
    assert _same(load_json(value), json.loads(value.decode("utf-8")))


def _event(data: dict[str, Any]) -> NormalisedEvent:
    return NormalisedEvent(
        source="surveymonkey",
        integration_id="sm",
        event_id="e1",
        event_type="response_completed",
        object_type="response",
        object_id="r1",
        event_time=datetime(2026, 12, 3, 6, 0, tzinfo=UTC),
        data=data,
        object_types=frozenset({"response"}),
        object_ids=frozenset({"r1"}),
    )


@pytest.mark.parametrize("value", EDGES[:3] + EDGES[5:])
def test_the_body_reads_back_as_the_standard_librarys(value: bytes) -> None:
    data = json.loads(value.decode("utf-8"))
    body = render_body(_event(data))
    assert ", " not in body and '": ' not in body  # compact, like json.dumps with separators
    assert _same(json.loads(body)["data"], data)


def test_non_ascii_is_written_as_utf8_text_not_escaped() -> None:
    body = render_body(_event({"name": "Zoë", "note": "患者"}))
    assert '"name":"Zoë"' in body and "患者" in body


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(st.characters(codec="utf-8")),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(JSON)
def test_any_json_document_round_trips_like_the_standard_library(doc: Any) -> None:
    text = json.dumps(doc).encode()
    assert _same(load_json(text), json.loads(text))
    data = {"doc": doc}
    assert _same(json.loads(render_body(_event(data)))["data"], json.loads(json.dumps(data)))
