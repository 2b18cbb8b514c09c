"""SSRF policy: which addresses a webhook may be delivered to.

Checked when a URL is stored (config API) and again at send time (delivery worker), where the
sender connects only to the addresses checked here (no second DNS resolution: defeats rebinding).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_BENCHMARK = ipaddress.ip_network("198.18.0.0/15")
_THIS_NET = ipaddress.ip_network("0.0.0.0/8")


class SsrfError(ValueError):
    """The destination is not allowed; the message names the address and why."""


class DnsError(ValueError):
    """The host does not resolve."""


@dataclass(frozen=True)
class SsrfPolicy:
    """Networks that are allowed although private (``WEBHOOK_ALLOWED_NETWORKS``)."""

    allowed_networks: Sequence[IPNetwork] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        # Always a tuple, so a policy is hashable and send-time verdicts can be memoised per policy.
        object.__setattr__(self, "allowed_networks", tuple(self.allowed_networks))


def blocked_reason(address: IPAddress, policy: SsrfPolicy) -> str | None:
    """Why an address is blocked, or None when it may be contacted."""
    if any(address.version == net.version and address in net for net in policy.allowed_networks):
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            inner = blocked_reason(address.ipv4_mapped, policy)
            return f"IPv4-mapped {inner}" if inner else None
        if address in _NAT64 or address in _NAT64_LOCAL:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
            inner = blocked_reason(embedded, policy)
            return f"NAT64 {inner}" if inner else None
        if address.sixtofour is not None:
            inner = blocked_reason(address.sixtofour, policy)
            return f"6to4 {inner}" if inner else None
        if address.teredo is not None:
            return "a Teredo address"
    checks: list[tuple[bool, str]] = [
        (address.is_loopback, "loopback"),
        (address.is_unspecified, "unspecified"),
        (address.is_link_local, "link-local"),
        (address.is_multicast, "multicast"),
        (isinstance(address, ipaddress.IPv4Address) and address in _CGNAT, "carrier-grade NAT"),
        (isinstance(address, ipaddress.IPv4Address) and address in _THIS_NET, "'this network'"),
        (isinstance(address, ipaddress.IPv4Address) and address in _BENCHMARK, "benchmarking"),
        (address.is_private, "private"),
        (address.is_reserved, "reserved"),
        (not address.is_global, "not globally routable"),
    ]
    for hit, label in checks:
        if hit:
            return f"{label} address {address}"
    return None


def check_addresses(host: str, addresses: Sequence[str], policy: SsrfPolicy) -> list[str]:
    """Raise SsrfError when any resolved address is blocked; return them normalised otherwise."""
    out: list[str] = []
    for raw in addresses:
        address = ipaddress.ip_address(raw.split("%", 1)[0])
        reason = blocked_reason(address, policy)
        if reason:
            raise SsrfError(f"{host} resolves to a {reason}, which webhooks may not target")
        out.append(str(address))
    return out


async def system_resolver(host: str, port: int) -> list[str]:
    """Resolve with the system resolver (getaddrinfo in a thread)."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise DnsError(f"host {host!r} does not resolve ({exc.strerror})") from None
    seen: list[str] = []
    for info in infos:
        addr = str(info[4][0])
        if addr not in seen:
            seen.append(addr)
    if not seen:
        raise DnsError(f"host {host!r} does not resolve")
    return seen


@lru_cache(maxsize=8192)
def literal_address(host: str) -> IPAddress | None:
    """The IP when ``host`` is an IP literal (brackets allowed), else None."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


@lru_cache(maxsize=8192)
def _checked(host: str, addresses: tuple[str, ...], policy: SsrfPolicy) -> tuple[str, ...] | str:
    try:
        return tuple(check_addresses(host, addresses, policy))
    except SsrfError as exc:
        return str(exc)


def check_addresses_cached(host: str, addresses: Sequence[str], policy: SsrfPolicy) -> list[str]:
    """:func:`check_addresses`, memoised: the verdict is a pure function of host, addresses and policy,
    and the worker asks it for every send (parsing and classifying IPs is most of its cost)."""
    verdict = _checked(host, tuple(addresses), policy)
    if isinstance(verdict, str):
        raise SsrfError(verdict)
    return list(verdict)


async def resolve_checked(
    host: str, port: int, policy: SsrfPolicy, resolver: Resolver = system_resolver
) -> list[str]:
    """Resolve ``host`` and check every address; returns the addresses to connect to."""
    literal = literal_address(host)
    if literal is not None:
        return check_addresses_cached(host, (str(literal),), policy)
    addresses = await resolver(host, port)
    return check_addresses_cached(host, addresses, policy)
