"""Helpers of the admin-page browser tests: Debian's Chromium, a recording receiver, screenshots.

Chromium is required, not optional: when /usr/bin/chromium is missing the tests fail with the
command that installs it (CI runs it), because a skipped browser test proves nothing.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from playwright.async_api import Browser, Page, Playwright

REPO = Path(__file__).resolve().parents[2]
UI_DIR = REPO / "services" / "config_api" / "config_api" / "ui"
SCREENSHOTS = REPO / "docs" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


async def launch_chromium(playwright: Playwright) -> Browser:
    """Headless Debian Chromium; fails (never skips) when it is not installed."""
    if not CHROMIUM.exists():
        raise AssertionError(f"{CHROMIUM} is missing: install it with `apt-get install -y chromium`")
    return await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


async def new_page(browser: Browser, viewport: dict[str, int] = DESKTOP) -> tuple[Page, list[str]]:
    """A page in a fresh context (own sessionStorage) and the list its JavaScript errors go to."""
    context = await browser.new_context(viewport=viewport)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return page, errors


def _screenshot_dir() -> Path:
    # A plain test run must not dirty the work tree; `make screenshots` sets UPDATE_SCREENSHOTS=1.
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        return SCREENSHOTS
    return Path(tempfile.gettempdir()) / "carehooks-screenshots"


async def screenshot(page: Page, name: str) -> None:
    """Take a screenshot; saved to docs/screenshots/<name>.png only when UPDATE_SCREENSHOTS=1."""
    target = _screenshot_dir()
    target.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(target / f"{name}.png"), full_page=False)


@dataclass
class Receiver:
    """A webhook endpoint on 127.0.0.1 that answers 200 (503 for the next ``fail_next``) and records what it got."""

    url: str = ""
    fail_next: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.text()
        self.requests.append({"path": request.path, "headers": dict(request.headers), "body": body})
        self.arrived.set()
        if self.fail_next > 0:
            self.fail_next -= 1
            return web.json_response({"error": "busy, try later"}, status=503)
        return web.json_response({"received": True})

    async def wait_for(self, count: int, timeout_s: float) -> None:
        """Wait until ``count`` requests arrived."""
        async with asyncio.timeout(timeout_s):
            while len(self.requests) < count:
                self.arrived.clear()
                await self.arrived.wait()

    def bodies(self) -> list[Any]:
        """The JSON bodies received so far."""
        return [json.loads(r["body"]) for r in self.requests]


@asynccontextmanager
async def running_receiver() -> AsyncIterator[Receiver]:
    """Start a Receiver on a free port of 127.0.0.1."""
    receiver = Receiver()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    receiver.url = f"http://127.0.0.1:{port}"
    try:
        yield receiver
    finally:
        await runner.cleanup()


@asynccontextmanager
async def static_ui() -> AsyncIterator[str]:
    """Serve the UI directory alone at /admin/ui/ (for the pure-logic checks; no API behind it)."""
    app = web.Application()

    async def index(_: web.Request) -> web.FileResponse:
        return web.FileResponse(UI_DIR / "index.html")

    app.router.add_get("/admin/ui/", index)
    app.router.add_static("/admin/ui/", UI_DIR)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/admin/ui/"
    finally:
        await runner.cleanup()
