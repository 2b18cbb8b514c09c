"""The service skeleton: loop supervision, the run-until-stopped loop, exit codes, problem details."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from service_kit.problems import (
    PROBLEM_JSON,
    ConflictError,
    FieldError,
    InvalidInputError,
    NotFoundError,
    UnauthorizedError,
    document_problems,
    field_errors,
    http_problem,
    summary,
)
from service_kit.service import EXIT_LOOP_DIED, StartError, run_until_stopped
from service_kit.supervisor import LoopSupervisor


class FakeService:
    """Starts one loop that runs until told to fail (or forever)."""

    def __init__(self, fail_start: bool = False) -> None:
        self.supervisor = LoopSupervisor()
        self.fail_start = fail_start
        self.loop_task: asyncio.Task[None] | None = None
        self.stopped = False

    async def start(self) -> None:
        self.loop_task = asyncio.create_task(asyncio.sleep(3600), name="work")
        self.supervisor.watch(self.loop_task)
        if self.fail_start:
            raise ConnectionRefusedError("broker at 127.0.0.1:1 refused\nsecond line")

    async def stop(self) -> None:
        self.stopped = True
        if self.loop_task is not None:
            self.loop_task.cancel()


async def _failing() -> None:
    raise ValueError("boom")


async def test_supervisor_reports_each_way_a_loop_can_die() -> None:
    supervisor = LoopSupervisor()
    alive = asyncio.create_task(asyncio.sleep(3600), name="alive")
    supervisor.watch(alive)
    await asyncio.sleep(0)
    assert supervisor.healthy and supervisor.status() == {"status": "ok", "loops": ["alive"]}
    cancelled = asyncio.create_task(asyncio.sleep(3600), name="cancelled")
    raised = asyncio.create_task(_failing(), name="raised")
    returned = asyncio.create_task(asyncio.sleep(0), name="returned")
    for task in (cancelled, raised, returned):
        supervisor.watch(task)
    cancelled.cancel()
    await asyncio.gather(cancelled, raised, returned, return_exceptions=True)
    await asyncio.sleep(0)
    assert not supervisor.healthy and supervisor.failed.is_set()
    reasons = {d.name: d.reason for d in supervisor.dead}
    assert reasons == {"cancelled": "cancelled", "raised": "ValueError: boom", "returned": "returned"}
    assert supervisor.status()["status"] == "failed"
    supervisor.stopping()
    alive.cancel()
    await asyncio.gather(alive, return_exceptions=True)
    assert "alive" not in {d.name for d in supervisor.dead}  # ended during an orderly stop: expected


async def test_a_dead_loop_stops_the_service_with_exit_code_3_after_the_grace() -> None:
    service = FakeService()
    run = asyncio.create_task(run_until_stopped(service, exit_grace_s=0.3))
    while service.loop_task is None:
        await asyncio.sleep(0.01)
    service.loop_task.cancel()
    await asyncio.sleep(0.1)
    assert not run.done()  # still inside the grace: /healthz shows 503 meanwhile
    assert await asyncio.wait_for(run, 5) == EXIT_LOOP_DIED
    assert service.stopped


async def test_sigterm_stops_the_service_in_order_with_exit_code_0() -> None:
    service = FakeService()
    run = asyncio.create_task(run_until_stopped(service, exit_grace_s=10))
    while service.loop_task is None:
        await asyncio.sleep(0.01)
    os.kill(os.getpid(), signal.SIGTERM)
    assert await asyncio.wait_for(run, 5) == 0
    assert service.stopped and service.supervisor.healthy  # the loop ended during the stop: fine


async def test_sigterm_during_a_slow_start_cancels_it_and_stops() -> None:
    service = FakeService()
    started = asyncio.Event()

    async def slow_prepare() -> None:  # e.g. waiting for the config view to catch up
        started.set()
        await asyncio.sleep(3600)

    run = asyncio.create_task(run_until_stopped(service, exit_grace_s=10, prepare=slow_prepare))
    await started.wait()
    os.kill(os.getpid(), signal.SIGTERM)
    assert await asyncio.wait_for(run, 5) == 0
    assert service.stopped and service.loop_task is None  # start() never ran; stop() did


async def test_a_failed_start_is_one_line_and_stops_what_started() -> None:
    service = FakeService(fail_start=True)
    with pytest.raises(StartError) as caught:
        await run_until_stopped(service, exit_grace_s=10)
    assert str(caught.value) == "ConnectionRefusedError: broker at 127.0.0.1:1 refused"
    assert service.stopped


@pytest.mark.parametrize(
    ("error", "status", "slug", "errors"),
    [
        (InvalidInputError("url: must be https", loc=["body", "url"]), 422, "invalid-input", 1),
        (NotFoundError("no replay 'x'"), 404, "not-found", 0),
        (ConflictError("a replay is running"), 409, "conflict", 0),
        (UnauthorizedError("missing bearer token"), 401, "unauthorized", 0),
    ],
)
def test_errors_of_the_shared_tree_become_problems(
    error: InvalidInputError, status: int, slug: str, errors: int
) -> None:
    problem = error.problem()
    assert (problem.status, problem.type.rsplit("/", 1)[-1]) == (status, slug)
    assert problem.title and problem.detail == str(error)
    assert len(problem.errors) == errors
    body = problem.model_dump()
    assert set(body) == {"type", "title", "status", "detail", "errors"}


def test_pydantic_errors_lose_their_input_and_summarise() -> None:
    raw = [
        {
            "loc": ("body", "rate"),
            "msg": "Value error, must be positive",
            "type": "value_error",
            "input": "s3cret",
        }
    ]
    errors = field_errors(raw)
    assert errors == [FieldError(loc=["body", "rate"], msg="must be positive", type="value_error")]
    assert "s3cret" not in http_problem(422, summary(errors), errors).model_dump_json()
    assert summary(errors) == "rate: must be positive"
    assert http_problem(405, "Method Not Allowed").type == "about:blank"


def test_openapi_documents_the_problem_for_every_error_status() -> None:
    doc = {
        "paths": {
            "/admin/x": {
                "get": {
                    "responses": {"200": {"description": "OK"}, "422": {"description": "Validation Error"}}
                }
            },
            "/healthz": {"get": {"responses": {"200": {"description": "OK"}}}},
        },
        "components": {"schemas": {"HTTPValidationError": {}, "ValidationError": {}}},
    }
    out = document_problems(doc, lambda path: [401, 404] if path.startswith("/admin") else [])
    admin = out["paths"]["/admin/x"]["get"]["responses"]
    assert set(admin) == {"200", "401", "404", "422"}
    for status in ("401", "404", "422"):
        assert admin[status]["content"] == {
            PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}
        }
    assert set(out["paths"]["/healthz"]["get"]["responses"]) == {"200"}
    schemas = out["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and {"Problem", "FieldError"} <= set(schemas)
