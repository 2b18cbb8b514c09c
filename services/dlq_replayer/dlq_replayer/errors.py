"""Errors of the DLQ replayer: the shared tree of :mod:`service_kit.problems` (one for both admin APIs).

The HTTP API answers each as an RFC 9457 problem with its status; the ``dlq`` CLI maps them to exit
codes: :class:`InvalidInputError` → 2 (usage error), every other :class:`DlqError` → 1.

DlqError (= ProblemError)
├── InvalidInputError   malformed filter, time or id        (422 / exit 2)
├── NotFoundError       unknown message or replay id        (404 / exit 1)
├── ConflictError       another replay is running           (409 / exit 1)
└── UnavailableError    broker or database unreachable      (503 / exit 1)
"""

from __future__ import annotations

from service_kit.problems import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    ProblemError,
    UnavailableError,
)

DlqError = ProblemError
"""The root, under the name the replayer's modules and the CLI use."""

__all__ = ["ConflictError", "DlqError", "InvalidInputError", "NotFoundError", "UnavailableError"]
