"""Publishing results, retries, dead letters and invalid records; returns only once the broker acked.

A job's offset is committed only after its publications are acknowledged, so a failed publish is
retried here (the broker may be restarting) until it succeeds or the worker shuts down; in the
latter case the job stays uncommitted and is redone by the next owner of its partition.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Publication:
    """One record to produce."""

    topic: str
    key: str
    value: bytes
    headers: list[tuple[str, bytes]] = field(default_factory=list)


class Outbox:
    """Produces publications and waits for their acknowledgements."""

    def __init__(self, producer: AIOKafkaProducer, stopping: asyncio.Event) -> None:
        self._producer = producer
        self._stopping = stopping

    async def publish(self, items: Sequence[Publication]) -> None:
        """Produce every item and wait until all are acknowledged (retrying failed sends)."""
        remaining = list(items)
        attempt = 0
        while remaining:
            failed: list[Publication] = []
            errors: set[str] = set()
            sent: list[tuple[Publication, asyncio.Future[object]]] = []
            for item in remaining:
                try:
                    future = await self._producer.send(
                        item.topic, item.value, key=item.key.encode(), headers=item.headers
                    )
                except KafkaError as exc:  # e.g. the accumulator could not take it in time
                    failed.append(item)
                    errors.add(type(exc).__name__)
                    continue
                sent.append((item, future))
            outcomes = await asyncio.gather(*(f for _, f in sent), return_exceptions=True)
            for (item, _), outcome in zip(sent, outcomes, strict=True):
                if isinstance(outcome, KafkaError):
                    failed.append(item)
                    errors.add(type(outcome).__name__)
                elif isinstance(outcome, BaseException):
                    raise outcome
            if not failed:
                return
            attempt += 1
            if self._stopping.is_set() and attempt > 3:
                raise RuntimeError(
                    f"could not publish {len(failed)} records while stopping: {sorted(errors)}"
                )
            logger.warning(
                "publish failed, retrying", extra={"records": len(failed), "errors": sorted(errors)}
            )
            await asyncio.sleep(min(5.0, 0.1 * 2**attempt))
            remaining = failed
