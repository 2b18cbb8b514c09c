"""Table tests of the attempt classification."""

from __future__ import annotations

import pytest

from webhook_core.outcome import Classification, classify

# status, error kind -> category, retryable, gone, success
CASES: list[tuple[int | None, str | None, str | None, bool, bool, bool]] = [
    (200, None, None, False, False, True),
    (201, None, None, False, False, True),
    (204, None, None, False, False, True),
    (299, None, None, False, False, True),
    (301, None, "redirect", False, False, False),
    (302, None, "redirect", False, False, False),
    (307, None, "redirect", False, False, False),
    (400, None, "http_4xx", False, False, False),
    (401, None, "http_4xx", False, False, False),
    (403, None, "http_4xx", False, False, False),
    (404, None, "http_4xx", False, False, False),
    (408, None, "http_4xx", True, False, False),
    (409, None, "http_4xx", True, False, False),
    (410, None, "http_4xx", False, True, False),
    (413, None, "http_4xx", False, False, False),
    (422, None, "http_4xx", False, False, False),
    (425, None, "http_4xx", True, False, False),
    (429, None, "http_429", True, False, False),
    (500, None, "http_5xx", True, False, False),
    (502, None, "http_5xx", True, False, False),
    (503, None, "http_5xx", True, False, False),
    (504, None, "http_5xx", True, False, False),
    (599, None, "http_5xx", True, False, False),
    (None, "timeout", "timeout", True, False, False),
    (None, "connection_error", "connection_error", True, False, False),
    (None, "dns_error", "dns_error", True, False, False),
    (None, "tls_error", "tls_error", True, False, False),
    (None, "ssrf_blocked", "ssrf_blocked", False, False, False),
    (None, "invalid_config", "invalid_config", False, False, False),
]


@pytest.mark.parametrize(("status", "kind", "category", "retryable", "gone", "success"), CASES)
def test_classify(
    status: int | None, kind: str | None, category: str | None, retryable: bool, gone: bool, success: bool
) -> None:
    assert classify(status, kind) == Classification(
        category=category,  # type: ignore[arg-type]
        retryable=retryable,
        gone=gone,
        success=success,
    )


def test_error_kind_wins_over_status() -> None:
    assert classify(200, "timeout").category == "timeout"


@pytest.mark.parametrize(
    ("status", "kind", "match"), [(None, None, "status code or an error kind"), (None, "boom", "boom")]
)
def test_classify_rejects_bad_input(status: int | None, kind: str | None, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        classify(status, kind)
