"""devstack.ports.free_ports hands out distinct ports (repeated free_port calls may not)."""

from __future__ import annotations

from devstack.ports import free_ports, port_in_use


def test_free_ports_are_distinct_and_free() -> None:
    ports = free_ports(20)
    assert len(set(ports)) == 20
    assert not any(port_in_use("127.0.0.1", p) for p in ports)
