"""Kafka header values as the clients hand them over: bytes, or ``None`` for a header without a value.

aiokafka gives ``None`` for a header that has a name but no value, and a producer may put any bytes
in a value. Everything that reads header values goes through these functions, so a null or binary
value is treated as absent or replaced text, never as an exception in a consumer loop.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

HeaderValue = bytes | None
RawHeaders = Sequence[tuple[str, HeaderValue]]


def header_text(value: HeaderValue) -> str | None:
    """The value as text (undecodable bytes replaced); None for a header without a value."""
    if value is None:
        return None
    return bytes(value).decode("utf-8", errors="replace")


def headers_as_text(headers: Iterable[tuple[str, HeaderValue]] | None) -> dict[str, str]:
    """Headers as a text dict; a header without a value is left out, a repeated name keeps its last value."""
    out: dict[str, str] = {}
    for name, value in headers or ():
        text = header_text(value)
        if text is not None:
            out[name] = text
    return out


def header_int(headers: Iterable[tuple[str, HeaderValue]] | None, name: str) -> int | None:
    """The first header ``name`` as a decimal integer; None when absent, null or not a plain integer."""
    for key, value in headers or ():
        if key != name:
            continue
        text = header_text(value)
        if text is None:
            return None
        text = text.strip()
        # ASCII digits only and a bounded length: int() accepts other Unicode digits and raises past 4,300.
        if not text.isascii() or not 0 < len(text.lstrip("-")) <= 19 or not text.lstrip("-").isdigit():
            return None
        return int(text)
    return None


def non_null_headers(headers: Iterable[tuple[str, HeaderValue]] | None) -> list[tuple[str, bytes]]:
    """The headers that carry a value (for re-publishing a record's headers)."""
    return [(name, bytes(value)) for name, value in headers or () if value is not None]
