"""deploy/prometheus/alerts.yaml: promtool checks and unit tests, runbooks, and the Kubernetes copy."""

from __future__ import annotations

import re
import subprocess
from typing import Any

import yaml
from observability_support import (
    ALERTS,
    ALERTS_TEST,
    OBSERVABILITY_DOC,
    PROMETHEUS_SYNTHETIC,
    ROOT,
    load_script,
    metric_names,
    promtool,
)

REQUIRED = {
    "CarehooksConsumerLagGrowing",
    "CarehooksDeadLetters",
    "CarehooksSuccessRateLow",
    "CarehooksDeliveryLatencyHigh",
    "CarehooksWebhookDeactivated",
    "CarehooksOutboxStuck",
    "CarehooksResultsIngestStalled",
    "CarehooksServiceNotReady",
}


def _rules() -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), *args], capture_output=True, text=True, cwd=ALERTS.parent, timeout=120)


def test_promtool_check_rules() -> None:
    result = _run("check", "rules", ALERTS.name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_pass() -> None:
    result = _run("test", "rules", ALERTS_TEST.name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    fired: set[str] = set()
    silent: set[str] = set()
    for case in yaml.safe_load(ALERTS_TEST.read_text())["tests"]:
        for check in case.get("alert_rule_test", []):
            (fired if check.get("exp_alerts") else silent).add(check["alertname"])
    names = {rule["alert"] for rule in _rules()}
    assert names >= REQUIRED
    assert names - fired == set(), "alerts never tested firing"
    assert names - silent == set(), "alerts never tested staying silent"


def test_every_alert_links_its_runbook() -> None:
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in OBSERVABILITY_DOC.read_text().splitlines()
        if line.startswith("#")
    }
    for rule in _rules():
        url = rule["annotations"]["runbook_url"]
        path, _, anchor = url.partition("#")
        assert path == "docs/observability.md", rule["alert"]
        assert anchor in anchors, f"{rule['alert']}: no heading for #{anchor} in docs/observability.md"
        assert rule["labels"]["severity"] in {"info", "warning", "critical"}


def test_a_broken_rule_fails_the_unit_tests(tmp_path: Any) -> None:
    """The unit tests can fail: a lag threshold nobody reaches silences the firing case."""
    broken = ALERTS.read_text().replace(
        "(carehooks_kafka_consumer_lag) > 1000", "(carehooks_kafka_consumer_lag) > 1e9"
    )
    assert broken != ALERTS.read_text()
    (tmp_path / "alerts.yaml").write_text(broken)
    (tmp_path / "alerts_test.yaml").write_text(ALERTS_TEST.read_text())
    result = subprocess.run(
        [promtool(), "test", "rules", "alerts_test.yaml"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode != 0
    assert "CarehooksConsumerLagGrowing" in result.stdout + result.stderr


def test_the_kubernetes_prometheus_rule_holds_the_same_groups() -> None:
    generator = load_script("deploy/prometheus/prometheus_rule.py")
    committed = (ROOT / "deploy" / "k8s" / "base" / "prometheusrule.yaml").read_text()
    assert committed == generator.render(), "prometheusrule.yaml is out of date: run `make observability`"
    resource = yaml.safe_load(committed)
    assert resource["kind"] == "PrometheusRule"
    assert resource["apiVersion"] == "monitoring.coreos.com/v1"
    assert resource["spec"]["groups"] == yaml.safe_load(ALERTS.read_text())["groups"]


def test_every_metric_an_alert_reads_is_defined() -> None:
    """Static check against the definitions; test_metrics_scrape.py checks the live /metrics."""
    catalogue = load_script("deploy/prometheus/metrics_catalogue.py")
    defined = {doc.name for docs in catalogue.service_metrics().values() for doc in docs}
    for rule in _rules():
        for name in metric_names(rule["expr"]):
            base = next(
                (name.removesuffix(s) for s in ("_bucket", "_sum", "_count") if name.endswith(s)), name
            )
            assert name in PROMETHEUS_SYNTHETIC or base in defined, f"{rule['alert']}: {name} is not defined"
