"""Composition root of the HTTP service: ``create_app(settings)``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web

from admin_auth.throttle import AuthThrottle
from dlq_replayer.handlers import (
    ROUTES,
    RUNTIME,
    SETTINGS,
    TASKS,
    THROTTLE,
    auth_middleware,
    error_middleware,
    headers_middleware,
)
from dlq_replayer.metrics import BASE, HTTP
from dlq_replayer.runtime import open_core
from dlq_replayer.settings import DlqReplayerSettings


def create_app(settings: DlqReplayerSettings) -> web.Application:
    """The HTTP service: /healthz /readyz /metrics and the bearer-protected /dlq API."""
    app = web.Application(
        middlewares=[HTTP.aiohttp_middleware(), headers_middleware, error_middleware, auth_middleware]
    )
    BASE.watch_ready(lambda: RUNTIME in app and app[RUNTIME].ready)
    app[SETTINGS] = settings
    app[THROTTLE] = AuthThrottle()
    app[TASKS] = set()

    async def lifespan(app: web.Application) -> AsyncIterator[None]:
        async with open_core(settings, follow=True) as runtime:
            app[RUNTIME] = runtime
            yield
            running: set[asyncio.Task[object]] = app[TASKS]
            tasks = list(running)
            for task in tasks:
                task.cancel()  # each run records itself as interrupted; resume it later
            await asyncio.gather(*tasks, return_exceptions=True)

    app.cleanup_ctx.append(lifespan)
    app.add_routes(ROUTES)
    return app
