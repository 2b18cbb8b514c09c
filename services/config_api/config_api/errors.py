"""API errors and the one error body every 4xx uses: ``{"detail": [{"loc", "msg", "type"}]}``.

Error tree: :class:`ApiError` (root) -> :class:`InvalidInputError` (422, names the field),
:class:`ForbiddenError` (403), :class:`NotFoundError` (404), :class:`ConflictError` (409). Pydantic's own 422s are reshaped to the
same body without the ``input`` echo, because the input can hold credentials.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

Loc = Sequence[str | int]


class ApiError(Exception):
    """Root of the errors a route raises to answer 4xx."""

    status_code = 400
    error_type = "bad_request"

    def __init__(self, msg: str, loc: Loc = (), error_type: str | None = None) -> None:
        super().__init__(msg)
        self.msg = msg
        self.loc = list(loc)
        if error_type is not None:
            self.error_type = error_type

    def body(self) -> dict[str, Any]:
        """The JSON error body."""
        return {"detail": [{"loc": self.loc, "msg": self.msg, "type": self.error_type}]}


class InvalidInputError(ApiError):
    """A value was well-formed JSON but not acceptable (422)."""

    status_code = 422
    error_type = "value_error"


class NotFoundError(ApiError):
    """Unknown or out-of-scope resource (404)."""

    status_code = 404
    error_type = "not_found"


class ForbiddenError(ApiError):
    """The caller's role does not allow this (403)."""

    status_code = 403
    error_type = "forbidden"


class ConflictError(ApiError):
    """The resource already exists (409)."""

    status_code = 409
    error_type = "conflict"


def _clean(errors: Sequence[Any]) -> list[dict[str, Any]]:
    out = []
    for err in errors:
        out.append(
            {
                "loc": list(err.get("loc", ())),
                "msg": str(err.get("msg", "invalid")),
                "type": str(err.get("type", "value_error")),
            }
        )
    return out


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return JSONResponse(exc.body(), status_code=exc.status_code)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": _clean(exc.errors())}, status_code=422)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail
    body = (
        {"detail": detail}
        if isinstance(detail, list)
        else {"detail": [{"loc": [], "msg": str(detail), "type": f"http_{exc.status_code}"}]}
    )
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    OSError,  # the server's socket is gone or refuses (PostgreSQL stopped); TimeoutError is one too
    asyncpg.PostgresConnectionError,  # SQLSTATE 08: the connection broke
    asyncpg.exceptions.OperatorInterventionError,  # SQLSTATE 57: shutting down, cannot connect now
)
"""PostgreSQL being away for a moment: a retryable 503, never a 500 with a dropped connection."""


async def _unavailable(_: Request, exc: Exception) -> JSONResponse:
    body = {
        "detail": [{"loc": [], "msg": "the database is unavailable; retry shortly", "type": "unavailable"}]
    }
    return JSONResponse(body, status_code=503, headers={"retry-after": "2"})


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that give every error the same body."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for error in UNAVAILABLE_ERRORS:
        app.add_exception_handler(error, _unavailable)
