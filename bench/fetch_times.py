"""Our hops split at the moment the consuming service took each record (``system_bench --fetch-times``).

``bench/fetch_probe/sitecustomize.py`` rides in every service process and logs, per record handed to
the application, its topic, its Kafka timestamp (CreateTime: when the producer took it) and when the
service took it. A pipeline hop then splits into the part until the consumer had the record (the
producer's queue, the broker, the fetch) and the part after (the service's own work before the next
stamp): publish → the dispatcher took the event, and job produced → the worker took the job. The
probe also logs every garbage collection (start, end, CPU): :func:`gc_pauses` tells which process
stopped its event loop, and for how long, while a phase ran.

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


GcPause = tuple[int, float, float, float]
"""(generation, start ms, end ms, CPU ms of the collecting thread)."""


def parse_gc_lines(lines: Iterable[str]) -> list[GcPause]:
    """The probe's ``gc:<generation> <start ms> <end ms> <cpu ms>`` lines; anything else is skipped."""
    out: list[GcPause] = []
    for line in lines:
        parts = line.split()
        if len(parts) != 4 or not parts[0].startswith("gc:"):
            continue
        try:
            out.append((int(parts[0][3:]), float(parts[1]), float(parts[2]), float(parts[3])))
        except ValueError:
            continue
    return out


def process_role(lines: Iterable[str]) -> str:
    """A probe file's process named by the topics it consumed (their last dotted part), e.g.
    ``deliveries`` for a worker; ``no consumer`` for one that consumed nothing (the receiver)."""
    consumed = parse_lines(line for line in lines if not line.startswith(("ack:", "gc:")))
    return ",".join(sorted({topic.rsplit(".", 1)[-1] for topic in consumed})) or "no consumer"


def gc_pauses(directory: Path, since_ms: float, until_ms: float) -> dict[str, dict[str, float]]:
    """Per process, the garbage collections that started in [since, until): how many, their CPU in all,
    the longest one's wall time (a collection stops the process's event loop for all of it)."""
    out: dict[str, dict[str, float]] = {}
    for path in sorted(directory.glob("*.txt")):
        lines = path.read_text(encoding="ascii", errors="replace").splitlines()
        pauses = [p for p in parse_gc_lines(lines) if since_ms <= p[1] < until_ms]
        out[f"{process_role(lines)} ({path.stem})"] = {
            "collections": len(pauses),
            "cpu_ms": round(sum(p[3] for p in pauses), 1),
            "longest_ms": round(max((p[2] - p[1] for p in pauses), default=0.0), 1),
        }
    return out
