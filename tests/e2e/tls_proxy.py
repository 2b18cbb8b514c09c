"""A TLS terminator in front of the embedded broker, in its own thread and event loop.

Tansu's own ``--cert`` listener does not complete an aiokafka handshake, so the tests put this in
front of a broker that advertises the proxy's port: every Kafka connection then goes through TLS
(mutual, when the server context requires client certificates), as it would to a managed cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass
class TlsProxy:
    """Accepts TLS on ``port`` and relays the plain bytes to the broker on ``upstream_port``."""

    port: int
    upstream_port: int
    context: ssl.SSLContext
    handshakes: int = 0  # connections that completed the TLS handshake
    _loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)
    _ready: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError, asyncio.IncompleteReadError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        with contextlib.suppress(ConnectionError, OSError):
            writer.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.handshakes += 1
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _serve(self) -> None:
        server = await asyncio.start_server(self._client, "127.0.0.1", self.port, ssl=self.context)
        self._ready.set()
        async with server:
            await server.serve_forever()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        with contextlib.suppress(asyncio.CancelledError):
            self._loop.run_until_complete(self._serve())

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="tls-proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("TLS proxy did not start")

    def stop(self) -> None:
        for task in asyncio.all_tasks(self._loop):
            self._loop.call_soon_threadsafe(task.cancel)
        if self._thread is not None:
            self._thread.join(5)


@contextlib.contextmanager
def running_proxy(port: int, upstream_port: int, context: ssl.SSLContext) -> Iterator[TlsProxy]:
    proxy = TlsProxy(port, upstream_port, context)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()
