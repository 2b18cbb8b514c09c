"""Shared by the observability tests: the generator scripts under deploy/, promtool, PromQL names."""

from __future__ import annotations

import importlib.util
import re
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yaml"
ALERTS_TEST = ROOT / "deploy" / "prometheus" / "alerts_test.yaml"
DASHBOARDS = ROOT / "deploy" / "grafana" / "dashboards"
OBSERVABILITY_DOC = ROOT / "docs" / "observability.md"

PROMETHEUS_SYNTHETIC = frozenset({"up"})
"""Series Prometheus writes itself (not exported by a service)."""
_METRIC_NAME = re.compile(r"\b(?:carehooks|process|python)_[A-Za-z0-9_]*[A-Za-z0-9]\b|\bup\b(?=\s*[{=!<>])")


def load_script(relative: str) -> ModuleType:
    """Import one of the generator scripts under deploy/ (they are scripts, not packages)."""
    path = ROOT / relative
    name = "obs_" + path.stem
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def promtool() -> str:
    """Path of promtool; fails (never skips) when it is missing."""
    found = shutil.which("promtool")
    if found is None:
        pytest.fail(
            "promtool not found: install Debian's `prometheus` package (apt-get install -y prometheus; "
            "`make system-deps` does it) to check and unit-test the alert rules and dashboard queries"
        )
    return found


def metric_names(promql: str) -> set[str]:
    """Metric names a PromQL expression reads (the carehooks_, process_ and python_ families, and up)."""
    without_strings = re.sub(r'"(?:[^"\\]|\\.)*"', '""', promql)
    return set(_METRIC_NAME.findall(without_strings))
