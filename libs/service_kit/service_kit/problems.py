"""The one error shape of the admin APIs (config API, DLQ replayer): RFC 9457 problem details.

Every 4xx/5xx answer is ``application/problem+json``::

    {"type": "tag:carehooks,2026:problem/invalid-input", "title": "Invalid input", "status": 422,
     "detail": "url: must be https", "errors": [{"loc": ["body", "url"], "msg": "must be https",
     "type": "value_error"}]}

``errors`` lists field errors (``loc`` as in pydantic: where the bad value is), empty when the
problem is not about one field. ``type`` is a tag URI (RFC 4151), as RFC 9457 suggests for types
that are not meant to be dereferenced; plain HTTP statuses without a more specific meaning use
``about:blank``. The exception tree below is shared: the routes and the ``dlq`` CLI raise and
catch these (the CLI maps them to exit codes), each framework turns them into the body once.

ProblemError (400)
├── InvalidInputError     422  malformed or unacceptable input; names the field
├── UnauthorizedError     401  no or unknown bearer token
├── ForbiddenError        403  the token's role or scope does not allow it
├── NotFoundError         404  unknown or out-of-scope resource
├── ConflictError         409  exists already / cannot run now
├── TooManyRequestsError  429  too many failed authentications (Retry-After)
└── UnavailableError      503  PostgreSQL or Kafka unreachable (retry)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from http import HTTPStatus
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "tag:carehooks,2026:problem/"

Loc = Sequence[str | int]


class FieldError(BaseModel):
    """One bad value: where (``loc``), what is wrong (``msg``), and a machine-readable ``type``."""

    model_config = ConfigDict(frozen=True)

    loc: list[str | int] = Field(description='Path to the value, e.g. ["body", "url"] or ["query", "limit"].')
    msg: str
    type: str = Field(description="e.g. value_error, missing, not_found.")


class Problem(BaseModel):
    """An RFC 9457 problem details object."""

    model_config = ConfigDict(frozen=True)

    type: str = Field(description="URI naming the kind of problem (about:blank for a plain HTTP status).")
    title: str = Field(description="Short summary of the kind of problem (the same for every occurrence).")
    status: int = Field(description="The HTTP status code.")
    detail: str = Field(description="What went wrong in this occurrence, for a human.")
    errors: list[FieldError] = Field(default_factory=list, description="Field errors, if any.")

    def to_json(self) -> bytes:
        """The body bytes."""
        return self.model_dump_json().encode()


class ProblemError(Exception):
    """Root of the errors an admin API answers with a 4xx/5xx; the message is safe to show."""

    status: ClassVar[int] = 400
    slug: ClassVar[str] = "bad-request"
    default_headers: ClassVar[Mapping[str, str]] = {}
    error_type: str = "bad_request"

    def __init__(
        self,
        detail: str,
        loc: Loc = (),
        error_type: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.loc = list(loc)
        if error_type is not None:
            self.error_type = error_type
        self.headers = {**self.default_headers, **(headers or {})}

    @property
    def msg(self) -> str:
        """The message (the name the config API's code used)."""
        return self.detail

    def problem(self) -> Problem:
        """This error as a problem details object."""
        errors = [FieldError(loc=self.loc, msg=self.detail, type=self.error_type)] if self.loc else []
        return Problem(
            type=TYPE_PREFIX + self.slug,
            title=HTTPStatus(self.status).phrase,
            status=self.status,
            detail=self.detail,
            errors=errors,
        )


class InvalidInputError(ProblemError):
    """Bad input: filters, times, ids, options, body fields (422)."""

    status = 422
    slug = "invalid-input"
    error_type = "value_error"


class UnauthorizedError(ProblemError):
    """No bearer token, or one that is unknown or revoked (401)."""

    status = 401
    slug = "unauthorized"
    default_headers = {"WWW-Authenticate": "Bearer"}
    error_type = "unauthorized"


class ForbiddenError(ProblemError):
    """The token's role or integration scope does not allow the request (403)."""

    status = 403
    slug = "forbidden"
    error_type = "forbidden"


class NotFoundError(ProblemError):
    """An id that names nothing the caller may see (404)."""

    status = 404
    slug = "not-found"
    error_type = "not_found"


class ConflictError(ProblemError):
    """The resource exists already, or the action cannot run now (409)."""

    status = 409
    slug = "conflict"
    error_type = "conflict"


class TooManyRequestsError(ProblemError):
    """This client failed authentication too often; retry after ``retry_after_s`` (429)."""

    status = 429
    slug = "too-many-requests"
    error_type = "too_many_failures"

    def __init__(self, detail: str, retry_after_s: int, loc: Loc = ()) -> None:
        super().__init__(detail, loc, headers={"Retry-After": str(retry_after_s)})


class UnavailableError(ProblemError):
    """PostgreSQL or Kafka cannot be reached; nothing was changed; retry (503)."""

    status = 503
    slug = "unavailable"
    default_headers = {"Retry-After": "2"}
    error_type = "unavailable"


def http_problem(status: int, detail: str, errors: Sequence[FieldError] = ()) -> Problem:
    """A problem for a plain HTTP status (404 of an unknown path, 405, 413, ...)."""
    known = {cls.status: cls for cls in _TREE}
    cls = known.get(status)
    title = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    return Problem(
        type=TYPE_PREFIX + cls.slug if cls else "about:blank",
        title=title,
        status=status,
        detail=detail,
        errors=list(errors),
    )


def field_errors(errors: Sequence[Mapping[str, Any]]) -> list[FieldError]:
    """Pydantic's errors as field errors, without the ``input`` echo (it can hold credentials)."""
    return [
        FieldError(
            loc=list(err.get("loc", ())),
            msg=str(err.get("msg", "invalid")).removeprefix("Value error, "),
            type=str(err.get("type", "value_error")),
        )
        for err in errors
    ]


def summary(errors: Sequence[FieldError]) -> str:
    """A one-line ``detail`` for a list of field errors."""
    parts = []
    for err in errors[:5]:
        where = ".".join(str(p) for p in err.loc if p not in {"body", "query", "path"})
        parts.append(f"{where}: {err.msg}" if where else err.msg)
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return "; ".join(parts) + more if parts else "invalid input"


def document_problems(openapi: dict[str, Any], statuses: Callable[[str], Sequence[int]]) -> dict[str, Any]:
    """Make an OpenAPI document say that every error answer is a problem (in place; returned).

    Every operation gets ``statuses(path)`` (and keeps the error statuses it declared), each with
    ``application/problem+json`` and the :class:`Problem` schema; FastAPI's own 422 schema is replaced.
    """
    components = openapi.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    components["FieldError"] = components["Problem"].pop("$defs")["FieldError"]
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    ref = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path, operations in openapi.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for status in statuses(path):
                responses.setdefault(str(status), {})
            for status, response in responses.items():
                if status.isdigit() and int(status) >= 400:
                    response["description"] = response.get("description") or HTTPStatus(int(status)).phrase
                    if response["description"] == "Validation Error":
                        response["description"] = "Invalid input"
                    response["content"] = dict(ref)
    return openapi


_TREE: tuple[type[ProblemError], ...] = (
    InvalidInputError,
    UnauthorizedError,
    ForbiddenError,
    NotFoundError,
    ConflictError,
    TooManyRequestsError,
    UnavailableError,
)
