"""``python -m delivery_worker``: load settings, configure logging, create topics, run."""

from __future__ import annotations

import logging

from delivery_worker.app import create_app
from delivery_worker.settings import WorkerSettings
from service_kit.kafka import MissingTopicsError, prepare_topics
from service_kit.logging_setup import configure_logging
from service_kit.runtime import run
from service_kit.settings import load_settings
from service_kit.tracing import setup_tracing


async def _serve(settings: WorkerSettings) -> None:
    await prepare_topics(settings.kafka_bootstrap_servers, settings.topics, settings)
    await create_app(settings).run()


def main() -> None:
    """Entry point (exit 2 with one line per bad setting)."""
    settings = load_settings(WorkerSettings)
    configure_logging("delivery-worker", settings.log_level, settings.log_json)
    setup_tracing("delivery-worker")
    try:
        run(_serve(settings), settings.event_loop, settings.gc_gen0_threshold)
    except MissingTopicsError as exc:
        logging.getLogger("delivery_worker").error("delivery worker cannot start: %s", exc)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
