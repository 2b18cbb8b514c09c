"""One raw broker hop (produce -> a consumer following the topic), the floor of the latency budget.

``raw_hop_latency`` measures it in the calling process; run as a script, this module measures it in a
process of its own, started by ``system_bench`` *beside* the pipeline's latency run (same broker, same
seconds, a tenth of the rate). The raw hop measured alone shows what the broker costs on a quiet
machine; the one measured beside shows what a hop costs while the pipeline's load shares the broker
and the two cores: the difference is the machine's limit, not the pipeline's code. Its own process,
so that the load generator's event loop does not delay its sends or its reads.

    python bench/hop_probe.py BOOTSTRAP TOPIC RATE SECONDS START_AT BODY_FILE
prints its samples, ``[[sent wall-clock s, latency ms], ...]`` (JSON), on its last line; it starts
sending at the wall-clock START_AT. ``system_bench`` summarises them and lines them up with the
pipeline's slowest events (``bench/tail_attribution.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from chaos_lib.measure import latency_summary

from devstack.broker import EMBEDDED_BROKER_ENV
from service_kit.kafka import consumer_options, producer_options
from service_kit.kafka_security import embedded_broker_client
from service_kit.runtime import run as run_tuned


async def raw_hop_latency(
    bootstrap: str, topic: str, body: bytes, rate: float, seconds: float
) -> dict[str, float]:
    """The latency summary of :func:`hop_samples`."""
    return latency_summary([ms for _, ms in await hop_samples(bootstrap, topic, body, rate, seconds)])


async def hop_samples(
    bootstrap: str,
    topic: str,
    body: bytes,
    rate: float,
    seconds: float,
    fetch_wait_ms: int = int(EMBEDDED_BROKER_ENV["KAFKA_FETCH_MAX_WAIT_MS"]),
    start_at: float | None = None,
) -> list[tuple[float, float]]:
    """One broker hop at ``rate``/s, (send wall-clock s, ms until a consumer following the topic got it)
    per record.

    The consumer fetches with the services' wait (``make run``'s 10 ms): the embedded broker holds a
    fetch for its whole wait, so a longer one would make the floor slower than the pipeline's own hops
    (until 2026-12-03 it was 50 ms). Sending starts at the wall-clock ``start_at`` when given."""
    consumer = AIOKafkaConsumer(
        group_id=None, **consumer_options(bootstrap, embedded_broker_client(), fetch_wait_ms)
    )
    producer = AIOKafkaProducer(**producer_options(bootstrap, embedded_broker_client()))
    await consumer.start()
    await producer.start()
    sent: dict[bytes, float] = {}
    got: list[tuple[float, float]] = []
    try:
        await consumer.topics()
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or set()]
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        for tp in tps:
            await consumer.position(tp)

        async def follow() -> None:
            while True:
                for records in (await consumer.getmany(timeout_ms=200, max_records=2000)).values():
                    now = time.time()
                    got.extend((sent[r.key], (now - sent[r.key]) * 1000) for r in records if r.key in sent)

        follower = asyncio.create_task(follow())
        if start_at is not None:
            await asyncio.sleep(max(0.0, start_at - time.time()))
        count = max(1, int(rate * seconds))
        began = time.monotonic()
        for i in range(count):
            delay = began + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            key = f"hop{i}".encode()
            sent[key] = time.time()
            await producer.send(topic, body, key=key)
        deadline = time.monotonic() + 10
        while len(got) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        follower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follower
    finally:
        await producer.stop()
        await consumer.stop()
    return got


async def start_beside(
    bootstrap: str, topic: str, rate: float, seconds: float, body_file: Path, lead_s: float = 2.5
) -> tuple[asyncio.subprocess.Process, float]:
    """Start a probe process that sends from ``lead_s`` from now; returns it and that start time."""
    start_at = time.time() + lead_s
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        bootstrap,
        topic,
        str(rate),
        str(seconds),
        str(start_at),
        str(body_file),
        stdout=asyncio.subprocess.PIPE,
    )
    return proc, start_at


async def result_of(proc: asyncio.subprocess.Process) -> list[tuple[float, float]]:
    """The probe's samples (none when it printed none)."""
    out, _ = await proc.communicate()
    lines = out.decode().strip().splitlines()
    with contextlib.suppress(ValueError, IndexError, TypeError):
        return [(float(sent), float(ms)) for sent, ms in json.loads(lines[-1])]
    return []


def main(argv: list[str]) -> int:
    bootstrap, topic, rate, seconds, start_at, body_file = argv
    body = Path(body_file).read_bytes()
    # tuned like the services and the load generator (uvloop, the same garbage-collector thresholds)
    samples = run_tuned(
        hop_samples(bootstrap, topic, body, float(rate), float(seconds), start_at=float(start_at)),
        "uvloop",
    )
    print(json.dumps([[round(sent, 4), round(ms, 2)] for sent, ms in samples]), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
