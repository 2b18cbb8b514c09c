"""A thin client of the config API's admin routes used by the scenario (create, edit, delete, logs, status)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx


class ApiError(RuntimeError):
    """The config API refused a request (or stayed unreachable)."""


def find_secrets(doc: Any) -> list[str]:
    """Every ``whsec_`` string anywhere in a response (the create answer's field name is the API's choice)."""
    out: list[str] = []
    if isinstance(doc, str) and doc.startswith("whsec_"):
        out.append(doc)
    elif isinstance(doc, dict):
        for value in doc.values():
            out.extend(find_secrets(value))
    elif isinstance(doc, list):
        for value in doc:
            out.extend(find_secrets(value))
    return out


def _items(doc: Any) -> list[dict[str, Any]]:
    if isinstance(doc, list):
        return doc
    for name in ("items", "data", "logs", "results", "webhooks"):
        if isinstance(doc.get(name), list):
            return list(doc[name])
    raise ApiError(f"no item list in {sorted(doc)}")


def _cursor(doc: Any) -> str | None:
    if isinstance(doc, dict):
        for name in ("next_cursor", "cursor", "next"):
            value = doc.get(name)
            if isinstance(value, str) and value:
                return value
    return None


class ConfigApi:
    """Admin client; every call retries while the API is restarting or PostgreSQL is down."""

    def __init__(self, base_url: str, token: str) -> None:
        self.client = httpx.AsyncClient(
            base_url=base_url, headers={"authorization": f"Bearer {token}"}, timeout=15.0
        )

    async def close(self) -> None:
        await self.client.aclose()

    async def request(
        self,
        method: str,
        path: str,
        retry_for_s: float = 60.0,
        ok: tuple[int, ...] = (200, 201, 204),
        **kw: Any,
    ) -> httpx.Response:
        deadline = time.monotonic() + retry_for_s
        last = ""
        while True:
            try:
                resp = await self.client.request(method, path, **kw)
                if resp.status_code in ok:
                    return resp
                last = f"{resp.status_code} {resp.text[:300]}"
                if resp.status_code < 500 and resp.status_code not in (408, 429):
                    raise ApiError(f"{method} {path}: {last}")
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
            if time.monotonic() > deadline:
                raise ApiError(f"{method} {path} kept failing for {retry_for_s:.0f}s: {last}")
            await asyncio.sleep(0.3)

    def _hooks(self, integration_id: str) -> str:
        return f"/admin/integration/{integration_id}/webhooks"

    async def create_webhook(self, integration_id: str, body: dict[str, Any]) -> tuple[str, list[str]]:
        """Create; returns (id, signing secrets from the answer)."""
        resp = await self.request("POST", self._hooks(integration_id), json=body)
        doc = resp.json()
        secrets = find_secrets(doc)
        if not secrets:
            # the secret may be served only by its own admin route
            sec = await self.request("GET", f"{self._hooks(integration_id)}/{doc['id']}/secret")
            secrets = find_secrets(sec.json())
        return str(doc["id"]), secrets

    async def patch_webhook(
        self, integration_id: str, webhook_id: str, changes: dict[str, Any]
    ) -> dict[str, Any]:
        resp = await self.request("PATCH", f"{self._hooks(integration_id)}/{webhook_id}", json=changes)
        return dict(resp.json())

    async def delete_webhook(self, integration_id: str, webhook_id: str) -> None:
        await self.request("DELETE", f"{self._hooks(integration_id)}/{webhook_id}", ok=(200, 202, 204, 404))

    async def get_webhook(
        self, integration_id: str, webhook_id: str, retry_for_s: float = 5.0
    ) -> dict[str, Any]:
        resp = await self.request(
            "GET", f"{self._hooks(integration_id)}/{webhook_id}", retry_for_s=retry_for_s
        )
        return dict(resp.json())

    async def status(self, integration_id: str, webhook_id: str) -> dict[str, Any]:
        resp = await self.request(
            "GET", f"{self._hooks(integration_id)}/{webhook_id}/status", params={"window": "1h"}
        )
        return dict(resp.json())

    async def logs(self, integration_id: str, webhook_id: str, **filters: str) -> list[dict[str, Any]]:
        """Every log item (follows the cursor)."""
        out: list[dict[str, Any]] = []
        params: dict[str, Any] = {"limit": 200, **filters}
        for _ in range(10_000):
            resp = await self.request(
                "GET", f"{self._hooks(integration_id)}/{webhook_id}/logs", params=params
            )
            doc = resp.json()
            page = _items(doc)
            out.extend(page)
            cursor = _cursor(doc)
            if not cursor or not page:
                return out
            params["cursor"] = cursor
        return out
