"""ASGI middleware answering 413 for request bodies over the limit (checked while streaming too)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service_kit.problems import PROBLEM_JSON, FieldError, http_problem


class BodyTooLargeError(Exception):
    """Raised inside the receive wrapper when the streamed body passes the limit."""


class BodyLimitMiddleware:
    """Rejects bodies larger than ``max_bytes`` before the route reads them."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _message(self) -> bytes:
        msg = f"request body is larger than {self.max_bytes // 1024} KB"
        return http_problem(413, msg, [FieldError(loc=["body"], msg=msg, type="body_too_large")]).to_json()

    async def _reject(self, send: Send) -> None:
        body = self._message()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", PROBLEM_JSON.encode()),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.max_bytes:
                    await self._reject(send)
                    return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLargeError
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLargeError:
            if not started:
                await self._reject(send)
