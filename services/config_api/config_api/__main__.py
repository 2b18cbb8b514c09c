"""``python -m config_api``: load settings (exit 2 on bad ones), configure logging, ensure topics, serve."""

from __future__ import annotations

import errno
import logging
import socket
import sys

import uvicorn

from config_api.app import create_app
from config_api.settings import ConfigApiSettings
from service_kit.kafka import MissingTopicsError, prepare_topics
from service_kit.logging_setup import configure_logging
from service_kit.runtime import run
from service_kit.settings import load_settings
from service_kit.tracing import setup_tracing

logger = logging.getLogger("config_api")


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


async def _serve(settings: ConfigApiSettings, sock: socket.socket) -> None:
    try:
        await prepare_topics(settings.kafka_bootstrap_servers, settings.topics, settings, attempts=5)
    except MissingTopicsError:
        raise
    except Exception as exc:  # noqa: BLE001 - Kafka down must not stop the API; the relay retries
        logger.warning("could not ensure topics at start-up; continuing", extra={"error": type(exc).__name__})
    app = create_app(settings)
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    await server.serve(sockets=[sock])


def main() -> None:
    """Entry point."""
    settings = load_settings(ConfigApiSettings)
    configure_logging("config_api", settings.log_level, settings.log_json)
    setup_tracing("config-api")
    try:
        sock = _bind(settings.host, settings.port)
    except OSError as exc:
        reason = "already in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
        print(f"config_api: cannot listen on {settings.host}:{settings.port}: {reason}", file=sys.stderr)  # noqa: T201 - one plain line, before or without logging
        raise SystemExit(1) from None
    logger.info("config API listening", extra={"host": settings.host, "port": settings.port})
    try:
        run(_serve(settings, sock), settings.event_loop, settings.gc_gen0_threshold)
    except MissingTopicsError as exc:
        logger.error("config API cannot start: %s", exc)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
