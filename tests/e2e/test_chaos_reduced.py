"""A reduced `make chaos` inside the suite: 1,000 messages, 10 webhooks, 500s for a while, one worker SIGKILL.

The services run as processes (``python -m <service>``) against the session's broker and a fresh
database; the scenario, receiver and accounting are the ones of ``bench/chaos.py`` (docs/chaos.md).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from contracts.topics import Topics

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

from chaos_lib.report import render, verdicts  # noqa: E402
from chaos_lib.scenario import ChaosConfig, run_chaos  # noqa: E402
from chaos_lib.stack import StackConfig, Supervisor, service_specs  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


@pytest.mark.timeout(300)
async def test_reduced_chaos_run_loses_nothing(
    kafka_bootstrap: str,
    database_url: str,
    topics: Topics,
    topic_prefix: str,
    secrets_key: str,
    tmp_path: Path,
) -> None:
    stack = StackConfig(
        bootstrap=kafka_bootstrap,
        dsn=database_url,
        topic_prefix=topic_prefix,
        secrets_key=secrets_key,
        admin_token="chaos-test-admin-token-0123456789",
    )
    sup = Supervisor(tmp_path)
    for spec in service_specs(stack):
        sup.add(spec)
    cfg = ChaosConfig(
        events=1000,
        rate_per_s=50.0,
        webhooks=10,
        faults=frozenset({"errors500", "worker_kill"}),
        worker_kills=1,
        error_window=(0.1, 0.5),
        drain_timeout_s=90.0,
        agreement_timeout_s=20.0,
        at={"worker_kill_1": 0.4},
    )
    try:
        report = await run_chaos(cfg, sup, None, topics, stack.admin_token, kafka_bootstrap)
    finally:
        sup.shutdown()
    print(render(report))
    (tmp_path / "chaos.json").write_text(json.dumps(report, indent=2, default=str))

    assert report["published_messages"] == 1000
    assert report["expected_deliveries"] > 300, "the scenario must actually exercise deliveries"
    assert report["lost"] == 0, (
        f"lost deliveries: {report['lost_breakdown']} e.g. {report['lost_sample'][:5]}"
    )
    assert report["invalid_signatures"] == 0
    assert report["poison_sent"] > 0
    assert report["poison_routed_to_invalid"] == report["poison_sent"]
    assert report["unexpected_deliveries"] == 0, report["unexpected_sample"][:5]
    assert report["service_starts"]["delivery_worker"] == 2, "the worker was killed and restarted once"
    assert verdicts(report)["lost == 0"]
