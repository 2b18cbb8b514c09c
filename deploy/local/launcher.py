"""``make run``: the whole system on one machine, embedded broker and PostgreSQL unless configured.

Steps: check every port first; start the embedded Tansu broker when KAFKA_BOOTSTRAP_SERVERS is
unset and the embedded PostgreSQL when DATABASE_URL is unset; keep a dev admin token and secrets key
under the run dir; apply the dev profile (http to loopback allowed); create the topics; start the
four services in order, each in its own process group, waiting for each /healthz; stream their logs;
on Ctrl-C / SIGTERM / SIGHUP (or when a service dies) stop everything it started, in reverse order.

Environment of the launcher itself (the services' settings are documented in the README):
CAREHOOKS_RUN_DIR (default ./.run), CAREHOOKS_SERVICES (comma list, default all four), KAFKA_PORT
(embedded broker, default 9092), DELIVERY_PARTITIONS (default: KAFKA_AUTO_CREATE_PARTITIONS, 2 on the
embedded broker, else 6), KAFKA_REPLICATION_FACTOR (default 1),
CAREHOOKS_HEALTH_TIMEOUT_S (default 90), CAREHOOKS_STOP_GRACE_S (default 20; above the worker's own 15 s drain).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from console import Console, colour_wanted
from infra import (
    create_topics,
    ensure_secret,
    masked_dsn,
    start_embedded_postgres,
    stop_embedded_postgres,
    stop_stale_broker,
    write_env_file,
)

from devstack.broker import EMBEDDED_BROKER_ENV, EmbeddedBroker, start_broker
from devstack.postgres import EmbeddedPostgres
from devstack.processes import (
    SERVICES,
    ServiceExitedError,
    ServiceSpec,
    port_bindable,
    service_by_name,
    spawn_service,
    stop_processes,
    wait_healthy,
)

REPO = Path(__file__).resolve().parents[2]
DEV_NETWORKS = "127.0.0.0/8"
BROKER_PID = "broker.pid"


class LaunchError(Exception):
    """A problem the user can fix; printed as one line, no traceback."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


class Shutdown(Exception):
    """SIGTERM or SIGHUP arrived: stop like on Ctrl-C."""


def _int_env(env: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name) or str(default)
    if not raw.strip().isdigit() or not low <= int(raw) <= high:
        raise LaunchError(f"invalid setting {name}: {raw!r} is not a whole number in {low}..{high}", code=2)
    return int(raw)


def _float_env(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name) or str(default)
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise LaunchError(f"invalid setting {name}: {raw!r} is not a positive number of seconds", code=2)
    return value


@dataclass
class Plan:
    """What to start, read from the environment before anything is started."""

    run_dir: Path
    services: list[ServiceSpec]
    embedded_kafka: bool
    kafka_port: int
    embedded_pg: bool
    partitions: int | None  # None: the services' KAFKA_AUTO_CREATE_PARTITIONS
    replication_factor: int
    health_timeout_s: float
    grace_s: float


def read_plan(env: dict[str, str]) -> Plan:
    """Validate the launcher's own settings (raises LaunchError naming the bad one)."""
    run_dir = Path(env.get("CAREHOOKS_RUN_DIR") or REPO / ".run").resolve()
    names = [n.strip() for n in (env.get("CAREHOOKS_SERVICES") or "").split(",") if n.strip()]
    try:
        services = [service_by_name(n) for n in names] if names else list(SERVICES)
    except ValueError as exc:
        raise LaunchError(f"invalid setting CAREHOOKS_SERVICES: {exc}", code=2) from None
    services.sort(key=SERVICES.index)  # the config API first: it applies the migrations
    return Plan(
        run_dir=run_dir,
        services=services,
        embedded_kafka=not env.get("KAFKA_BOOTSTRAP_SERVERS"),
        kafka_port=_int_env(env, "KAFKA_PORT", 9092, 1, 65535),
        embedded_pg=not env.get("DATABASE_URL"),
        partitions=_int_env(env, "DELIVERY_PARTITIONS", 6, 1, 1000)
        if env.get("DELIVERY_PARTITIONS")
        else None,
        replication_factor=_int_env(env, "KAFKA_REPLICATION_FACTOR", 1, 1, 10),
        health_timeout_s=_float_env(env, "CAREHOOKS_HEALTH_TIMEOUT_S", 90.0),
        grace_s=_float_env(env, "CAREHOOKS_STOP_GRACE_S", 20.0),
    )


