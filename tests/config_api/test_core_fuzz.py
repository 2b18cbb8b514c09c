"""Property-based run over /openapi.json: no request to any operation answers 5xx.

The app runs under uvicorn on a free port (lifespan on) and schemathesis generates requests for
every operation, as the bootstrap admin (so requests get past authentication into validation and
the handlers). Bounded: a few examples per operation, about 30 s in all.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import hypothesis
import hypothesis.errors
import pytest
import schemathesis
import uvicorn
from capi_harness import ADMIN_TOKEN, StubDns, make_settings
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings

from config_api.app import create_app
from contracts.topics import Topics
from devstack.ports import free_port

pytestmark = pytest.mark.integration

EXAMPLES_PER_OPERATION = 10
BUDGET_S = 30.0


def fuzz_all(base_url: str) -> tuple[int, list[str]]:
    """Run every operation's strategy; returns (requests made, failures)."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    failures: list[str] = []
    calls = 0
    deadline = time.monotonic() + BUDGET_S
    operations = [r.ok() for r in schema.get_all_operations()]
    modes = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
    per_op_budget = BUDGET_S / max(len(operations) * len(modes), 1)
    for operation, mode in ((op, m) for op in operations for m in modes):
        if time.monotonic() > deadline:
            break
        op_deadline = time.monotonic() + per_op_budget

        @given(case=operation.as_strategy(generation_mode=mode))
        @hsettings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
            phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        )
        def check(case: schemathesis.Case) -> None:
            nonlocal calls
            if time.monotonic() > op_deadline:  # noqa: B023 - read while this operation runs
                return
            headers = dict(case.headers or {})
            headers["authorization"] = f"Bearer {ADMIN_TOKEN}"
            case.headers = headers
            try:
                response = case.call(base_url=base_url, timeout=10)
            except (ValueError, UnicodeError):
                return  # the client itself refused to send it (e.g. a header with a newline)
            calls += 1
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}"
                )

        # Negative mode has nothing to generate for operations without parameters or body.
        with contextlib.suppress(hypothesis.errors.Unsatisfiable):
            check()
    return calls, failures


async def test_no_request_produces_a_5xx(
    database_url: str, service_env: dict[str, str], topics: Topics
) -> None:
    del topics
    settings = make_settings(database_url, service_env)
    app = create_app(settings, resolver=StubDns({"hooks.example.com": ["93.184.216.34"]}))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not serving.done(), "server did not start"
            await asyncio.sleep(0.05)
        calls, failures = await asyncio.to_thread(fuzz_all, f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(serving, 15)
    print(f"fuzz: {calls} requests")
    assert calls > 100, calls
    assert not failures, "\n".join(failures[:20])
