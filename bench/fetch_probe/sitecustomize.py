"""Fetch-time probe for ``system_bench.py --fetch-times`` (a bench tool, never on a service's path).

Put on ``PYTHONPATH`` with ``CAREHOOKS_FETCH_PROBE_DIR`` set, it wraps ``AIOKafkaConsumer.getmany`` in
every Python process started with that environment: for each record handed to the application it
appends ``<topic> <record timestamp ms> <taken ms>`` to ``<dir>/<pid>.txt``, so a hop can be split
at the moment the consuming service took the record (see ``bench/fetch_times.py``); and it wraps
``AIOKafkaProducer.send``: for each record produced it appends ``ack:<topic> <sent ms> <acked ms>``
(when the application handed it over, when the broker's acknowledgement reached the producer), so
the producer's queue and the broker's write can be told apart from the fetch; and each garbage
collection: ``gc:<generation> <start ms> <end ms> <CPU ms>`` (a collection stops the event loop: in
2026-12-04's runs the dispatcher's took 30-58 ms at a time). Lines are buffered and written at most
once a second, and at exit. Without the variable it does nothing.
"""

from __future__ import annotations

import atexit
import gc
import os
import time
from typing import Any

_DIR = os.environ.get("CAREHOOKS_FETCH_PROBE_DIR")


def _install(directory: str) -> None:
    from aiokafka.consumer import consumer as consumer_module
    from aiokafka.producer import producer as producer_module

    original = consumer_module.AIOKafkaConsumer.getmany
    original_send = producer_module.AIOKafkaProducer.send
    path = os.path.join(directory, f"{os.getpid()}.txt")
    lines: list[str] = []
    flushed = [time.monotonic()]

    def flush() -> None:
        if lines:
            with open(path, "a", encoding="ascii") as out:
                out.write("".join(lines))
            lines.clear()
        flushed[0] = time.monotonic()

    async def getmany(
        self: Any, *partitions: Any, timeout_ms: int = 0, max_records: int | None = None
    ) -> Any:
        batch = await original(self, *partitions, timeout_ms=timeout_ms, max_records=max_records)
        if batch:
            taken = time.time() * 1000
            for tp, records in batch.items():
                lines.extend(f"{tp.topic} {r.timestamp} {taken:.1f}\n" for r in records)
        if time.monotonic() - flushed[0] > 1.0:
            flush()
        return batch

    async def send(self: Any, topic: str, *args: Any, **kwargs: Any) -> Any:
        sent = time.time() * 1000
        future = await original_send(self, topic, *args, **kwargs)

        def acked(done: Any) -> None:
            if not done.cancelled() and done.exception() is None:
                lines.append(f"ack:{topic} {sent:.1f} {time.time() * 1000:.1f}\n")

        future.add_done_callback(acked)
        return future

    gc_started = [0.0, 0.0]

    def collected(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            gc_started[:] = time.time() * 1000, time.thread_time() * 1000
        else:
            now, cpu = time.time() * 1000, time.thread_time() * 1000 - gc_started[1]
            lines.append(f"gc:{info['generation']} {gc_started[0]:.2f} {now:.2f} {cpu:.2f}\n")

    consumer_module.AIOKafkaConsumer.getmany = getmany
    producer_module.AIOKafkaProducer.send = send
    gc.callbacks.append(collected)
    atexit.register(flush)


if _DIR:
    try:
        _install(_DIR)
    except Exception as exc:  # a probe must never stop the service it rides in: say why it is off
        import sys

        print(f"fetch probe not installed: {exc!r}", file=sys.stderr)
