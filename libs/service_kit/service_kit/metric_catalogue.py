"""Describe the metrics registered on a registry, for the generated catalogue ``docs/metrics.md``.

Reads the definitions (name, type, label names, help), not the samples: a labelled metric that has
not been used yet has no samples but must still be documented.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase


@dataclass(frozen=True, order=True)
class MetricDoc:
    """One metric as exposed: the name a query uses (counters with ``_total``)."""

    name: str
    type: str
    labels: tuple[str, ...]
    help: str


def describe(registry: CollectorRegistry) -> list[MetricDoc]:
    """Every metric defined with the client's metric classes on ``registry``, sorted by name."""
    docs: list[MetricDoc] = []
    for collector in list(registry._collector_to_names):
        if not isinstance(collector, MetricWrapperBase):
            continue  # the process / platform / GC collectors: documented as a group
        kind = str(collector._type)
        name = str(collector._name) + ("_total" if kind == "counter" else "")
        docs.append(MetricDoc(name, kind, tuple(collector._labelnames), str(collector._documentation)))
    return sorted(docs)


RUNTIME_NOTE = (
    "Every service also exports the Prometheus client's standard collectors on its own registry: "
    "`process_*` (CPU seconds, resident and virtual memory, open file descriptors, start time; Linux), "
    "`python_gc_*` (garbage-collector runs) and `python_info` (interpreter version)."
)


def render_markdown(services: Mapping[str, Iterable[MetricDoc]], generator: str) -> str:
    """The catalogue: a table per service, then the metrics the services share."""
    by_service = {service: list(docs) for service, docs in services.items()}
    counts: dict[MetricDoc, int] = {}
    for docs in by_service.values():
        for doc in docs:
            counts[doc] = counts.get(doc, 0) + 1
    shared = sorted(doc for doc, n in counts.items() if n == len(by_service) > 1)
    lines = [
        "# Metrics catalogue",
        "",
        f"Generated from the code by `{generator}` (`make metrics-doc`); a test fails when it drifts.",
        "Conventions: every metric starts with `carehooks_`, uses base units (`_seconds`, `_bytes`) and",
        "counters end in `_total`. `integration` labels take only configured integration ids (anything",
        "else is `other`); `route` is the matched route template, never the raw path.",
        "",
        RUNTIME_NOTE,
        "",
        "## Every service",
        "",
        *_table(shared),
    ]
    for service, docs in by_service.items():
        own = [doc for doc in docs if doc not in shared]
        lines += ["", f"## {service}", "", *_table(own)]
    return "\n".join(lines) + "\n"


def _table(docs: Iterable[MetricDoc]) -> list[str]:
    rows = ["| metric | type | labels | meaning |", "| --- | --- | --- | --- |"]
    for doc in docs:
        labels = ", ".join(f"`{label}`" for label in doc.labels) or "none"
        rows.append(f"| `{doc.name}` | {doc.type} | {labels} | {doc.help} |")
    return rows