def check_ports(plan: Plan, env: dict[str, str]) -> None:
    """Fail with one line naming the first port that is taken (or given twice)."""
    wanted: list[tuple[str, str, str, int]] = []
    for spec in plan.services:
        try:
            host, port = spec.address(env)
        except ValueError as exc:
            raise LaunchError(str(exc), code=2) from None
        wanted.append((spec.name, spec.port_env, host, port))
    if plan.embedded_kafka:
        wanted.append(("embedded Kafka broker", "KAFKA_PORT", "127.0.0.1", plan.kafka_port))
    seen: dict[int, str] = {}
    for label, env_name, host, port in wanted:
        if port in seen:
            raise LaunchError(
                f"port {port} is given to both {seen[port]} and {env_name}; set different ports"
            )
        seen[port] = env_name
        if not port_bindable(host, port):
            raise LaunchError(
                f"port {port} ({label}, {env_name}) is already in use on {host}: "
                f"stop what listens there or set {env_name} to a free port"
            )


@dataclass
class Stack:
    """Everything the launcher started, so that teardown stops exactly that."""

    console: Console
    plan: Plan
    broker: EmbeddedBroker | None = None
    postgres: EmbeddedPostgres | None = None
    postgres_starting: bool = False
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    pumps: list[threading.Thread] = field(default_factory=list)

    def start_infra(self, env: dict[str, str]) -> None:
        """Start the embedded broker and PostgreSQL where nothing is configured."""
        self.plan.run_dir.mkdir(parents=True, exist_ok=True)
        if self.plan.embedded_kafka:
            log = self.plan.run_dir / "tansu.log"
            try:
                self.broker = start_broker(port=self.plan.kafka_port, log_path=log)
            except (RuntimeError, OSError) as exc:
                raise LaunchError(f"embedded Kafka broker did not start ({exc}); see {log}") from None
            # Services die with the launcher (PDEATHSIG); the broker does not, so remember it.
            (self.plan.run_dir / BROKER_PID).write_text(f"{self.broker.process.pid}\n")
            env["KAFKA_BOOTSTRAP_SERVERS"] = self.broker.bootstrap_servers
            for name, value in EMBEDDED_BROKER_ENV.items():
                env.setdefault(name, value)  # what the embedded broker needs, unless set explicitly
            self.console.say(f"embedded Kafka broker (Tansu) on {self.broker.bootstrap_servers}")
        if self.plan.embedded_pg:
            self.postgres_starting = True
            started = time.monotonic()
            pgdata = self.plan.run_dir / "pgdata"
            try:
                self.postgres = start_embedded_postgres(pgdata)
            except (subprocess.SubprocessError, OSError, AssertionError) as exc:
                # embedded-postgres signals a server that is not ready with a bare assert.
                raise LaunchError(
                    f"embedded PostgreSQL did not start ({type(exc).__name__}); see {pgdata / 'log'}"
                ) from None
            env["DATABASE_URL"] = self.postgres.dsn
            self.console.say(f"embedded PostgreSQL ready in {time.monotonic() - started:.1f}s")

    def start_services(self, env: dict[str, str]) -> None:
        """Start each service and wait for its /healthz; the config API alone first (migrations)."""
        first, rest = self.plan.services[:1], self.plan.services[1:]
        for group in (first, rest):
            for spec in group:
                proc = spawn_service(spec, env, subprocess.PIPE)
                self.processes[spec.name] = proc
                assert proc.stdout is not None
                self.pumps.append(self.console.pump(spec.name, proc.stdout))
            for spec in group:
                url = spec.base_url(env) + "/healthz"
                took = wait_healthy(spec.name, url, self.processes[spec.name], self.plan.health_timeout_s)
                self.console.say(f"{spec.name} healthy after {took:.1f}s")

    def supervise(self) -> int:
        """Block until a child dies (returns 1); signals end it by raising."""
        while True:
            for name, proc in self.processes.items():
                code = proc.poll()
                if code is not None:
                    self.console.say(f"{name} exited unexpectedly with code {code}; stopping everything")
                    return 1
            if self.broker is not None and self.broker.process.poll() is not None:
                self.console.say("the embedded Kafka broker exited unexpectedly; stopping everything")
                return 1
            time.sleep(0.2)

    def stop(self) -> None:
        """Stop services (SIGTERM, SIGKILL after the grace period), then PostgreSQL, then the broker."""
        if self.processes:
            self.console.say(f"stopping {len(self.processes)} service(s) (grace {self.plan.grace_s:.0f}s)")
            codes = stop_processes(self.processes.values(), grace_s=self.plan.grace_s)
            summary = ", ".join(
                f"{name} {_exit_text(code)}" for name, code in zip(self.processes, codes, strict=True)
            )
            for pump in self.pumps:
                pump.join(timeout=2.0)  # let the last log lines of each service reach the console
            self.console.say(f"services stopped ({summary})")
        if self.postgres_starting:
            stop_embedded_postgres(self.postgres, self.plan.run_dir / "pgdata")
            self.console.say("embedded PostgreSQL stopped (data kept in the run dir)")
        if self.broker is not None:
            self.broker.stop()
            (self.plan.run_dir / BROKER_PID).unlink(missing_ok=True)
            self.console.say("embedded Kafka broker stopped (its topics are gone: memory storage)")


