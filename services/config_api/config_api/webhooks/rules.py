"""Validation of a webhook's fields against its integration (URL + SSRF, catalogs, filter, criteria).

Every failure raises :class:`InvalidInputError` naming the field (``loc``) and the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from config_api.errors import InvalidInputError
from config_api.webhooks.catalogs import event_types_of, object_types_of
from contracts.catalogs import event_type_pattern_valid
from service_kit.settings import CommonSettings
from webhook_core.criteria import compile_criteria
from webhook_core.filters import FilterError, compile_filter
from webhook_core.sending import RESERVED_HEADERS
from webhook_core.ssrf import DnsError, Resolver, SsrfError, SsrfPolicy, resolve_checked
from webhook_core.urls import UrlError, sanitize_url, validate_url

URL_LOC = ("body", "subscription_url")


def ssrf_policy(settings: CommonSettings) -> SsrfPolicy:
    """The SSRF policy of ``WEBHOOK_ALLOWED_NETWORKS`` and ``WEBHOOK_ALLOWED_PORTS``."""
    return SsrfPolicy(
        allowed_networks=tuple(settings.webhook_allowed_networks), allowed_ports=settings.webhook_ports
    )


async def check_subscription_url(
    raw: str, *, allow_http: bool, policy: SsrfPolicy, resolver: Resolver
) -> tuple[str, str]:
    """The sanitised URL and its host, after validation and the SSRF check of every resolved address."""
    url = sanitize_url(raw)
    try:
        checked = validate_url(url, allow_http=allow_http)
    except UrlError as exc:
        raise InvalidInputError(str(exc), loc=URL_LOC, error_type="url_invalid") from None
    try:
        await resolve_checked(checked.host, checked.port, policy, resolver)
    except SsrfError as exc:
        raise InvalidInputError(
            f"subscription_url not allowed: {exc}", loc=URL_LOC, error_type="ssrf_blocked"
        ) from None
    except DnsError as exc:
        raise InvalidInputError(f"subscription_url: {exc}", loc=URL_LOC, error_type="dns_error") from None
    except ValueError as exc:  # the resolver returned something that is not an address
        raise InvalidInputError(f"subscription_url: {exc}", loc=URL_LOC, error_type="dns_error") from None
    return url, checked.host


def url_origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of a stored URL, the default port filled in; None when it does not parse."""
    try:
        checked = validate_url(sanitize_url(url), allow_http=True)
    except UrlError:
        return None
    return checked.scheme, checked.host.lower(), checked.port


def credentials_must_drop(old_url: str, new_url: str) -> bool:
    """Whether stored credentials must be dropped because the URL moves to another origin."""
    old = url_origin(old_url)
    return old is None or old != url_origin(new_url)


def check_event_types(event_types: Sequence[str], integration: dict[str, Any]) -> list[str]:
    """Each entry must be in the catalog or a valid wildcard; duplicates are dropped."""
    catalog = set(event_types_of(integration))
    out: list[str] = []
    for index, pattern in enumerate(event_types):
        if not event_type_pattern_valid(pattern, catalog, integration["type"]):
            raise InvalidInputError(
                f"unknown event type {pattern!r} for integration {integration['id']!r} "
                f"(see GET /admin/integration/{integration['id']}/event-types)",
                loc=["body", "event_types", index],
                error_type="unknown_event_type",
            )
        if pattern not in out:
            out.append(pattern)
    return out


def check_object_types(object_types: Sequence[str] | None, integration: dict[str, Any]) -> list[str] | None:
    """Each entry must be in the integration's object-type catalog."""
    if object_types is None:
        return None
    catalog = object_types_of(integration)
    out: list[str] = []
    for index, name in enumerate(object_types):
        if name not in catalog:
            raise InvalidInputError(
                f"unknown object type {name!r} for integration {integration['id']!r}",
                loc=["body", "object_types", index],
                error_type="unknown_object_type",
            )
        if name not in out:
            out.append(name)
    return out


def check_filter(doc: dict[str, Any] | None) -> None:
    """The filter must compile with the dispatcher's compiler."""
    if doc is None:
        return
    try:
        compile_filter(doc)
    except FilterError as exc:
        raise InvalidInputError(
            f"invalid filter: {exc}", loc=["body", "filter"], error_type="filter_invalid"
        ) from None
    except (RecursionError, TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"invalid filter: {exc}", loc=["body", "filter"], error_type="filter_invalid"
        ) from None


def check_criteria(criteria: str | None, integration: dict[str, Any]) -> None:
    """FHIR criteria must compile; other integrations may not have criteria."""
    if criteria is None:
        return
    if integration["type"] != "fhir":
        raise InvalidInputError(
            "criteria are only supported for FHIR integrations",
            loc=["body", "criteria"],
            error_type="criteria_invalid",
        )
    try:
        compile_criteria(criteria)
    except (FilterError, ValueError) as exc:
        raise InvalidInputError(
            f"invalid criteria: {exc}", loc=["body", "criteria"], error_type="criteria_invalid"
        ) from None


def check_auth_header_name(auth: Any) -> None:
    """A custom auth header must not replace a signature or framing header."""
    name = getattr(auth, "name", None)
    if getattr(auth, "type", None) == "header" and isinstance(name, str) and name.lower() in RESERVED_HEADERS:
        raise InvalidInputError(
            f"auth header name {name!r} is reserved; choose another header name",
            loc=["body", "auth", "name"],
            error_type="auth_invalid",
        )
