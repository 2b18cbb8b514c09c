"""The config API's pool over TLS: ``sslmode=verify-full`` against PostgreSQL with ssl=on and a test CA.

The embedded PostgreSQL wheel is built without OpenSSL (its server logs "SSL is not supported by
this build" and refuses ssl=on), so this test runs the machine's PostgreSQL build (Debian's, under
/usr/lib/postgresql/<version>/bin) with a server certificate from a ``trustme`` CA, listening on
127.0.0.1 for TLS connections only (pg_hba: ``hostssl`` trust, ``hostnossl`` reject). Where no such
build is installed the test fails saying so, rather than skipping.
"""

from __future__ import annotations

import os
import pwd
import shutil
import ssl
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
import trustme

from config_api.db import create_pool
from config_api.settings import ConfigApiSettings
from devstack.ports import free_port

pytestmark = pytest.mark.integration


@dataclass
class TlsPostgres:
    port: int
    ca_file: Path
    other_ca_file: Path

    def dsn(self, host: str = "localhost", sslmode: str = "verify-full", ca: Path | None = None) -> str:
        return (
            f"postgresql://postgres@{host}:{self.port}/postgres"
            f"?sslmode={sslmode}&sslrootcert={ca or self.ca_file}"
        )


def _postgres_bindir() -> Path:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), reverse=True)
    if not candidates:
        pytest.fail(
            "no PostgreSQL build with SSL found under /usr/lib/postgresql/*/bin (the embedded one has no "
            "SSL); install Debian's postgresql package to run the TLS test"
        )
    return candidates[0].parent


@pytest.fixture(scope="module")
def tls_postgres() -> Iterator[TlsPostgres]:
    bindir = _postgres_bindir()
    # PostgreSQL will not run as root: run it as the 'postgres' user the package created.
    user = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
    base = Path(tempfile.mkdtemp(prefix="carehooks-pgtls-"))
    base.chmod(0o755)
    if user:
        os.chown(base, user.pw_uid, user.pw_gid)
    data = base / "data"

    def run(*args: str) -> None:
        done = subprocess.run(
            [str(bindir / args[0]), *args[1:]],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
            user=user.pw_uid if user else None,
            group=user.pw_gid if user else None,
        )
        log = data / "log"
        assert done.returncode == 0, f"{args[0]}: {done.stderr}\n{log.read_text() if log.exists() else ''}"

    try:
        run("initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "--encoding=utf8")
        ca, other = trustme.CA(), trustme.CA()
        cert = ca.issue_cert("localhost")  # no 127.0.0.1: verify-full must check the name
        cert.cert_chain_pems[0].write_to_path(str(data / "server.crt"))
        cert.private_key_pem.write_to_path(str(data / "server.key"))
        for name in ("server.crt", "server.key"):
            (data / name).chmod(0o600)  # PostgreSQL refuses a key others can read
            if user:
                os.chown(data / name, user.pw_uid, user.pw_gid)
        ca.cert_pem.write_to_path(str(base / "ca.pem"))
        other.cert_pem.write_to_path(str(base / "other-ca.pem"))
        with (data / "postgresql.conf").open("a") as conf:
            conf.write("\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n")
        (data / "pg_hba.conf").write_text(
            "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostnossl all all 127.0.0.1/32 reject\n"
        )
        port = free_port()
        options = f"-h 127.0.0.1 -p {port} -k {data}"
        run("pg_ctl", "-D", str(data), "-w", "-o", options, "-l", str(data / "log"), "start")
        try:
            yield TlsPostgres(port=port, ca_file=base / "ca.pem", other_ca_file=base / "other-ca.pem")
        finally:
            run("pg_ctl", "-D", str(data), "-w", "-m", "fast", "stop")
    finally:
        shutil.rmtree(base, ignore_errors=True)


async def test_pool_verifies_the_server_and_migrates_over_tls(tls_postgres: TlsPostgres) -> None:
    settings = ConfigApiSettings(
        database_url=tls_postgres.dsn(),
        webhook_secrets_key="A" * 43 + "=",
        kafka_bootstrap_servers="127.0.0.1:1",
    )
    pool = await create_pool(settings.database_url, 10.0, min_size=1, max_size=2)
    try:
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()") is True
            tables = await conn.fetchval(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
            )
            assert tables >= 5  # the migrations ran through the TLS connection
            assert await conn.fetchval("SELECT count(*) FROM webhooks") == 0
    finally:
        await pool.close()


@pytest.mark.parametrize(
    ("dsn_args", "error"),
    [
        ({"ca": "other"}, ssl.SSLCertVerificationError),  # a server certificate from another CA
        ({"host": "127.0.0.1"}, ssl.SSLCertVerificationError),  # the certificate does not name this host
        ({"sslmode": "disable"}, asyncpg.InvalidAuthorizationSpecificationError),  # hostnossl: reject
    ],
    ids=["untrusted-ca", "wrong-host-name", "plain-text-refused"],
)
async def test_connections_that_must_fail(
    tls_postgres: TlsPostgres, dsn_args: dict[str, str], error: type[Exception]
) -> None:
    ca = tls_postgres.other_ca_file if dsn_args.pop("ca", None) else None
    with pytest.raises(error):
        await _connect(tls_postgres.dsn(ca=ca, **dsn_args))


async def _connect(dsn: str) -> None:
    conn = await asyncpg.connect(dsn, timeout=10)
    await conn.close()
