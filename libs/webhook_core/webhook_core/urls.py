"""Subscription URL sanitising and validation (pure; the SSRF check is in :mod:`webhook_core.ssrf`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

MAX_URL_LENGTH = 2048
_WHITESPACE = re.compile(r"\s+", re.UNICODE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class UrlError(ValueError):
    """A subscription URL is not acceptable; the message says why."""


@dataclass(frozen=True)
class CheckedUrl:
    """A sanitised, validated URL and its parts."""

    url: str
    scheme: str
    host: str
    port: int


def sanitize_url(raw: str) -> str:
    """Remove every whitespace character and lower-case the scheme and host (IDNA-encoded)."""
    text = _WHITESPACE.sub("", raw)
    # Zero-width and BOM characters are not \s but are copy-paste artefacts too.
    text = text.replace("\u200b", "").replace("\ufeff", "").replace("\u200c", "").replace("\u200d", "")
    try:
        parts = urlsplit(text)
    except ValueError:
        return text
    if not parts.scheme or not parts.netloc:
        return text
    host = parts.hostname or ""
    try:
        ascii_host = (
            host.encode("idna").decode("ascii") if host and not _is_ip_literal(parts.netloc) else host
        )
    except UnicodeError:
        ascii_host = host
    netloc = parts.netloc
    userinfo, _, hostport = netloc.rpartition("@")
    port_part = ""
    if hostport.startswith("["):
        end = hostport.find("]")
        port_part = hostport[end + 1 :]
        ascii_host = "[" + ascii_host.lower() + "]"
    elif ":" in hostport:
        port_part = ":" + hostport.rsplit(":", 1)[1]
    netloc = (userinfo + "@" if userinfo else "") + ascii_host.lower() + port_part
    return urlunsplit((parts.scheme.lower(), netloc, parts.path, parts.query, parts.fragment))


def _is_ip_literal(netloc: str) -> bool:
    return "[" in netloc


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _valid_hostname(host: str) -> bool:
    """Whether the resolver can take ``host``: Python's IDNA codec (which getaddrinfo applies)
    accepts it and the result fits DNS limits; otherwise the lookup itself raises UnicodeError."""
    try:
        encoded = host.rstrip(".").encode("idna")
    except UnicodeError:
        return False
    return 0 < len(encoded) <= 253 and all(0 < len(label) <= 63 for label in encoded.split(b"."))


def validate_url(url: str, allow_http: bool = False) -> CheckedUrl:
    """Validate a sanitised URL: absolute, https (http only when allowed), host, no userinfo, length."""
    if not url:
        raise UrlError("subscription_url is empty")
    if len(url) > MAX_URL_LENGTH:
        raise UrlError(f"subscription_url is longer than {MAX_URL_LENGTH} characters")
    if _CONTROL.search(url):
        raise UrlError("subscription_url contains a control character")
    if not _encodable(url):
        raise UrlError("subscription_url contains a character that is not valid Unicode (a lone surrogate)")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UrlError(f"subscription_url is not a valid URL ({exc})") from None
    if not parts.scheme or not parts.netloc:
        raise UrlError("subscription_url must be an absolute URL such as https://example.com/hook")
    allowed = {"https", "http"} if allow_http else {"https"}
    if parts.scheme not in allowed:
        if parts.scheme == "http":
            raise UrlError("subscription_url must use https (http is disabled: WEBHOOK_ALLOW_HTTP=false)")
        raise UrlError(f"subscription_url scheme {parts.scheme!r} is not allowed; use https")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise UrlError("subscription_url must not contain credentials; put them in auth")
    host = parts.hostname
    if not host:
        raise UrlError("subscription_url has no host")
    if parts.fragment:
        raise UrlError("subscription_url must not contain a #fragment")
    if not _is_ip_literal(parts.netloc) and not _valid_hostname(host):
        raise UrlError(
            f"subscription_url host {host[:80]!r} is not a valid domain name "
            "(each label 1-63 characters once IDNA-encoded, 253 in all)"
        )
    default_port = 443 if parts.scheme == "https" else 80
    return CheckedUrl(url=url, scheme=parts.scheme, host=host, port=port or default_port)