def _exit_text(code: int) -> str:
    # Negative codes are deaths by signal; uvicorn re-raises SIGTERM after a clean shutdown.
    return f"by {signal.Signals(-code).name}" if code < 0 else f"with code {code}"


def apply_dev_profile(env: dict[str, str], run_dir: Path, console: Console) -> str | None:
    """Fill in the dev secrets and profile; return the generated admin token (None if configured)."""
    generated = None
    if not env.get("ADMIN_TOKEN"):
        generated = env["ADMIN_TOKEN"] = ensure_secret(run_dir / "admin_token", "token")
    if not env.get("WEBHOOK_SECRETS_KEY"):
        env["WEBHOOK_SECRETS_KEY"] = ensure_secret(run_dir / "secrets_key", "key")
        console.say(f"WARNING: using the dev secrets key kept in {run_dir / 'secrets_key'}")
    defaults = {"WEBHOOK_ALLOW_HTTP": "true", "WEBHOOK_ALLOWED_NETWORKS": DEV_NETWORKS}
    applied = [name for name in defaults if name not in env]  # set but empty counts: "none allowed"
    for name in applied:
        env[name] = defaults[name]
    if applied:
        console.say(
            f"WARNING: dev profile ({', '.join(f'{n}={defaults[n]}' for n in applied)}): http:// subscription "
            "URLs and targets on this machine are allowed; never use this profile in production"
        )
    if "LOG_JSON" not in env and sys.stdout.isatty():
        env["LOG_JSON"] = "false"  # services see a pipe, not our terminal; text reads better here
    return generated


def ensure_all_topics(env: dict[str, str], plan: Plan, console: Console) -> None:
    """Create the topics under the same names the services compute (prefix and overrides included)."""
    from service_kit.settings import CommonSettings, load_settings

    os.environ.update(env)  # pydantic-settings reads the process environment
    settings = load_settings(CommonSettings)
    from aiokafka.errors import KafkaError

    partitions = plan.partitions or settings.kafka_auto_create_partitions
    try:
        count = create_topics(
            settings.kafka_bootstrap_servers,
            settings.topics,
            settings,
            partitions,
            plan.replication_factor,
        )
    except (KafkaError, OSError) as exc:
        raise LaunchError(
            f"cannot create topics on {settings.kafka_bootstrap_servers} ({type(exc).__name__}: {exc}); "
            "is KAFKA_BOOTSTRAP_SERVERS right and the broker up?"
        ) from None
    console.say(f"{count} topics present ({partitions} partitions each for new ones)")


