"""Errors of the DLQ replayer; HTTP handlers and the CLI map each one to a status / exit code.

DlqError
├── InvalidInputError   malformed filter, time or id        (422 / usage error, exit 2)
├── NotFoundError       unknown message or replay id        (404 / exit 1)
├── ConflictError       another replay is running           (409 / exit 1)
└── UnavailableError    broker or database unreachable      (503 / exit 1)
"""

from __future__ import annotations


class DlqError(Exception):
    """Root of the replayer's errors; the message is safe to show to an operator."""


class InvalidInputError(DlqError):
    """Bad input from the operator (filters, times, ids, options)."""


class NotFoundError(DlqError):
    """An id that names nothing."""


class ConflictError(DlqError):
    """The action cannot run now (a replay of the same DLQ is already running)."""


class UnavailableError(DlqError):
    """Kafka or PostgreSQL cannot be reached; nothing was recorded."""
