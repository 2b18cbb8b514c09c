"""``python -m dispatcher``: load settings, configure logging, create topics, run until signalled."""

from __future__ import annotations

from dispatcher.app import create_app
from dispatcher.settings import DispatcherSettings
from service_kit.kafka import prepare_topics
from service_kit.logging_setup import configure_logging
from service_kit.service import run_main, run_until_stopped
from service_kit.settings import load_settings
from service_kit.tracing import setup_tracing


async def _run(settings: DispatcherSettings) -> int:
    return await run_until_stopped(
        create_app(settings),
        settings.loop_exit_grace_s,
        prepare=lambda: prepare_topics(settings.kafka_bootstrap_servers, settings.topics, settings),
    )


def main() -> None:
    """Console entry point (``dispatcher``)."""
    settings = load_settings(DispatcherSettings)
    configure_logging("dispatcher", settings.log_level, settings.log_json)
    setup_tracing("dispatcher")
    run_main("dispatcher", _run(settings), settings.event_loop, settings.gc_gen0_threshold)


if __name__ == "__main__":
    main()
