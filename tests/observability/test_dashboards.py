"""The Grafana dashboards: generated, provisioning-ready, and every query parses as PromQL."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import yaml
from observability_support import DASHBOARDS, ROOT, load_script, metric_names, promtool

GENERATOR = load_script("deploy/grafana/dashboards.py")
CATALOGUE = load_script("deploy/prometheus/metrics_catalogue.py")
# Grafana's variables, replaced by values PromQL accepts before promtool parses the query.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h", "$integration": "ehr"}


def _boards() -> dict[str, dict[str, Any]]:
    return {path.name: json.loads(path.read_text()) for path in sorted(DASHBOARDS.glob("*.json"))}


def _queries() -> list[tuple[str, str, str]]:
    """(dashboard, panel title, PromQL) of every target."""
    return [
        (name, panel["title"], target["expr"])
        for name, board in _boards().items()
        for panel in board["panels"]
        for target in panel["targets"]
    ]


def test_committed_dashboards_are_what_the_generator_writes() -> None:
    boards = GENERATOR.dashboards()
    assert sorted(boards) == sorted(_boards())
    for name, board in boards.items():
        assert (DASHBOARDS / name).read_text() == GENERATOR.render(board), f"{name}: run `make observability`"


def test_dashboards_are_provisioning_ready() -> None:
    provider = yaml.safe_load((ROOT / "deploy/grafana/provisioning/dashboards/carehooks.yaml").read_text())
    assert provider["apiVersion"] == 1
    assert provider["providers"][0]["type"] == "file"
    uids = set()
    for name, board in _boards().items():
        assert "id" not in board, name  # Grafana assigns ids; a fixed one clashes across instances
        uids.add(board["uid"])
        variables = {v["name"]: v for v in board["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource"
        assert variables["datasource"]["query"] == "prometheus"
        for panel in board["panels"]:
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
            assert all(t["datasource"]["uid"] == "${datasource}" for t in panel["targets"])
            assert panel["description"], panel["title"]
            assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
    assert len(uids) == len(_boards())


def test_the_overview_has_the_panels_operators_need() -> None:
    titles = {p["title"] for p in _boards()["carehooks-overview.json"]["panels"]}
    assert {
        "Events in by integration",
        "Delivery jobs emitted",
        "Deliveries by outcome",
        "Success rate",
        "Publish → delivery latency",
        "Consumer lag per group",
        "Retries per tier",
        "Dead letters",
        "Open circuits",
        "Config outbox pending",
        "Results ingest",
    } <= titles


def test_every_panel_query_parses(tmp_path: Path) -> None:
    """promtool has no query parser of its own: each query becomes a recording rule it checks."""
    rules = []
    for i, (_, _, expr) in enumerate(_queries()):
        for variable, value in GRAFANA_VARIABLES.items():
            expr = expr.replace(variable, value)
        assert "$" not in expr, f"an unknown Grafana variable in {expr!r}"
        rules.append({"record": f"dashboard:query_{i}", "expr": expr})
    path = tmp_path / "queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = subprocess.run(
        [promtool(), "check", "rules", str(path)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_broken_query_is_caught(tmp_path: Path) -> None:
    path = tmp_path / "queries.yaml"
    rule = {
        "record": "dashboard:broken",
        "expr": "sum by (integration (rate(carehooks_dead_lettered_total[5m]))",
    }
    path.write_text(yaml.safe_dump({"groups": [{"name": "d", "rules": [rule]}]}))
    result = subprocess.run(
        [promtool(), "check", "rules", str(path)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0


def test_every_metric_a_dashboard_reads_is_defined() -> None:
    """Static check against the definitions; tests/e2e/test_metrics_scrape.py checks the live /metrics."""
    defined = {doc.name for docs in CATALOGUE.service_metrics().values() for doc in docs}
    suffixes = ("_bucket", "_sum", "_count")
    for board, title, expr in _queries():
        for name in metric_names(expr):
            base = next((name.removesuffix(s) for s in suffixes if name.endswith(s)), name)
            assert name in defined or base in defined, (
                f"{board} / {title}: {name} is not defined by any service"
            )
