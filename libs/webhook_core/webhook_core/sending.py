"""One signed webhook POST: used by the delivery worker and by the config API's test delivery.

The destination is re-checked against the SSRF policy at send time and the request connects only
to the addresses that passed the check: the URL's host is swapped for the checked IP, the original
host travels in the ``Host`` header and, for https, as the TLS ``server_hostname`` (SNI and
certificate verification). There is no second DNS lookup for a rebinding attacker to win, and
aiohttp keys pooled connections by ``server_hostname`` too, so a TLS connection verified for one
host is never reused for another host on the same IP.

:func:`send_webhook` never raises for endpoint problems; it returns a :class:`SendResult`.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple
from urllib.parse import urlsplit

import aiohttp
from yarl import URL

from contracts.deliveries import ErrorCategory
from contracts.webhooks import BasicAuth, BearerAuth, HeaderAuth, NoAuth
from webhook_core.outcome import Classification, classify
from webhook_core.secrets_crypto import mask
from webhook_core.signing import signature_header
from webhook_core.ssrf import (
    DnsError,
    Resolver,
    SsrfError,
    SsrfPolicy,
    check_addresses_cached,
    literal_address,
    port_blocked_reason,
    redact_addresses,
    resolve_checked,
    system_resolver,
)
from webhook_core.urls import CheckedUrl, UrlError, sanitize_url, validate_url

USER_AGENT = "carehooks-webhooks/0.1"
RESPONSE_EXCERPT_BYTES = 1024
_MAX_ERROR_CHARS = 500

Auth = NoAuth | BasicAuth | BearerAuth | HeaderAuth

_STANDARD_HEADERS = frozenset(
    {"content-type", "user-agent", "webhook-id", "webhook-timestamp", "webhook-signature"}
)
RESERVED_HEADERS = _STANDARD_HEADERS | {"host", "content-length", "transfer-encoding", "connection"}
"""Header names a custom auth header may not use (it would replace the signature or break framing)."""


class SendResult(NamedTuple):
    """What one POST did (a named tuple: one per delivery, built several times faster than a frozen
    dataclass)."""

    status_code: int | None
    response_ms: int
    response_body: str
    """First 1 KB of the response body (UTF-8, undecodable bytes replaced)."""
    error_category: ErrorCategory | None
    error: str | None
    retry_after: str | None
    """The raw ``Retry-After`` header, if any."""
    classification: Classification

    @property
    def success(self) -> bool:
        """True for a 2xx answer."""
        return self.classification.success


def build_headers(
    message_id: str, timestamp: int, body: bytes, secrets: Sequence[str], auth: Auth
) -> dict[str, str]:
    """Standard Webhooks headers (one signature per valid secret) plus the webhook's auth header.

    Raises ValueError when a custom auth header would overwrite one of the reserved headers.
    """
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
    }
    if secrets:
        headers["webhook-signature"] = signature_header(secrets, message_id, timestamp, body)
    if isinstance(auth, BasicAuth):
        token = base64.b64encode(f"{auth.username}:{auth.password}".encode()).decode()
        headers["authorization"] = f"Basic {token}"
    elif isinstance(auth, BearerAuth):
        headers["authorization"] = f"Bearer {auth.token}"
    elif isinstance(auth, HeaderAuth):
        name = auth.name.lower()
        if name in RESERVED_HEADERS:
            raise ValueError(f"auth header name {auth.name!r} is reserved; choose another header name")
        headers[name] = auth.value
    return headers


def mask_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers safe to show: the Standard Webhooks ones as sent, every other value (auth) masked."""
    out: dict[str, str] = {}
    for name, value in headers.items():
        lower = name.lower()
        if lower in _STANDARD_HEADERS:
            out[name] = value
        elif lower == "authorization" and " " in value:
            scheme, _, credential = value.partition(" ")
            out[name] = f"{scheme} {mask(credential)}"
        else:
            out[name] = mask(value)
    return out


def _error(kind: str, message: str, response_ms: int) -> SendResult:
    classification = classify(None, kind)
    return SendResult(
        status_code=None,
        response_ms=response_ms,
        response_body="",
        error_category=classification.category,
        error=message[:_MAX_ERROR_CHARS],
        retry_after=None,
        classification=classification,
    )


@dataclass(frozen=True, eq=False)
class _Target:
    """A subscription URL checked once: what every send to it needs besides the checked addresses."""

    checked: CheckedUrl
    host_header: str
    server_hostname: str | None
    """The host for SNI and certificate verification (https only)."""
    literal: str | None
    """The normalised address when the host is an IP literal (no lookup, ever)."""
    pinned: dict[str, URL] = field(default_factory=dict)
    """The URL pinned to each checked address seen (a handful; see :meth:`pinned_url`)."""

    def pinned_url(self, address: str) -> URL:
        """The URL with its host replaced by a checked IP address (path and query unchanged)."""
        found = self.pinned.get(address)
        if found is None:
            if len(self.pinned) >= _MAX_PINNED:
                self.pinned.clear()  # a host whose DNS answers rotate through many addresses
            parts = urlsplit(self.checked.url)
            host = f"[{address}]" if ":" in address else address
            query = f"?{parts.query}" if parts.query else ""
            found = self.pinned[address] = URL(
                f"{self.checked.scheme}://{host}:{self.checked.port}{parts.path or '/'}{query}", encoded=True
            )
        return found


_MAX_PINNED = 16


