"""Helpers of the config API tests: settings, a running app (lifespan entered) and clients per role.

``api`` gives an :class:`ApiHarness` with the app, an httpx client authenticated as the bootstrap
admin, and helpers to make tokens of other roles. DNS is a stub (``harness.dns``) so SSRF tests
control what a host name resolves to; unknown names do not resolve.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI

from config_api.app import create_app
from config_api.settings import ConfigApiSettings
from webhook_core.ssrf import DnsError

ADMIN_TOKEN = "test-admin-token-0123456789-abcdefghij"


@dataclass
class StubDns:
    """A resolver for tests: name -> addresses; anything else does not resolve."""

    names: dict[str, list[str]] = field(default_factory=dict)

    async def __call__(self, host: str, port: int) -> list[str]:
        if host in self.names:
            return list(self.names[host])
        raise DnsError(f"host {host!r} does not resolve")


@dataclass
class ApiHarness:
    """A started app and an admin client."""

    app: FastAPI
    client: httpx.AsyncClient
    settings: ConfigApiSettings
    dns: StubDns

    def as_token(self, token: str | None) -> httpx.AsyncClient:
        """A client sending ``token`` (None: no Authorization header)."""
        headers = {"authorization": f"Bearer {token}"} if token is not None else {}
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://api", headers=headers
        )

    async def make_token(self, role: str, integration_ids: list[str] | None = None) -> str:
        """Create a token through the API and return it."""
        resp = await self.client.post(
            "/admin/tokens", json={"name": f"{role}-token", "role": role, "integration_ids": integration_ids}
        )
        assert resp.status_code == 201, resp.text
        token: str = resp.json()["token"]
        return token

    async def create_webhook(self, integration_id: str = "surveymonkey", **fields: Any) -> dict[str, Any]:
        """Create a webhook to https://hooks.example.com/... with the given overrides."""
        body: dict[str, Any] = {
            "subscription_url": "https://hooks.example.com/a",
            "event_types": ["response_completed"] if integration_id == "surveymonkey" else ["Patient.create"],
        }
        body.update(fields)
        resp = await self.client.post(f"/admin/integration/{integration_id}/webhooks", json=body)
        assert resp.status_code == 201, resp.text
        data: dict[str, Any] = resp.json()
        return data


def make_settings(database_url: str, env: dict[str, str], **overrides: Any) -> ConfigApiSettings:
    """Settings for a test app (short outbox timings)."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "kafka_bootstrap_servers": env["KAFKA_BOOTSTRAP_SERVERS"],
        "topic_prefix": env["TOPIC_PREFIX"],
        "webhook_secrets_key": env["WEBHOOK_SECRETS_KEY"],
        "webhook_allow_http": True,
        "webhook_allowed_networks": "127.0.0.0/8",
        "admin_token": ADMIN_TOKEN,
        "outbox_poll_interval_s": 0.2,
        "outbox_send_timeout_s": 2.0,
        "outbox_retry_max_s": 0.5,
    }
    values.update(overrides)
    return ConfigApiSettings(**values)


@contextlib.asynccontextmanager
async def _running(settings: ConfigApiSettings) -> AsyncIterator[ApiHarness]:
    dns = StubDns({"hooks.example.com": ["93.184.216.34"]})
    app = create_app(settings, resolver=dns)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://api",
            headers={"authorization": f"Bearer {ADMIN_TOKEN}"},
        ) as client,
    ):
        yield ApiHarness(app=app, client=client, settings=settings, dns=dns)


class start_harness:  # reads as a function at call sites
    """Run the app's lifespan around an admin client: ``async with start_harness(s) as api``
    (``async for api in start_harness(s)`` works too, for one iteration)."""

    def __init__(self, settings: ConfigApiSettings) -> None:
        self._cm = _running(settings)

    async def __aenter__(self) -> ApiHarness:
        return await self._cm.__aenter__()

    async def __aexit__(self, *exc: object) -> bool | None:
        return await self._cm.__aexit__(*exc)  # type: ignore[arg-type]

    async def __aiter__(self) -> AsyncIterator[ApiHarness]:
        async with self as harness:
            yield harness
