"""``python -m dlq_replayer``: the HTTP service (the ``dlq`` CLI is ``dlq_replayer.cli``)."""

from __future__ import annotations

import asyncio
import logging
import signal

from aiohttp import web
from aiokafka.errors import KafkaError

from dlq_replayer.app import create_app
from dlq_replayer.errors import DlqError
from dlq_replayer.settings import DlqReplayerSettings
from service_kit.kafka import MissingTopicsError, prepare_topics
from service_kit.logging_setup import configure_logging
from service_kit.runtime import run
from service_kit.settings import load_settings

logger = logging.getLogger(__name__)


async def serve(settings: DlqReplayerSettings) -> None:
    """Create topics, then serve until SIGTERM / SIGINT (running replays are marked interrupted)."""
    await prepare_topics(settings.kafka_bootstrap_servers, settings.topics, settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runner = web.AppRunner(create_app(settings), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.host, settings.port)
        try:
            await site.start()
        except OSError as exc:
            raise OSError(
                f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}"
            ) from None
        logger.info("dlq replayer listening", extra={"host": settings.host, "port": settings.port})
        await stop.wait()
    finally:
        await runner.cleanup()
        logger.info("dlq replayer stopped")


def main() -> None:
    """Entry point of the service."""
    settings = load_settings(DlqReplayerSettings)
    configure_logging("dlq-replayer", settings.log_level, settings.log_json)
    try:
        run(serve(settings), settings.event_loop, settings.gc_gen0_threshold)
    except KeyboardInterrupt:
        pass
    except (DlqError, OSError, KafkaError, MissingTopicsError) as exc:
        # Start-up failures (database or broker unreachable, port taken) get one clear line, no traceback.
        logger.error("dlq replayer cannot start: %s", exc)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
