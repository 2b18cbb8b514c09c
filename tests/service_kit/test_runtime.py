"""The event loop a service runs on follows EVENT_LOOP."""

from __future__ import annotations

import asyncio
import gc

import pytest

from service_kit.runtime import EventLoopName, current_loop_name, loop_factory, run, tuned_gc


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


async def _gc_state() -> tuple[int, int]:
    return gc.get_threshold()[0], gc.get_freeze_count()


def test_run_tunes_the_garbage_collector_and_restores_it() -> None:
    before = gc.get_threshold()
    threshold, frozen = run(_gc_state(), "asyncio", 12_345)
    assert threshold == 12_345
    assert frozen > 0  # the import-time heap is out of every collection
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_zero_leaves_the_garbage_collector_alone() -> None:
    before = gc.get_threshold()
    with tuned_gc(0):
        assert gc.get_threshold() == before
        assert gc.get_freeze_count() == 0
