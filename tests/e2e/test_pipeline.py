"""The whole flow through the four running services, as a user of ``make run`` sees it.

Create webhooks through the config API (bearer admin token, http://127.0.0.1 receiver allowed by
the dev profile), publish a SurveyMonkey callback and a FHIR resource to the integration topics
with the ``publish`` console script,
receive each signed delivery at a real aiohttp receiver (verified with the ``standardwebhooks``
package), and find the attempt in the webhook's logs and status in the config API.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from aiohttp import web
from standardwebhooks import Webhook

if TYPE_CHECKING:
    from tests.e2e.conftest import RunningStack, StackFactory

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
FAST_RETRIES = {
    "max_attempts": 3,
    "initial_delay_ms": 500,
    "multiplier": 2,
    "max_delay_ms": 2000,
    "jitter": 0,
}


@dataclass
class Receiver:
    """A real HTTP endpoint on 127.0.0.1 that records every request."""

    url: str
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)

    async def wait_for(self, path: str, timeout_s: float = 30.0) -> tuple[dict[str, str], bytes]:
        """The first request to ``path``."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for got_path, headers, body in self.requests:
                if got_path == path:
                    return headers, body
            await asyncio.sleep(0.1)
        raise AssertionError(
            f"no delivery to {path} within {timeout_s:.0f}s (got {[r[0] for r in self.requests]})"
        )


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """An aiohttp server answering 200 to every POST."""
    recorded = Receiver(url="")

    async def record(request: web.Request) -> web.Response:
        headers = {k.lower(): v for k, v in request.headers.items()}
        recorded.requests.append((request.path, headers, await request.read()))
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/{tail:.*}", record)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    recorded.url = f"http://127.0.0.1:{port}"
    yield recorded
    await runner.cleanup()


async def eventually(check: Callable[[], Awaitable[Any]], what: str, timeout_s: float = 30.0) -> Any:
    """Poll ``check`` until it returns something truthy."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def metric_value(text: str, name: str) -> float:
    """Sum of the samples of one metric in Prometheus text format (0 when absent)."""
    pattern = re.compile(rf"^{re.escape(name)}(?:{{[^}}]*}})? (\S+)$", re.MULTILINE)
    return sum(float(v) for v in pattern.findall(text))


async def views_indexed(stack: RunningStack, count: int, timeout_s: float = 30.0) -> None:
    """Wait until the dispatcher's view holds ``count`` webhooks, then give the worker's view (the
    same compacted topic, its own follower) a second to catch up."""
    async with httpx.AsyncClient(base_url=stack.url("dispatcher"), timeout=5) as ops:

        async def indexed() -> bool:
            return metric_value((await ops.get("/metrics")).text, "carehooks_webhooks_indexed") >= count

        await eventually(indexed, f"the dispatcher to index {count} webhook(s)", timeout_s)
    await asyncio.sleep(1.0)


async def publish(stack: RunningStack, sample: Path, *args: str) -> None:
    """Send a sample with the ``publish`` console script, as the README's walkthrough does."""
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "publish"),
        str(sample),
        "--bootstrap-servers",
        stack.env["KAFKA_BOOTSTRAP_SERVERS"],
        "--topic-prefix",
        stack.env["TOPIC_PREFIX"],
        *args,
        env=stack.env,  # the stack's Kafka settings (TLS in test_tls_pipeline.py)
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await proc.communicate()
    assert proc.returncode == 0, output.decode()


async def create_webhook(api: httpx.AsyncClient, integration: str, body: dict[str, Any]) -> dict[str, Any]:
    resp = await api.post(f"/admin/integration/{integration}/webhooks", json=body)
    assert resp.status_code == 201, resp.text
    created: dict[str, Any] = resp.json()
    assert created["signing_secret"].startswith("whsec_")
    return created


async def test_events_flow_from_kafka_to_a_signed_delivery_and_back_into_logs_and_status(
    stack_factory: StackFactory, receiver: Receiver
) -> None:
    # The DLQ replayer plays no part when every delivery succeeds; not starting it saves CPU.
    stack = stack_factory(services=["config-api", "dispatcher", "delivery-worker"])
    async with httpx.AsyncClient(
        base_url=stack.config_api_url, headers=stack.admin_headers, timeout=10
    ) as api:
        # The URL comes with copy-paste whitespace: the API stores it sanitised.
        survey_hook = await create_webhook(
            api,
            "surveymonkey",
            {
                "name": "completed responses",
                "subscription_url": f" {receiver.url}/survey\t",
                "event_types": ["response_completed"],
                "retry_policy": FAST_RETRIES,
                "timeout_ms": 5000,
            },
        )
        assert survey_hook["subscription_url"] == f"{receiver.url}/survey"
        fhir_hook = await create_webhook(
            api,
            "ehr",
            {
                "subscription_url": f"{receiver.url}/fhir",
                "event_types": ["Appointment.*"],
                "auth": {"type": "bearer", "token": "receiver-token-1234"},
                "retry_policy": FAST_RETRIES,
                "timeout_ms": 5000,
            },
        )
        assert "receiver-token-1234" not in json.dumps(fhir_hook), "auth is write-only"

        # Both webhooks reach the dispatcher's and the worker's views through webhooks.config.
        await views_indexed(stack, 2)

        await publish(stack, SAMPLES / "surveymonkey" / "response_completed.json")
        await publish(stack, SAMPLES / "fhir" / "appointment.json", "--interaction", "create")

        deliveries = {
            "survey": (survey_hook, await receiver.wait_for("/survey")),
            "fhir": (fhir_hook, await receiver.wait_for("/fhir")),
        }
        for name, (hook, (headers, body)) in deliveries.items():
            # Raises WebhookVerificationError on a bad signature or stale timestamp.
            payload = Webhook(hook["signing_secret"]).verify(body, headers)
            assert headers["content-type"].startswith("application/json"), name
            assert payload["integration_id"] == hook["integration_id"], name
        survey_payload = json.loads(deliveries["survey"][1][1])
        assert survey_payload["type"] == "response_completed"
        assert survey_payload["event_id"] == "10000001"
        assert survey_payload["data"]["resources"]["survey_id"] == "123456789"
        fhir_headers, fhir_raw = deliveries["fhir"][1]
        fhir_payload = json.loads(fhir_raw)
        assert fhir_payload["type"] == "Appointment.create"
        assert fhir_payload["data"]["resourceType"] == "Appointment"
        assert fhir_headers["authorization"] == "Bearer receiver-token-1234"

        # The attempt shows in the config API, fed by webhooks.delivery-results.
        for hook, (headers, _) in deliveries.values():
            base = f"/admin/integration/{hook['integration_id']}/webhooks/{hook['id']}"

            async def logged(base: str = base) -> list[dict[str, Any]]:
                resp = await api.get(f"{base}/logs")
                assert resp.status_code == 200, resp.text
                items: list[dict[str, Any]] = resp.json()["items"]
                return [i for i in items if i["outcome"] == "succeeded"]

            items = await eventually(logged, f"a succeeded attempt in {base}/logs")
            assert items[0]["delivery_id"] == headers["webhook-id"]
            assert items[0]["status_code"] == 200
            assert items[0]["attempt"] == 1

            status = (await api.get(f"{base}/status")).json()
            assert status["active"] is True
            assert status["succeeded"] >= 1
            assert status["last_success_at"] is not None
            assert status["consecutive_failures"] == 0
