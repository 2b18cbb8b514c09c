"""Every AIOKafkaConsumer a module creates, recorded, so a test can check that each was stopped."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from types import ModuleType
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer


def record_consumers(monkeypatch: pytest.MonkeyPatch, module: ModuleType) -> list[AIOKafkaConsumer]:
    """The consumers ``module`` creates from now on (its ``AIOKafkaConsumer`` name patched)."""
    made: list[AIOKafkaConsumer] = []

    class Recorded(AIOKafkaConsumer):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(module, "AIOKafkaConsumer", Recorded)
    return made


def stopped(consumer: AIOKafkaConsumer) -> bool:
    """Whether ``consumer`` was stopped (aiokafka warns "Unclosed AIOKafkaConsumer" otherwise)."""
    return consumer._closed is True


async def cancel_while_starting(monkeypatch: pytest.MonkeyPatch, work: Awaitable[object]) -> None:
    """Run ``work`` with every consumer's start hanging (a broker that never answers the bootstrap),
    cancel it once a start began, and check that the cancellation came through."""
    entered = asyncio.Event()

    async def hanging_start(self: AIOKafkaConsumer) -> None:
        entered.set()
        await asyncio.Event().wait()

    monkeypatch.setattr(AIOKafkaConsumer, "start", hanging_start)
    task = asyncio.ensure_future(work)
    await asyncio.wait_for(entered.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