@lru_cache(maxsize=4096)
def _target(url: str, allow_http: bool) -> _Target | str:
    """The checked target of ``url``, or the reason it is not acceptable (cached: pure, and asked for
    every send; identity-hashed, so the memoised verdicts it keys cost no hashing of its fields)."""
    try:
        checked = validate_url(sanitize_url(url), allow_http=allow_http)
    except UrlError as exc:
        return str(exc)
    literal = literal_address(checked.host)
    return _Target(
        checked,
        _host_header(checked),
        checked.host if checked.scheme == "https" else None,
        None if literal is None else str(literal),
    )


@lru_cache(maxsize=64)
def _whole_timeout(timeout_s: float) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=timeout_s)


def _known_addresses(target: _Target, policy: SsrfPolicy, resolver: Resolver) -> list[str] | None:
    """The checked addresses when no lookup is needed (an IP literal, or a fresh answer in the
    resolver's cache); None when the resolver must be asked. Raises SsrfError like resolve_checked."""
    host = target.checked.host
    if target.literal is not None:
        return check_addresses_cached(host, (target.literal,), policy)
    peek = getattr(resolver, "peek", None)
    cached = peek(host, target.checked.port) if peek is not None else None
    return None if cached is None else check_addresses_cached(host, cached, policy)


def _host_header(checked: CheckedUrl) -> str:
    host = f"[{checked.host}]" if ":" in checked.host else checked.host
    default = 443 if checked.scheme == "https" else 80
    return host if checked.port == default else f"{host}:{checked.port}"


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def read_excerpt(response: aiohttp.ClientResponse) -> str:
    """The first 1 KB of the response body, without waiting for more once the answer ended."""
    data = bytearray()
    while len(data) < RESPONSE_EXCERPT_BYTES:
        chunk = await response.content.read(RESPONSE_EXCERPT_BYTES - len(data))
        if not chunk:
            break
        data += chunk
        if response.content.at_eof():
            break  # the usual short answer: no second read just to learn that it ended
    return data.decode("utf-8", errors="replace")


async def send_webhook(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    timeout_s: float,
    policy: SsrfPolicy,
    allow_http: bool,
    resolver: Resolver = system_resolver,
) -> SendResult:
    """POST ``body`` to ``url``; ``timeout_s`` covers resolution, connect, send and receive.

    Redirects are not followed and TLS certificates are verified (the session's default SSL
    context, so a caller may trust an extra CA). With several checked addresses, the next one is
    tried only when connecting fails and time remains.
    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = started + timeout_s

    def elapsed_ms() -> int:
        return int((loop.time() - started) * 1000)

    target = _target(url, allow_http)
    if isinstance(target, str):
        return _error("invalid_config", target, elapsed_ms())
    checked = target.checked
    port_reason = port_blocked_reason(checked.port, policy)
    if port_reason:
        return _error("ssrf_blocked", port_reason, elapsed_ms())
    looked_up = False
    try:
        addresses = _known_addresses(target, policy, resolver)
        if addresses is None:
            looked_up = True
            async with asyncio.timeout(timeout_s):
                addresses = await resolve_checked(checked.host, checked.port, policy, resolver)
    except SsrfError as exc:
        return _error("ssrf_blocked", str(exc), elapsed_ms())
    except DnsError as exc:
        return _error("dns_error", str(exc), elapsed_ms())
    except TimeoutError:
        return _error("timeout", f"resolving {checked.host} took longer than {timeout_s:g} s", elapsed_ms())

    request_headers = {**headers, "host": target.host_header}
    last: SendResult | None = None
    for index, address in enumerate(addresses):
        if index == 0 and not looked_up and timeout_s > 0:
            # Nothing awaited yet: the whole timeout remains (to the microsecond), and one cached
            # ClientTimeout per value spares building one per request.
            timeout = _whole_timeout(timeout_s)
        else:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            timeout = aiohttp.ClientTimeout(total=remaining)
        try:
            async with session.post(
                target.pinned_url(address),
                data=body,
                headers=request_headers,
                allow_redirects=False,
                timeout=timeout,
                server_hostname=target.server_hostname,
            ) as response:
                excerpt = await read_excerpt(response)
                status = response.status
                retry_after = response.headers.get("retry-after")
        except TimeoutError:
            return _error("timeout", f"no complete answer within {timeout_s:g} s", elapsed_ms())
        except (aiohttp.ClientConnectorCertificateError, aiohttp.ClientSSLError, ssl.SSLError) as exc:
            return _error(
                "tls_error", redact_addresses(_describe(exc), addresses, checked.host), elapsed_ms()
            )
        except aiohttp.ClientConnectorError as exc:
            last = _error(
                "connection_error", redact_addresses(_describe(exc), addresses, checked.host), elapsed_ms()
            )
            if index + 1 < len(addresses):
                continue  # only connecting failed, nothing was sent: the next checked address is safe to try
            return last
        except aiohttp.InvalidURL as exc:
            return _error(
                "invalid_config", redact_addresses(_describe(exc), addresses, checked.host), elapsed_ms()
            )
        except (aiohttp.ClientError, OSError) as exc:
            return _error(
                "connection_error", redact_addresses(_describe(exc), addresses, checked.host), elapsed_ms()
            )
        except ValueError as exc:  # aiohttp rejects header values with control characters
            return _error(
                "invalid_config", redact_addresses(_describe(exc), addresses, checked.host), elapsed_ms()
            )
        classification = classify(status, None)
        return SendResult(
            status_code=status,
            response_ms=int((loop.time() - started) * 1000),
            response_body=excerpt,
            error_category=classification.category,
            error=None if classification.success else f"HTTP {status}",
            retry_after=retry_after,
            classification=classification,
        )
    return last or _error("timeout", f"no complete answer within {timeout_s:g} s", elapsed_ms())
