"""The event loop a service runs on follows EVENT_LOOP."""

from __future__ import annotations

import asyncio

import pytest

from service_kit.runtime import EventLoopName, current_loop_name, loop_factory, run


async def _which() -> str:
    return current_loop_name()


LOOPS: list[EventLoopName] = ["uvloop", "asyncio"]


@pytest.mark.parametrize("name", LOOPS)
def test_run_on_the_chosen_loop(name: EventLoopName) -> None:
    # This module is not run inside pytest-asyncio's loop: run() opens and closes its own.
    assert run(_which(), name) == name


def test_standard_loop_has_no_factory() -> None:
    assert loop_factory("asyncio") is None
    factory = loop_factory("uvloop")
    assert factory is not None
    loop = factory()
    try:
        assert isinstance(loop, asyncio.AbstractEventLoop)
    finally:
        loop.close()
