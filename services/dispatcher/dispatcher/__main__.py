"""``python -m dispatcher``: load settings, configure logging, create topics, run until signalled."""

from __future__ import annotations

import logging

from aiokafka.errors import KafkaError

from dispatcher.app import create_app
from dispatcher.settings import DispatcherSettings
from service_kit.kafka import prepare_topics
from service_kit.logging_setup import configure_logging
from service_kit.runtime import run
from service_kit.settings import load_settings
from service_kit.tracing import setup_tracing


async def _run(settings: DispatcherSettings) -> None:
    await prepare_topics(settings.kafka_bootstrap_servers, settings.topics, settings)
    await create_app(settings).run()


def main() -> None:
    """Console entry point (``dispatcher``)."""
    settings = load_settings(DispatcherSettings)
    configure_logging("dispatcher", settings.log_level, settings.log_json)
    setup_tracing("dispatcher")
    try:
        run(_run(settings), settings.event_loop, settings.gc_gen0_threshold)
    except (OSError, TimeoutError, RuntimeError, KafkaError) as exc:  # incl. MissingTopicsError
        # Port taken, broker unreachable, config topic never caught up: one clear line, no traceback.
        logging.getLogger("dispatcher").error("dispatcher could not run: %s", exc or type(exc).__name__)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
