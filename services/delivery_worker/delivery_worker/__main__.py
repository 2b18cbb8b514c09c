"""``python -m delivery_worker``: load settings, configure logging, create topics, run until signalled."""

from __future__ import annotations

from delivery_worker.app import create_app
from delivery_worker.settings import WorkerSettings
from service_kit.kafka import prepare_topics
from service_kit.logging_setup import configure_logging
from service_kit.service import run_main, run_until_stopped
from service_kit.settings import load_settings
from service_kit.tracing import setup_tracing


async def _run(settings: WorkerSettings) -> int:
    return await run_until_stopped(
        create_app(settings),
        settings.loop_exit_grace_s,
        prepare=lambda: prepare_topics(settings.kafka_bootstrap_servers, settings.topics, settings),
    )


def main() -> None:
    """Entry point (exit 2 with one line per bad setting, 1 with one line when it cannot start)."""
    settings = load_settings(WorkerSettings)
    configure_logging("delivery-worker", settings.log_level, settings.log_json)
    setup_tracing("delivery-worker")
    run_main("delivery-worker", _run(settings), settings.event_loop, settings.gc_gen0_threshold)


if __name__ == "__main__":
    main()
