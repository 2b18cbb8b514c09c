"""Generate the Grafana dashboards of carehooks (``make observability``).

Plain JSON built here, not hand-edited: every panel gets the same datasource variable, grid layout
and units, and a test re-generates the files and fails when the committed JSON differs
(tests/observability/test_dashboards.py also parses every panel's PromQL with promtool).

Output: deploy/grafana/dashboards/*.json, loaded by the provider in
deploy/grafana/provisioning/dashboards/carehooks.yaml.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "deploy" / "grafana" / "dashboards"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
RATE = "$__rate_interval"
WIDTH, HEIGHT = 12, 8

ATTEMPTS = 'carehooks_delivery_attempts_total{outcome=~"succeeded|retrying|dead_lettered",error_category!="circuit_open"%s}'


@dataclass
class Panel:
    """One time series (or stat) panel."""

    title: str
    description: str
    targets: list[tuple[str, str]]
    """(PromQL, legend) pairs."""
    unit: str = "short"
    kind: str = "timeseries"
    width: int = WIDTH
    extra: dict[str, Any] = field(default_factory=dict)


def success_rate(where: str = "", by: str = "") -> str:
    """Succeeded attempts over all attempts (circuit deferrals and cancels are not attempts)."""
    grouping = f" by ({by})" if by else ""
    ok = f'carehooks_delivery_attempts_total{{outcome="succeeded"{where}}}'
    return f"sum{grouping} (rate({ok}[{RATE}]))\n/\nsum{grouping} (rate({ATTEMPTS % where}[{RATE}]))"


def latency_quantiles(metric: str, where: str = "") -> list[tuple[str, str]]:
    """p50, p95 and p99 of a histogram."""
    selector = f"{metric}_bucket{{{where.lstrip(',')}}}" if where else f"{metric}_bucket"
    return [
        (f"histogram_quantile({q}, sum by (le) (rate({selector}[{RATE}])))", f"p{int(q * 100)}")
        for q in (0.5, 0.95, 0.99)
    ]


def overview() -> list[Panel]:
    """The whole pipeline on one page."""
    return [
        Panel(
            "Events in by integration",
            "Events the dispatcher consumed per second, by integration (unknown integrations are `other`).",
            [(f"sum by (integration) (rate(carehooks_events_consumed_total[{RATE}]))", "{{integration}}")],
            "reqps",
        ),
        Panel(
            "Delivery jobs emitted",
            "Jobs the dispatcher published per second, by priority.",
            [(f"sum by (priority) (rate(carehooks_delivery_jobs_emitted_total[{RATE}]))", "{{priority}}")],
            "reqps",
        ),
        Panel(
            "Deliveries by outcome",
            "Worker outcomes per second: succeeded, retrying (incl. circuit deferrals), dead_lettered, cancelled.",
            [(f"sum by (outcome) (rate(carehooks_delivery_attempts_total[{RATE}]))", "{{outcome}}")],
            "reqps",
        ),
        Panel(
            "Success rate",
            "Succeeded attempts over all attempts; alert CarehooksSuccessRateLow fires per integration below 90 %.",
            [(success_rate(), "all integrations")],
            "percentunit",
            extra={"fieldConfig": {"defaults": {"min": 0, "max": 1}}},
        ),
        Panel(
            "Publish → delivery latency",
            "From the source event's publication to its successful delivery (includes retries).",
            latency_quantiles("carehooks_event_to_delivery_seconds"),
            "s",
        ),
        Panel(
            "Consumer lag per group",
            "Records each consumer group is behind the partition ends (dispatcher, worker, worker retries, results ingest).",
            [("sum by (service, group) (carehooks_kafka_consumer_lag)", "{{service}} {{group}}")],
        ),
        Panel(
            "Retries per tier",
            "Jobs put on each retry tier per second.",
            [(f"sum by (tier) (rate(carehooks_retries_scheduled_total[{RATE}]))", "tier {{tier}}")],
            "reqps",
        ),
        Panel(
            "Dead letters",
            "Jobs dead-lettered per second, by integration and reason.",
            [
                (
                    f"sum by (integration, reason) (rate(carehooks_dead_lettered_total[{RATE}]))",
                    "{{integration}} {{reason}}",
                )
            ],
            "reqps",
        ),
        Panel(
            "Open circuits",
            "Webhooks whose circuit breaker is open or half-open, summed over workers.",
            [("sum(carehooks_circuits_open)", "open circuits")],
        ),
        Panel(
            "Config outbox pending",
            "Configuration changes not yet published to webhooks.config (alert CarehooksOutboxStuck).",
            [
                ("max(carehooks_config_outbox_pending)", "pending"),
                (f"sum(rate(carehooks_config_outbox_publish_failures_total[{RATE}]))", "publish failures/s"),
            ],
        ),
        Panel(
            "Results ingest",
            "Delivery results stored by the config API per second, and its consumer lag.",
            [
                (
                    f"sum by (outcome) (rate(carehooks_delivery_results_ingested_total[{RATE}]))",
                    "{{outcome}}/s",
                ),
                ('sum(carehooks_kafka_consumer_lag{service="config_api"})', "lag"),
            ],
        ),
        Panel(
            "Services ready",
            "1 per ready instance (carehooks_service_ready), by service and instance.",
            [("carehooks_service_ready", "{{service}} {{instance}}")],
        ),
        Panel(
            "Admin API requests",
            "Requests per second of the config API and the DLQ replayer by service and status class.",
            [
                (
                    f"sum by (service, status_class) (rate(carehooks_http_requests_total[{RATE}]))",
                    "{{service}} {{status_class}}",
                )
            ],
            "reqps",
        ),
        Panel(
            "Admin API p95 by route",
            "95th percentile answer time per route template.",
            [
                (
                    "histogram_quantile(0.95, sum by (le, service, route) "
                    f"(rate(carehooks_http_request_duration_seconds_bucket[{RATE}])))",
                    "{{service}} {{route}}",
                )
            ],
            "s",
        ),
    ]


def integration_drilldown() -> list[Panel]:
    """One integration ($integration) and the health of its webhooks."""
    where = ',integration=~"$integration"'
    return [
        Panel(
            "Webhooks by health state",
            "Configured webhooks of the integration: healthy, failing (consecutive failures) or inactive.",
            [('sum by (state) (carehooks_webhooks{integration=~"$integration"})', "{{state}}")],
        ),
        Panel(
            "Automatic deactivations",
            "Webhooks deactivated by the delivery-health rules (alert CarehooksWebhookDeactivated).",
            [
                (
                    'sum(increase(carehooks_webhooks_auto_deactivated_total{integration=~"$integration"}[1h]))',
                    "deactivated (1 h)",
                )
            ],
        ),
        Panel(
            "Success rate",
            "Succeeded attempts over all attempts of the integration.",
            [(success_rate(where, "integration"), "{{integration}}")],
            "percentunit",
            extra={"fieldConfig": {"defaults": {"min": 0, "max": 1}}},
        ),
        Panel(
            "Events in",
            "Events consumed for the integration, by outcome (matched, unmatched, invalid).",
            [
                (
                    f'sum by (outcome) (rate(carehooks_events_consumed_total{{integration=~"$integration"}}[{RATE}]))',
                    "{{outcome}}",
                )
            ],
            "reqps",
        ),
        Panel(
            "Attempts by outcome and error category",
            "What receivers answer: timeouts, connection errors, 4xx, 5xx, circuit deferrals.",
            [
                (
                    "sum by (outcome, error_category) "
                    f'(rate(carehooks_delivery_attempts_total{{integration=~"$integration"}}[{RATE}]))',
                    "{{outcome}} {{error_category}}",
                )
            ],
            "reqps",
        ),
        Panel(
            "POST duration",
            "Time receivers take to answer one POST.",
            latency_quantiles("carehooks_delivery_duration_seconds", where),
            "s",
        ),
        Panel(
            "Dead letters by reason",
            "Jobs of the integration dead-lettered per second.",
            [
                (
                    f'sum by (reason) (rate(carehooks_dead_lettered_total{{integration=~"$integration"}}[{RATE}]))',
                    "{{reason}}",
                )
            ],
            "reqps",
        ),
        Panel(
            "Jobs emitted by priority",
            "Jobs the dispatcher published for the integration.",
            [
                (
                    f'sum by (priority) (rate(carehooks_delivery_jobs_emitted_total{{integration=~"$integration"}}[{RATE}]))',
                    "{{priority}}",
                )
            ],
            "reqps",
        ),
    ]


def _panel_json(panel: Panel, panel_id: int, x: int, y: int) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"h": HEIGHT, "w": panel.width, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}},
        "targets": [
            {"datasource": DATASOURCE, "expr": expr, "legendFormat": legend, "refId": chr(ord("A") + i)}
            for i, (expr, legend) in enumerate(panel.targets)
        ],
    }
    for key, value in panel.extra.items():
        if key == "fieldConfig":
            body["fieldConfig"]["defaults"].update(value["defaults"])
        else:
            body[key] = value
    return body


def _variables(with_integration: bool) -> list[dict[str, Any]]:
    variables: list[dict[str, Any]] = [
        {
            "name": "datasource",
            "label": "Prometheus",
            "type": "datasource",
            "query": "prometheus",
            "current": {},
            "hide": 0,
        }
    ]
    if with_integration:
        variables.append(
            {
                "name": "integration",
                "label": "Integration",
                "type": "query",
                "datasource": DATASOURCE,
                "query": {"query": "label_values(carehooks_webhooks, integration)", "refId": "integrations"},
                "definition": "label_values(carehooks_webhooks, integration)",
                "refresh": 2,
                "includeAll": True,
                "multi": True,
                "current": {},
                "hide": 0,
            }
        )
    return variables


def dashboard(uid: str, title: str, panels: list[Panel], with_integration: bool) -> dict[str, Any]:
    """A provisioning-ready dashboard (no ``id``: Grafana assigns it)."""
    laid_out = []
    x = y = 0
    for number, panel in enumerate(panels, start=1):
        if x + panel.width > 24:
            x, y = 0, y + HEIGHT
        laid_out.append(_panel_json(panel, number, x, y))
        x += panel.width
    return {
        "uid": uid,
        "title": title,
        "tags": ["carehooks"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "editable": False,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": _variables(with_integration)},
        "annotations": {"list": []},
        "links": [
            {"title": "Overview", "type": "link", "url": "/d/carehooks-overview"},
            {"title": "Integration", "type": "link", "url": "/d/carehooks-integration"},
        ],
        "panels": laid_out,
    }


def dashboards() -> dict[str, dict[str, Any]]:
    """File name → dashboard."""
    return {
        "carehooks-overview.json": dashboard("carehooks-overview", "carehooks: overview", overview(), False),
        "carehooks-integration.json": dashboard(
            "carehooks-integration",
            "carehooks: integration and webhook health",
            integration_drilldown(),
            True,
        ),
    }


def render(board: dict[str, Any]) -> str:
    """The committed text of one dashboard file."""
    return json.dumps(board, indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail when a committed dashboard differs")
    check = parser.parse_args().check
    stale = []
    for name, board in dashboards().items():
        path = OUT / name
        text = render(board)
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            OUT.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        print(f"out of date: {', '.join(stale)}: run `make observability`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
