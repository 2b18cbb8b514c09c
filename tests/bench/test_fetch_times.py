"""``system_bench --fetch-times``: the probe that rides in the services (bench/fetch_probe) logs when each
record was taken and when each one produced was acknowledged, against the real embedded broker in a process of its own; the parsing and the
summaries (bench/fetch_times.py) are table-tested."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
from fetch_times import gc_pauses, parse_gc_lines, parse_lines, process_role, read_probe_dir, taken_summary

BENCH = Path(__file__).resolve().parents[2] / "bench"

CONSUMER_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
    from service_kit.kafka import consumer_options, producer_options
    from service_kit.kafka_security import embedded_broker_client

    async def main(bootstrap: str, topic: str) -> None:
        producer = AIOKafkaProducer(**producer_options(bootstrap, embedded_broker_client()))
        consumer = AIOKafkaConsumer(group_id=None, **consumer_options(bootstrap, embedded_broker_client(), 10))
        await producer.start()
        await consumer.start()
        try:
            for i in range(3):
                await producer.send_and_wait(topic, b"x", key=str(i).encode(), partition=0)
            tp = TopicPartition(topic, 0)
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            got = 0
            while got < 3:
                batch = await consumer.getmany(timeout_ms=500)
                got += sum(len(records) for records in batch.values())
        finally:
            await consumer.stop()
            await producer.stop()

    asyncio.run(main(sys.argv[1], sys.argv[2]))
    import gc
    gc.collect()
    """
)


@pytest.mark.integration
def test_the_probe_logs_each_record_a_process_took(kafka_bootstrap: str, tmp_path: Path) -> None:
    topic = f"fetchprobe.{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(BENCH / "fetch_probe"), os.environ.get("PYTHONPATH")) if p
        ),
        "CAREHOOKS_FETCH_PROBE_DIR": str(tmp_path),
    }
    subprocess.run(
        [sys.executable, "-c", CONSUMER_SCRIPT, kafka_bootstrap, topic], env=env, check=True, timeout=60
    )
    samples = read_probe_dir(tmp_path)
    assert len(samples[topic]) == 3
    for created, taken in samples[topic]:
        assert 0 <= taken - created < 30_000  # taken after it was stamped, written at exit
    # And each record the process produced, from the hand-over to the broker's acknowledgement.
    assert len(samples[f"ack:{topic}"]) == 3
    for sent, acked in samples[f"ack:{topic}"]:
        assert 0 <= acked - sent < 30_000
    # And the garbage collections, the script's own full one among them.
    (probe_file,) = tmp_path.glob("*.txt")
    pauses = parse_gc_lines(probe_file.read_text().splitlines())
    assert any(generation == 2 for generation, *_ in pauses)
    assert all(end >= start and cpu >= 0 for _, start, end, cpu in pauses)


def test_without_the_variable_the_probe_does_nothing(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(BENCH / "fetch_probe")}
    env.pop("CAREHOOKS_FETCH_PROBE_DIR", None)
    script = "from aiokafka.consumer import consumer as c; print(c.AIOKafkaConsumer.getmany.__module__)"
    out = subprocess.run([sys.executable, "-c", script], env=env, check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "aiokafka.consumer.consumer"


def test_parse_lines_skips_what_it_cannot_read() -> None:
    lines = ["a 1000 1012.5\n", "b 5 9\n", "garbage\n", "a x 3\n", "a 2000 2003.0\n", ""]
    assert parse_lines(lines) == {"a": [(1000.0, 1012.5), (2000.0, 2003.0)], "b": [(5.0, 9.0)]}


def test_read_probe_dir_merges_the_processes(tmp_path: Path) -> None:
    (tmp_path / "1.txt").write_text("jobs 10 15\nevents 1 2\n")
    (tmp_path / "2.txt").write_text("jobs 20 40\n")
    (tmp_path / "notes.log").write_text("jobs 0 1000\n")  # not a probe file
    samples = read_probe_dir(tmp_path)
    assert sorted(samples["jobs"]) == [(10.0, 15.0), (20.0, 40.0)]
    assert samples["events"] == [(1.0, 2.0)]


@pytest.mark.parametrize(
    ("since", "until", "expected_n", "expected_p50"),
    [
        (0, 1_000, 3, 10.0),  # every record stamped in the window
        (150, 1_000, 2, 10.0),  # the first one before it
        (0, 300, 2, 5.0),  # the last one at the window's end is outside it
        (500, 600, 0, None),  # none
    ],
)
def test_taken_summary_keeps_the_window(
    since: float, until: float, expected_n: int, expected_p50: float | None
) -> None:
    samples = {"jobs": [(100.0, 105.0), (200.0, 210.0), (300.0, 330.0)], "other": [(100.0, 900.0)]}
    summary = taken_summary(samples, "jobs", since, until)
    assert summary["n"] == expected_n
    assert summary.get("p50") == expected_p50


def test_parse_gc_lines_reads_only_collections() -> None:
    lines = ["gc:0 100 101.5 1.2\n", "gc:2 200 260 55\n", "jobs 1 2\n", "gc:x 1 2 3\n", "gc:1 1 2\n"]
    assert parse_gc_lines(lines) == [(0, 100.0, 101.5, 1.2), (2, 200.0, 260.0, 55.0)]


@pytest.mark.parametrize(
    ("lines", "role"),
    [
        (["p.webhooks.deliveries 1 2\n", "ack:p.webhooks.delivery-results 1 2\n"], "deliveries"),
        (["p.a.events 1 2\n", "p.b.events 1 2\n", "p.webhooks.config 1 2\n"], "config,events"),
        (["gc:0 1 2 0.5\n", "ack:p.x 1 2\n"], "no consumer"),
    ],
)
def test_process_role_names_what_it_consumed(lines: list[str], role: str) -> None:
    assert process_role(lines) == role


def test_gc_pauses_keeps_the_window_per_process(tmp_path: Path) -> None:
    (tmp_path / "7.txt").write_text(
        "p.webhooks.deliveries 1 2\ngc:0 50 51 1\ngc:0 100 130 25.5\ngc:1 150 152 2\ngc:2 400 500 90\n"
    )
    (tmp_path / "8.txt").write_text("gc:0 10 11 1\n")
    assert gc_pauses(tmp_path, 100, 400) == {
        "deliveries (7)": {"collections": 2, "cpu_ms": 27.5, "longest_ms": 30.0},
        "no consumer (8)": {"collections": 0, "cpu_ms": 0.0, "longest_ms": 0.0},
    }
