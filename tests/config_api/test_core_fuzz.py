"""Property-based run over /openapi.json: no request to any operation answers 5xx.

The app runs under uvicorn on a free port (lifespan on) and schemathesis generates requests for
every operation in positive and negative modes, as the bootstrap admin (so requests get past
authentication into validation and the handlers). On top of the schema's own strategies, some
string in the path, the query or the JSON body is replaced by text holding NUL, a lone surrogate
or a control character (what PostgreSQL, URL parsers and IDNA choke on).

``make test`` runs a quick, derandomised pass (10 examples per operation and mode, at most 90 s).
``make fuzz`` runs the full one: ``FUZZ_EXAMPLES=200 FUZZ_RANDOM=1 FUZZ_BUDGET_S=0`` (random seeds,
printed so a failure can be replayed with ``FUZZ_SEED``; no time budget) and prints its figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
from collections import Counter
from typing import Any

import hypothesis
import hypothesis.errors
import pytest
import schemathesis
import uvicorn
from capi_harness import ADMIN_TOKEN, StubDns, make_settings
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from config_api.app import create_app
from contracts.topics import Topics
from devstack.ports import free_port

pytestmark = pytest.mark.integration

EXAMPLES_PER_OPERATION = int(os.environ.get("FUZZ_EXAMPLES", "10"))
RANDOM_SEEDS = os.environ.get("FUZZ_RANDOM", "") == "1"
BUDGET_S = float(os.environ.get("FUZZ_BUDGET_S", "90"))  # 0: no budget
PROGRESS = RANDOM_SEEDS  # the long run reports each operation as it finishes
SEED = int(os.environ.get("FUZZ_SEED", "0")) or random.SystemRandom().randrange(1, 2**32)

BAD_CHARACTERS = ["\x00", "\ud800", "\udfff", "\x01", "\x08", "\x1b", "\x7f", "\x85", "\u2028", "\ufffe"]
NASTY_TEXT = st.builds(
    lambda before, bad, after: before + bad + after,
    st.text(max_size=8),
    st.sampled_from(BAD_CHARACTERS),
    st.text(max_size=8),
)


def _string_paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, str):
        return [path]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _string_paths(v, (*path, k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _string_paths(v, (*path, i))]
    return []


def _replace(value: Any, path: tuple[Any, ...], new: str) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replace(value[head], rest, new)}
    copy = list(value)
    copy[head] = _replace(copy[head], rest, new)
    return copy


def inject_nasty_text(case: schemathesis.Case, data: st.DataObject) -> None:
    """Maybe replace one string of the path, query or body with text holding a bad character."""
    targets: list[tuple[str, tuple[Any, ...]]] = []
    for part in ("path_parameters", "query"):
        targets += [(part, p) for p in _string_paths(getattr(case, part) or {})]
    if isinstance(case.body, dict | list):
        targets += [("body", p) for p in _string_paths(case.body)]
    if not targets or not data.draw(st.booleans(), label="inject"):
        return
    part, path = data.draw(st.sampled_from(targets), label="target")
    setattr(case, part, _replace(getattr(case, part), path, data.draw(NASTY_TEXT, label="text")))


def fuzz_all(base_url: str) -> dict[str, Any]:
    """Run every operation's strategy in both modes; returns the figures and the failures."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    refused = 0
    started = time.monotonic()
    deadline = started + BUDGET_S if BUDGET_S > 0 else float("inf")
    operations = [r.ok() for r in schema.get_all_operations()]
    modes = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
    per_op_budget = BUDGET_S / max(len(operations) * len(modes), 1) if BUDGET_S > 0 else float("inf")
    for index, (operation, mode) in enumerate((op, m) for op in operations for m in modes):
        if time.monotonic() > deadline:
            break
        op_deadline = time.monotonic() + per_op_budget

        @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
        @hsettings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            derandomize=not RANDOM_SEEDS,
            suppress_health_check=list(HealthCheck),
            phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        )
        def check(case: schemathesis.Case, data: st.DataObject) -> None:
            nonlocal refused
            if time.monotonic() > op_deadline:  # noqa: B023 - read while this operation runs
                return
            inject_nasty_text(case, data)
            # Negative mode may generate its own Authorization header (any case): replace it, so
            # every request gets past authentication (and failures never trip the auth throttle).
            headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
            headers["authorization"] = f"Bearer {ADMIN_TOKEN}"
            case.headers = headers
            try:
                response = case.call(base_url=base_url, timeout=30)
            except (ValueError, UnicodeError):
                refused += 1  # the client itself refused to send it (e.g. a surrogate in the URL)
                return
            statuses[response.status_code] += 1
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path} {case.query!r} -> {response.status_code}: "
                    f"{response.text[:300]}"
                )

        if RANDOM_SEEDS:
            check = hypothesis.seed(SEED + index)(check)
        # Negative mode has nothing to generate for operations without parameters or body.
        with contextlib.suppress(hypothesis.errors.Unsatisfiable):
            check()
        if PROGRESS:
            print(
                f"fuzz progress {index + 1}/{len(operations) * len(modes)} {operation.method.upper()} "
                f"{operation.path} {mode.value}: {sum(statuses.values())} requests, "
                f"{len(failures)} 5xx, {time.monotonic() - started:.0f} s",
                flush=True,
            )
    return {
        "operations": len(operations),
        "requests": sum(statuses.values()),
        "refused_by_client": refused,
        "duration_s": round(time.monotonic() - started, 1),
        "statuses": dict(sorted(statuses.items())),
        "failures": failures,
    }


async def test_no_request_produces_a_5xx(
    database_url: str, service_env: dict[str, str], topics: Topics
) -> None:
    del topics
    # A short test-delivery timeout: generated URLs may point at unreachable public addresses.
    settings = make_settings(database_url, service_env, test_delivery_timeout_s=1.0)
    app = create_app(settings, resolver=StubDns({"hooks.example.com": ["93.184.216.34"]}))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not serving.done(), "server did not start"
            await asyncio.sleep(0.05)
        figures = await asyncio.to_thread(fuzz_all, f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(serving, 15)
    failures = figures.pop("failures")
    seed = f"FUZZ_SEED={SEED}" if RANDOM_SEEDS else "derandomized"
    print(f"fuzz: {EXAMPLES_PER_OPERATION} examples per operation and mode, {seed}: {figures}")
    assert figures["requests"] >= figures["operations"], figures
    assert not failures, f"{len(failures)} 5xx answers ({seed}):\n" + "\n".join(failures[:20])
