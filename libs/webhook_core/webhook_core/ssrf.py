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


def _nets(*rows: tuple[str, str]) -> tuple[tuple[IPNetwork, str], ...]:
    return tuple((ipaddress.ip_network(cidr), label) for cidr, label in rows)


# An explicit table, so the verdict never depends on the Python release (``ipaddress``'s
# is_private / is_global flags changed between patch releases). Sources: the IANA IPv4 and IPv6
# Special-Purpose Address Registries (every entry, even those marked globally reachable: no
# webhook receiver lives there), multicast and the deprecated ranges of the address-space registries.
DENIED_V4 = _nets(
    ("0.0.0.0/8", "'this network'"),
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "carrier-grade NAT"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "IETF protocol assignment"),
    ("192.0.2.0/24", "documentation"),
    ("192.31.196.0/24", "AS112"),
    ("192.52.193.0/24", "AMT"),
    ("192.88.99.0/24", "6to4 relay anycast"),
    ("192.168.0.0/16", "private"),
    ("192.175.48.0/24", "AS112"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),
)
DENIED_V6 = _nets(
    ("::1/128", "loopback"),
    ("::/128", "unspecified"),
    ("::/96", "IPv4-compatible (deprecated)"),
    ("100::/64", "discard-only"),
    ("100:0:0:1::/64", "dummy prefix"),
    ("2001::/23", "IETF protocol assignment"),
    ("2001:db8::/32", "documentation"),
    ("2620:4f:8000::/48", "AS112"),
    ("3fff::/20", "documentation"),
    ("5f00::/16", "SRv6 SID"),
    ("fc00::/7", "unique-local"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "site-local (deprecated)"),
    ("ff00::/8", "multicast"),
)
_GLOBAL_UNICAST_V6 = ipaddress.ip_network("2000::/3")
"""IPv6 outside 2000::/3 is unassigned or special (the mapped and NAT64 forms are unwrapped first)."""

METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle instance metadata
        "169.254.170.2",  # AWS ECS task metadata
        "169.254.169.253",  # AWS VPC DNS
        "169.254.169.123",  # AWS time sync
        "169.254.0.23",  # Tencent Cloud metadata
        "168.63.129.16",  # Azure WireServer (a public address!)
        "192.0.0.192",  # Oracle Cloud metadata
        "100.100.100.200",  # Alibaba Cloud metadata
        "fd00:ec2::254",  # AWS metadata over IPv6
        "fd00:ec2::23",  # AWS DNS over IPv6
        "fd00:ec2::123",  # AWS time sync over IPv6
        "fd20:ce::254",  # GCP metadata over IPv6
    )
)
"""Cloud metadata and control-plane addresses: denied even inside ``WEBHOOK_ALLOWED_NETWORKS``."""

_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_SIXTOFOUR = ipaddress.ip_network("2002::/16")
_TEREDO = ipaddress.ip_network("2001::/32")


class SsrfError(ValueError):
    """The destination is not allowed. The message never names a resolved address (an operator
    must not learn what internal names resolve to); it names the host and, for an IP literal the
    caller wrote, the kind of range."""


class DnsError(ValueError):
    """The host does not resolve."""


@dataclass(frozen=True)
class SsrfPolicy:
    """Networks allowed although denied by default (``WEBHOOK_ALLOWED_NETWORKS``) and the ports a
    webhook may use (``WEBHOOK_ALLOWED_PORTS``; None: every port)."""

    allowed_networks: Sequence[IPNetwork] = field(default_factory=tuple)
    allowed_ports: frozenset[int] | None = None
    _hash: int = field(init=False, repr=False, compare=False, default=0)

    def __post_init__(self) -> None:
        # Always a tuple, so a policy is hashable and send-time verdicts can be memoised per policy.
        object.__setattr__(self, "allowed_networks", tuple(self.allowed_networks))
        if self.allowed_ports is not None:
            object.__setattr__(self, "allowed_ports", frozenset(self.allowed_ports))
        # Hashed once: the worker's memoised verdicts hash the policy on every send, and hashing
        # the networks each time cost more than the lookup it keys.
        object.__setattr__(self, "_hash", hash((self.allowed_networks, self.allowed_ports)))

    def __hash__(self) -> int:
        return self._hash


