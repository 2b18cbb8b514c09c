"""Reject text PostgreSQL cannot store, before any handler sees it.

PostgreSQL refuses NUL in ``text`` and ``jsonb``, and a lone surrogate (valid in a JSON ``\\ud800``
escape, not in UTF-8) cannot be encoded for the wire; both used to surface as a 500 from deep inside
a query. This app-wide dependency checks every string of the path, the query and the JSON body
(keys too) and answers 422 naming the first offending field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from fastapi import Request

from config_api.errors import InvalidInputError

_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")
_MAX_DEPTH = 64


def unstorable_reason(text: str) -> str | None:
    """Why PostgreSQL could not store ``text``, or None."""
    match = _UNSTORABLE.search(text)
    if match is None:
        return None
    return (
        "contains a NUL character"
        if match.group() == "\x00"
        else "contains a lone surrogate (invalid Unicode)"
    )


def _strings(value: Any, loc: list[str | int], depth: int = 0) -> Iterator[tuple[list[str | int], str]]:
    if isinstance(value, str):
        yield loc, value
    elif depth < _MAX_DEPTH and isinstance(value, dict):
        for key, item in value.items():
            yield [*loc, key], key
            yield from _strings(item, [*loc, key], depth + 1)
    elif depth < _MAX_DEPTH and isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, [*loc, index], depth + 1)


def first_unstorable(value: Any, loc: list[str | int]) -> tuple[list[str | int], str] | None:
    """(location, reason) of the first string in ``value`` PostgreSQL could not store, or None."""
    for where, text in _strings(value, loc):
        reason = unstorable_reason(text)
        if reason is not None:
            return where, reason
    return None


async def reject_unstorable_text(request: Request) -> None:
    """The app-wide dependency: 422 for NUL or lone surrogates in the path, the query or the body."""
    found = first_unstorable(dict(request.path_params), ["path"]) or first_unstorable(
        dict(request.query_params), ["query"]
    )
    if found is None and request.headers.get("content-type", "").startswith("application/json"):
        body = await request.body()
        if body and (b"\\u0000" in body or b"\\ud" in body.lower() or b"\x00" in body):
            try:
                found = first_unstorable(json.loads(body), ["body"])
            except (ValueError, RecursionError):
                return  # not JSON: the route's own validation answers 422
    if found is not None:
        loc, reason = found
        field = str(loc[-1]) if len(loc) > 1 else loc[0]
        raise InvalidInputError(
            f"{field} {reason}, which cannot be stored", loc=loc, error_type="invalid_text"
        )
