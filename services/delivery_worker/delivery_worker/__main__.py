"""``python -m delivery_worker``: load settings, configure logging, create topics, run."""

from __future__ import annotations

from delivery_worker.app import create_app
from delivery_worker.settings import WorkerSettings
from service_kit.kafka import ensure_topics
from service_kit.logging_setup import configure_logging
from service_kit.runtime import run
from service_kit.settings import load_settings


async def _serve(settings: WorkerSettings) -> None:
    await ensure_topics(settings.kafka_bootstrap_servers, settings.topics)
    await create_app(settings).run()


def main() -> None:
    """Entry point (exit 2 with one line per bad setting)."""
    settings = load_settings(WorkerSettings)
    configure_logging("delivery-worker", settings.log_level, settings.log_json)
    run(_serve(settings), settings.event_loop, settings.gc_gen0_threshold)


if __name__ == "__main__":
    main()