def _embedded_v4(address: ipaddress.IPv6Address) -> tuple[str, ipaddress.IPv4Address] | None:
    """The IPv4 address an IPv6 form carries (mapped, NAT64, 6to4), with the form's name."""
    if address.ipv4_mapped is not None:
        return "IPv4-mapped", address.ipv4_mapped
    if any(address in net for net in _NAT64):
        return "NAT64", ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _SIXTOFOUR:
        return "6to4", ipaddress.IPv4Address((int(address) >> 80) & 0xFFFFFFFF)
    return None


def blocked_reason(address: IPAddress, policy: SsrfPolicy) -> str | None:
    """The kind of range that blocks ``address`` (never the address itself), or None when allowed."""
    if address in METADATA_ADDRESSES:
        return "cloud metadata"
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
        address = ipaddress.IPv6Address(address.compressed.split("%", 1)[0])
    if any(address.version == net.version and address in net for net in policy.allowed_networks):
        return None
    if isinstance(address, ipaddress.IPv4Address):
        if address == ipaddress.IPv4Address("255.255.255.255"):
            return "broadcast"
        return next((label for net, label in DENIED_V4 if address in net), None)
    embedded = _embedded_v4(address)
    if embedded is not None:
        form, inner = embedded
        reason = blocked_reason(inner, policy)
        return f"{form} {reason}" if reason else None
    if address in _TEREDO:
        return "Teredo"
    denied = next((label for net, label in DENIED_V6 if address in net), None)
    if denied is None and address not in _GLOBAL_UNICAST_V6:
        return "reserved"
    return denied


def port_blocked_reason(port: int, policy: SsrfPolicy) -> str | None:
    """Why a port may not be used (``WEBHOOK_ALLOWED_PORTS``), or None."""
    if policy.allowed_ports is None or port in policy.allowed_ports:
        return None
    allowed = ", ".join(str(p) for p in sorted(policy.allowed_ports)) or "none"
    return f"port {port} is not allowed for webhooks (WEBHOOK_ALLOWED_PORTS: {allowed})"


def check_addresses(host: str, addresses: Sequence[str], policy: SsrfPolicy) -> list[str]:
    """Raise SsrfError when any resolved address is blocked; return them normalised otherwise."""
    out: list[str] = []
    literal = literal_address(host) is not None
    for raw in addresses:
        address = ipaddress.ip_address(raw.split("%", 1)[0])
        reason = blocked_reason(address, policy)
        if reason:
            if literal:
                raise SsrfError(f"{host} is a {reason} address, which webhooks may not target")
            raise SsrfError(
                f"{host} resolves to an address webhooks may not target (private, loopback, link-local,"
                " reserved or cloud-metadata ranges are refused unless WEBHOOK_ALLOWED_NETWORKS allows them)"
            )
        out.append(str(address))
    return out


def redact_addresses(text: str, addresses: Sequence[str], host: str) -> str:
    """``text`` (an error from the HTTP client) with every resolved address replaced by the host name."""
    for address in sorted(addresses, key=len, reverse=True):
        if address != host:
            text = text.replace(address, host)
    return text


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
    """Check the port, resolve ``host`` and check every address; returns the addresses to connect to."""
    port_reason = port_blocked_reason(port, policy)
    if port_reason:
        raise SsrfError(port_reason)
    literal = literal_address(host)
    if literal is not None:
        return check_addresses_cached(host, (str(literal),), policy)
    addresses = await resolver(host, port)
    return check_addresses_cached(host, addresses, policy)
