"""Write docs/metrics.md from each service's metric definitions (``make metrics-doc``).

``python deploy/prometheus/metrics_catalogue.py`` writes the file; ``--check`` exits 1 when the file
differs from what the code defines (tests/observability/test_metrics_catalogue.py runs the same check).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from prometheus_client import CollectorRegistry

from service_kit.metric_catalogue import MetricDoc, describe, render_markdown

ROOT = Path(__file__).resolve().parents[2]
TARGET = ROOT / "docs" / "metrics.md"
GENERATOR = "deploy/prometheus/metrics_catalogue.py"


def service_registries() -> dict[str, CollectorRegistry]:
    """A registry per service holding every metric it defines (fresh ones for the per-app services)."""
    import config_api.metrics
    import dlq_replayer.metrics
    from delivery_worker.metrics import WorkerMetrics
    from dispatcher.metrics import DispatcherMetrics

    return {
        "config_api": config_api.metrics.REGISTRY,
        "dispatcher": DispatcherMetrics().registry,
        "delivery_worker": WorkerMetrics().registry,
        "dlq_replayer": dlq_replayer.metrics.REGISTRY,
    }


def service_metrics() -> dict[str, list[MetricDoc]]:
    """The documented metrics of each service."""
    return {service: describe(registry) for service, registry in service_registries().items()}


def catalogue() -> str:
    """The text of docs/metrics.md."""
    return render_markdown(service_metrics(), GENERATOR)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail when docs/metrics.md is out of date")
    args = parser.parse_args()
    text = catalogue()
    if args.check:
        if not TARGET.exists() or TARGET.read_text() != text:
            print(f"{TARGET.relative_to(ROOT)} is out of date: run `make metrics-doc`", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text)
    print(f"wrote {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