def print_banner(stack: Stack, env: dict[str, str], admin_token: str | None) -> None:
    """Where everything listens, and the dev admin token."""
    say = stack.console.say
    say("carehooks is up. Ctrl-C stops everything.")
    for spec in stack.plan.services:
        base = spec.base_url(env)
        extra = (
            "  (REST API, /docs, /admin/ui/)"
            if spec.module == "config_api"
            else "  (/healthz /readyz /metrics)"
        )
        say(f"  {spec.name:<16} {base}{extra}")
    kafka_note = "embedded Tansu, MEMORY ONLY" if stack.broker else "configured"
    say(f"  {'Kafka':<16} {env['KAFKA_BOOTSTRAP_SERVERS']}  ({kafka_note})")
    pg_note = f"embedded, data in {stack.plan.run_dir / 'pgdata'}" if stack.postgres else "configured"
    say(f"  {'PostgreSQL':<16} {masked_dsn(env['DATABASE_URL'])}  ({pg_note})")
    if admin_token:
        say(f"  {'admin token':<16} {admin_token}  (dev token kept in {stack.plan.run_dir / 'admin_token'})")
    else:
        say(f"  {'admin token':<16} from ADMIN_TOKEN")
    say(
        f"  {'other terminals':<16} uv run --no-sync carehooks webhooks list surveymonkey; uv run --no-sync dlq list"
    )
    say(
        f"  {'':<16} (no setup: both CLIs read the dev token; `dlq --direct` needs . {stack.plan.run_dir / 'env'})"
    )
    if stack.broker:
        say("WARNING: the embedded broker keeps messages in memory only: they are gone after Ctrl-C")


def _raise_shutdown(signum: int, _frame: FrameType | None) -> None:
    raise Shutdown(signal.Signals(signum).name)


def run(env: dict[str, str], console: Console) -> int:
    """Start everything, supervise, and always tear down what was started."""
    plan = read_plan(env)
    if plan.embedded_kafka:
        stale = stop_stale_broker(plan.run_dir / BROKER_PID)
        if stale is not None:
            console.say(f"stopped the embedded broker an earlier run left behind (pid {stale})")
    check_ports(plan, env)
    stack = Stack(console=console, plan=plan)
    # SIGINT explicitly too: a shell starting us in the background hands us SIGINT ignored, and
    # Python then keeps it ignored, so Ctrl-C / `kill -INT` would do nothing.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_shutdown)
    signal.signal(signal.SIGHUP, _raise_shutdown)
    code = 1
    try:
        stack.start_infra(env)
        admin_token = apply_dev_profile(env, plan.run_dir, console)
        ensure_all_topics(env, plan, console)
        # The embedded broker's client settings too: `publish` in another terminal reads them.
        extra = (*(spec.port_env for spec in plan.services), *EMBEDDED_BROKER_ENV)
        write_env_file(plan.run_dir / "env", env, extra)
        stack.start_services(env)
        print_banner(stack, env, admin_token)
        code = stack.supervise()
    except (KeyboardInterrupt, Shutdown) as exc:
        console.say(f"{str(exc) or 'SIGINT'} received, shutting down")
        code = 0
    except (ServiceExitedError, TimeoutError, LaunchError) as exc:
        console.say(f"error: {exc}; stopping everything")
    finally:
        # Teardown is bounded by the grace period; a second Ctrl-C must not leave half of it undone.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        stack.stop()
    return code


def main() -> int:
    """Entry point of ``make run``."""
    console = Console(sys.stdout, colour_wanted(sys.stdout))
    try:
        return run(dict(os.environ), console)
    except LaunchError as exc:
        print(f"make run: {exc}", file=sys.stderr)
        return exc.code


if __name__ == "__main__":
    sys.exit(main())
