"""The pure parts of the web-facing defences: the failed-authentication throttle, the admin UI's
Content-Security-Policy and the ADMIN_TOKEN minimum length (issue 15 item 13)."""

from __future__ import annotations

import base64
import hashlib

import pytest

from admin_auth.security_headers import inline_script_hashes, ui_csp
from admin_auth.throttle import AuthThrottle
from admin_auth.tokens import ADMIN_TOKEN_MIN_LENGTH, check_admin_token


@pytest.mark.parametrize(
    ("failures_at", "ask_at", "expected"),
    [
        ([0, 1, 2], 3, None),  # under the limit
        ([0, 1, 2, 3], 3, 60),  # the 4th failure blocks for block_s
        ([0, 1, 2, 3], 62.5, 1),  # rounded up, never 0
        ([0, 1, 2, 3], 63, None),  # block over
        ([0, 1, 2, 31], 32, None),  # failures outside the window do not count
        ([0, 10, 20, 29.9], 30, 60),
    ],
)
def test_throttle_table(failures_at: list[float], ask_at: float, expected: int | None) -> None:
    throttle = AuthThrottle(max_failures=4, window_s=30, block_s=60)
    for at in failures_at:
        throttle.failed("10.0.0.1", at)
    assert throttle.retry_after("10.0.0.1", ask_at) == expected
    assert throttle.retry_after("10.0.0.2", ask_at) is None  # other clients are not affected


def test_throttle_success_resets_and_memory_is_bounded() -> None:
    throttle = AuthThrottle(max_failures=2, window_s=30, block_s=60, max_clients=3)
    throttle.failed("a", 0)
    throttle.succeeded("a")
    assert throttle.failed("a", 1) is None  # the count started again
    assert throttle.failed("a", 2) == 60
    for client in ("b", "c", "d"):
        throttle.failed(client, 3)
    assert throttle.retry_after("a", 4) is None  # least recently seen dropped, memory stays bounded
    with pytest.raises(ValueError):
        AuthThrottle(max_failures=0)


def test_ui_csp_allows_exactly_the_inline_import_map() -> None:
    body = '\n  {"imports": {"vue": "./vendor/vue.js"}}\n  '
    html = f'<script type="importmap">{body}</script><script type="module" src="./js/main.js"></script>'
    digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
    assert inline_script_hashes(html) == [f"'sha256-{digest}'"]
    csp = ui_csp(html)
    assert f"script-src 'self' 'sha256-{digest}' 'unsafe-eval';" in csp
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp and "'unsafe-inline'" not in csp


@pytest.mark.parametrize(
    ("value", "ok"),
    [("x" * ADMIN_TOKEN_MIN_LENGTH, True), ("x" * (ADMIN_TOKEN_MIN_LENGTH - 1), False), ("", False)],
)
def test_admin_token_minimum_length(value: str, ok: bool) -> None:
    if ok:
        assert check_admin_token(value) == value
    else:
        with pytest.raises(ValueError, match=f"at least {ADMIN_TOKEN_MIN_LENGTH} characters"):
            check_admin_token(value)
