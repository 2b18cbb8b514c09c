"""Write deploy/k8s/base/prometheusrule.yaml (Prometheus Operator) from deploy/prometheus/alerts.yaml.

One source for the rules: this copies alerts.yaml's groups into a PrometheusRule, so a plain
Prometheus (rule_files) and the Operator alert on the same expressions. ``--check`` exits 1 when
the committed copy differs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "deploy" / "prometheus" / "alerts.yaml"
TARGET = ROOT / "deploy" / "k8s" / "base" / "prometheusrule.yaml"
HEADER = (
    "# Generated from deploy/prometheus/alerts.yaml by deploy/prometheus/prometheus_rule.py\n"
    "# (`make observability`); edit alerts.yaml, not this file. A test checks they agree.\n"
)


def prometheus_rule(groups: list[dict[str, Any]]) -> dict[str, Any]:
    """The PrometheusRule resource holding ``groups``."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "carehooks-alerts", "labels": {"app.kubernetes.io/component": "alerts"}},
        "spec": {"groups": groups},
    }


class _BlockDumper(yaml.SafeDumper):
    """Multi-line expressions as ``|`` blocks, as in alerts.yaml."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_BlockDumper.add_representer(str, _str)


def render() -> str:
    """The text of prometheusrule.yaml."""
    groups = yaml.safe_load(SOURCE.read_text())["groups"]
    return HEADER + yaml.dump(prometheus_rule(groups), Dumper=_BlockDumper, sort_keys=False, width=200)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail when the committed copy is out of date")
    text = render()
    if parser.parse_args().check:
        if not TARGET.exists() or TARGET.read_text() != text:
            print(f"{TARGET.relative_to(ROOT)} is out of date: run `make observability`", file=sys.stderr)
            return 1
        return 0
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    TARGET.write_text(text)
    print(f"wrote {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
