"""Every AIOKafkaConsumer a module creates, recorded, so a test can check that each was stopped."""

from __future__ import annotations

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
