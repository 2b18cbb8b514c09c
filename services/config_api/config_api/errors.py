"""The config API's errors: the shared tree of :mod:`service_kit.problems`, answered as RFC 9457 problems.

Routes raise :class:`InvalidInputError` (422, names the field), :class:`NotFoundError` (404),
:class:`ConflictError` (409) and the others of the tree; FastAPI's own errors (request validation,
unknown path, wrong method, ``HTTPException``) and PostgreSQL being away are reshaped here to the
same ``application/problem+json`` body. Pydantic's 422s lose their ``input`` echo, because the input
can hold credentials.
"""

from __future__ import annotations

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from service_kit.problems import (
    PROBLEM_JSON,
    ConflictError,
    FieldError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    Problem,
    ProblemError,
    TooManyRequestsError,
    UnauthorizedError,
    UnavailableError,
    field_errors,
    http_problem,
    summary,
)

__all__ = [
    "UNAVAILABLE_ERRORS",
    "ConflictError",
    "ForbiddenError",
    "InvalidInputError",
    "NotFoundError",
    "ProblemError",
    "TooManyRequestsError",
    "UnauthorizedError",
    "UnavailableError",
    "install_error_handlers",
    "problem_response",
]


def problem_response(problem: Problem, headers: dict[str, str] | None = None) -> Response:
    """The HTTP answer carrying ``problem``."""
    return Response(problem.to_json(), status_code=problem.status, media_type=PROBLEM_JSON, headers=headers)


async def _problem_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProblemError)
    return problem_response(exc.problem(), exc.headers or None)


async def _validation_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = field_errors(exc.errors())
    return problem_response(http_problem(422, summary(errors), errors))


async def _http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail
    if isinstance(detail, list):  # routes that name the field: [{"loc", "msg", "type"}]
        errors = [FieldError.model_validate(item) for item in detail]
        problem = http_problem(exc.status_code, summary(errors), errors)
    else:
        problem = http_problem(exc.status_code, str(detail))
    return problem_response(problem, dict(exc.headers) if exc.headers else None)


UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    OSError,  # the server's socket is gone or refuses (PostgreSQL stopped); TimeoutError is one too
    asyncpg.PostgresConnectionError,  # SQLSTATE 08: the connection broke
    asyncpg.exceptions.OperatorInterventionError,  # SQLSTATE 57: shutting down, cannot connect now
)
"""PostgreSQL being away for a moment: a retryable 503, never a 500 with a dropped connection."""


async def _unavailable(_: Request, exc: Exception) -> Response:
    error = UnavailableError("the database is unavailable; retry shortly")
    return problem_response(error.problem(), error.headers)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that give every error the same body."""
    app.add_exception_handler(ProblemError, _problem_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for error in UNAVAILABLE_ERRORS:
        app.add_exception_handler(error, _unavailable)
