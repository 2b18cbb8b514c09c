"""``config-api`` / ``python -m config_api``: serve (default), ``migrate``, or ``rotate-secrets-key``.

- ``serve``: load settings (exit 2 on bad ones), bind the port, ensure topics, run until signalled
  (``service_kit.service``: exit 1 with one line when it cannot start, 3 when a loop died).
- ``migrate``: apply the schema migrations and exit (a Kubernetes Job or init container; then run
  the API with ``MIGRATE_ON_START=false``). Concurrent runs wait for each other (advisory lock).
- ``rotate-secrets-key``: re-encrypt every stored secret with the first key of
  ``WEBHOOK_SECRETS_KEYS`` and queue the whole configuration for publishing again.
"""

from __future__ import annotations

import argparse
import errno
import logging
import socket
import sys

from config_api.commands import migrate, rotate_secrets_key
from config_api.server import ApiServer
from config_api.settings import ConfigApiSettings
from service_kit.kafka import MissingTopicsError, prepare_topics
from service_kit.logging_setup import configure_logging
from service_kit.service import EXIT_START_FAILED, report_start_failure, run_main, run_until_stopped
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


async def _ensure_topics(settings: ConfigApiSettings) -> None:
    try:
        await prepare_topics(settings.kafka_bootstrap_servers, settings.topics, settings, attempts=5)
    except MissingTopicsError:
        raise
    except Exception as exc:  # noqa: BLE001 - Kafka down must not stop the API; the relay retries
        logger.warning("could not ensure topics at start-up; continuing", extra={"error": type(exc).__name__})


async def _serve(settings: ConfigApiSettings, sock: socket.socket) -> int:
    return await run_until_stopped(
        ApiServer(settings, sock), settings.loop_exit_grace_s, prepare=lambda: _ensure_topics(settings)
    )


def serve(settings: ConfigApiSettings) -> None:
    """Bind (before anything slow, so a taken port fails at once), then run."""
    try:
        sock = _bind(settings.host, settings.port)
    except OSError as exc:
        reason = "already in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
        report_start_failure("config-api", f"cannot listen on {settings.host}:{settings.port}: {reason}")
        raise SystemExit(EXIT_START_FAILED) from None
    logger.info("config API listening", extra={"host": settings.host, "port": settings.port})
    run_main("config-api", _serve(settings, sock), settings.event_loop, settings.gc_gen0_threshold)


def main(argv: list[str] | None = None) -> None:
    """Entry point."""
    parser = argparse.ArgumentParser(prog="config-api", description="carehooks config API")
    parser.add_argument(
        "command",
        nargs="?",
        default="serve",
        choices=["serve", "migrate", "rotate-secrets-key"],
        help="serve (default), migrate (apply the schema and exit), rotate-secrets-key",
    )
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    settings = load_settings(ConfigApiSettings)
    configure_logging("config_api", settings.log_level, settings.log_json)
    if args.command == "migrate":
        migrate(settings)
    elif args.command == "rotate-secrets-key":
        rotate_secrets_key(settings)
    else:
        setup_tracing("config-api")
        serve(settings)


if __name__ == "__main__":
    main()
