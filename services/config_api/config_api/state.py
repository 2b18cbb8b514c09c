"""The typed application state of the config API (``app.state``), filled by the lifespan in ``app.py``.

Starlette's ``State`` is an untyped attribute bag; this subclass only declares what is on it, so
``api_state(app).pool`` is checked by mypy where ``app.state.pool`` is ``Any``.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, cast

from fastapi.datastructures import State

if TYPE_CHECKING:
    import aiohttp
    import asyncpg
    from aiokafka import AIOKafkaProducer
    from fastapi import FastAPI

    from admin_auth.throttle import AuthThrottle
    from config_api.deliveries.ingest import ResultsIngestor
    from config_api.deliveries.recovery_runner import RecoveryRunner
    from config_api.deliveries.tasks import DeliveryMaintenance
    from config_api.settings import ConfigApiSettings
    from config_api.webhooks.outbox import OutboxRelay
    from config_api.webhooks.snapshot import Snapshotter
    from service_kit.supervisor import LoopSupervisor
    from webhook_core.secrets_crypto import SecretBox
    from webhook_core.ssrf import Resolver


class ApiState(State):
    """What the config API holds while it runs (set in ``create_app`` and the lifespan)."""

    settings: ConfigApiSettings
    supervisor: LoopSupervisor
    auth_throttle: AuthThrottle
    resolver: Resolver
    pool: asyncpg.Pool
    box: SecretBox
    http: aiohttp.ClientSession
    producer: AIOKafkaProducer | None
    """None while Kafka has been unreachable since start-up."""
    producer_ready: asyncio.Event
    relay: OutboxRelay
    snapshotter: Snapshotter
    results_ingestor: ResultsIngestor
    delivery_maintenance: DeliveryMaintenance
    recovery_runner: RecoveryRunner


def api_state(app: FastAPI) -> ApiState:
    """The app's state, typed."""
    return cast("ApiState", app.state)
