"""Classification of one delivery attempt's outcome (pure, table-tested).

Success is any 2xx. Everything else maps to one error category of the delivery logs and to
"retry or not":

- retryable: 5xx, 408, 409, 425, 429, timeouts, connection/DNS/TLS errors (TLS problems are
  usually an expired or half-rolled certificate that the receiver fixes, so they get the retry budget);
- permanent: every other 4xx, 3xx (redirects are never followed), SSRF blocks, invalid config;
- 410 Gone is permanent and also flagged ``gone`` so the config API deactivates the webhook.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from contracts.deliveries import ErrorCategory

ERROR_KINDS: frozenset[str] = frozenset(
    {"timeout", "connection_error", "dns_error", "tls_error", "ssrf_blocked", "invalid_config"}
)
_RETRYABLE_KINDS = frozenset({"timeout", "connection_error", "dns_error", "tls_error"})
_RETRYABLE_4XX = frozenset({408, 409, 425, 429})


@dataclass(frozen=True)
class Classification:
    """What an attempt's outcome means for the delivery."""

    category: ErrorCategory | None
    retryable: bool
    gone: bool
    success: bool


SUCCESS = Classification(category=None, retryable=False, gone=False, success=True)


def classify(status_code: int | None, error_kind: str | None) -> Classification:
    """Classify an HTTP status or a transport error kind (exactly one of them is expected).

    Raises ValueError for an unknown error kind or when neither is given: that is a bug in the
    caller, not an endpoint problem.
    """
    if error_kind is not None:
        if error_kind not in ERROR_KINDS:
            raise ValueError(f"unknown error kind {error_kind!r}; expected one of {sorted(ERROR_KINDS)}")
        category = cast(ErrorCategory, error_kind)  # checked against ERROR_KINDS just above
        return Classification(
            category=category, retryable=error_kind in _RETRYABLE_KINDS, gone=False, success=False
        )
    if status_code is None:
        raise ValueError("classify needs a status code or an error kind")
    if 200 <= status_code < 300:
        return SUCCESS
    if 300 <= status_code < 400:
        return Classification(category="redirect", retryable=False, gone=False, success=False)
    if status_code == 429:
        return Classification(category="http_429", retryable=True, gone=False, success=False)
    if status_code == 410:
        return Classification(category="http_4xx", retryable=False, gone=True, success=False)
    if 400 <= status_code < 500:
        return Classification(
            category="http_4xx", retryable=status_code in _RETRYABLE_4XX, gone=False, success=False
        )
    # 5xx, and anything outside the standard ranges (1xx never reaches here), is a server fault.
    return Classification(category="http_5xx", retryable=True, gone=False, success=False)
