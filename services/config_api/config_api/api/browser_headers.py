"""Security headers on every response of the config API (admin UI, JSON API, API docs)."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from admin_auth.security_headers import API_CSP, COMMON_HEADERS, DOCS_CSP, ui_csp


class BrowserHeadersMiddleware:
    """Adds ``COMMON_HEADERS`` and the Content-Security-Policy that fits the path (pure ASGI, so
    streaming and static-file answers get them too, without buffering)."""

    def __init__(self, app: ASGIApp, ui_prefix: str, index_html: str) -> None:
        self.app = app
        self.ui_prefix = ui_prefix
        self.ui_csp = ui_csp(index_html)

    def _csp(self, path: str) -> str:
        if path.startswith(self.ui_prefix):
            return self.ui_csp
        if path in {"/docs", "/redoc", "/docs/oauth2-redirect"}:
            return DOCS_CSP
        return API_CSP

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = self._csp(scope["path"])

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in COMMON_HEADERS.items():
                    headers.setdefault(name, value)
                headers.setdefault("Content-Security-Policy", csp)
            await send(message)

        await self.app(scope, receive, with_headers)
