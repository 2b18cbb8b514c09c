"""A tiny DNS server on loopback UDP for resolver tests: answers A queries from a table, never answers
names in ``black_hole`` (the query is dropped, like a dead authoritative server), NXDOMAIN otherwise."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass
class FakeDns:
    answers: dict[str, str] = field(default_factory=dict)
    black_hole: set[str] = field(default_factory=set)
    queries: list[str] = field(default_factory=list)
    port: int = 0

    @property
    def nameserver(self) -> str:
        return f"127.0.0.1:{self.port}"


def _name(packet: bytes, offset: int) -> tuple[str, int]:
    labels = []
    while packet[offset]:
        length = packet[offset]
        labels.append(packet[offset + 1 : offset + 1 + length].decode())
        offset += 1 + length
    return ".".join(labels).lower(), offset + 1


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, dns: FakeDns) -> None:
        self.dns = dns
        self.transport: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        qid, _flags, _qd, _an, _ns, _ar = struct.unpack("!6H", data[:12])
        name, end = _name(data, 12)
        qtype, _qclass = struct.unpack("!2H", data[end : end + 4])
        question = data[12 : end + 4]
        self.dns.queries.append(name)
        if name in self.dns.black_hole:
            return
        address = self.dns.answers.get(name)
        if address is None:
            reply = struct.pack("!6H", qid, 0x8183, 1, 0, 0, 0) + question  # NXDOMAIN
        elif qtype == 1:
            answer = b"\xc0\x0c" + struct.pack("!2HIH", 1, 1, 30, 4) + socket.inet_aton(address)
            reply = struct.pack("!6H", qid, 0x8180, 1, 1, 0, 0) + question + answer
        else:  # no AAAA record: NOERROR, no answer
            reply = struct.pack("!6H", qid, 0x8180, 1, 0, 0, 0) + question
        self.transport.sendto(reply, addr)


@asynccontextmanager
async def fake_dns(answers: dict[str, str], black_hole: set[str] | None = None) -> AsyncIterator[FakeDns]:
    dns = FakeDns(answers={k.lower(): v for k, v in answers.items()}, black_hole=black_hole or set())
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: _Protocol(dns), local_addr=("127.0.0.1", 0))
    dns.port = transport.get_extra_info("sockname")[1]
    try:
        yield dns
    finally:
        transport.close()
