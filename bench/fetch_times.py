"""Our hops split at the moment the consuming service took each record (``system_bench --fetch-times``).

``bench/fetch_probe/sitecustomize.py`` rides in every service process and logs, per record handed to
the application, its topic, its Kafka timestamp (CreateTime: when the producer took it) and when the
service took it. A pipeline hop then splits into the part until the consumer had the record (the
producer's queue, the broker, the fetch) and the part after (the service's own work before the next
stamp): publish → the dispatcher took the event, and job produced → the worker took the job.

Pure functions over the probe's files, table-tested in ``tests/bench/test_fetch_times.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from chaos_lib.measure import latency_summary

Taken = tuple[float, float]
"""(record timestamp ms, taken ms)."""


def parse_lines(lines: Iterable[str]) -> dict[str, list[Taken]]:
    """Per topic, the (record timestamp, taken) pairs of the probe's lines; malformed lines are skipped."""
    out: dict[str, list[Taken]] = {}
    for line in lines:
        parts = line.split()
        if len(parts) != 3:
            continue
        try:
            created, taken = float(parts[1]), float(parts[2])
        except ValueError:
            continue
        out.setdefault(parts[0], []).append((created, taken))
    return out


def read_probe_dir(directory: Path) -> dict[str, list[Taken]]:
    """Every process's lines in ``directory``, merged per topic."""
    merged: dict[str, list[Taken]] = {}
    for path in sorted(directory.glob("*.txt")):
        with path.open(encoding="ascii", errors="replace") as lines:
            for topic, pairs in parse_lines(lines).items():
                merged.setdefault(topic, []).extend(pairs)
    return merged


def taken_summary(
    samples: Mapping[str, list[Taken]], topic: str, since_ms: float, until_ms: float
) -> dict[str, float]:
    """p50/p95/p99 of record timestamp → taken, over ``topic``'s records stamped in [since, until)."""
    return latency_summary(
        [taken - created for created, taken in samples.get(topic, []) if since_ms <= created < until_ms]
    )
