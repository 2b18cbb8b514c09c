"""The Kafka options builder (TLS, SASL, client id, idempotence), its refusals, and ``<NAME>_FILE`` settings."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
import trustme
from cryptography.hazmat.primitives import serialization

from config_api.settings import ConfigApiSettings
from service_kit.kafka import admin_client, consumer_options, producer_options
from service_kit.kafka_security import KafkaClientSettings
from service_kit.settings import load_settings
from webhook_core.secrets_crypto import generate_key

KAFKA_ENV = [
    "KAFKA_SECURITY_PROTOCOL",
    "KAFKA_SASL_MECHANISM",
    "KAFKA_SASL_USERNAME",
    "KAFKA_SASL_PASSWORD",
    "KAFKA_SSL_CA_FILE",
    "KAFKA_SSL_CERT_FILE",
    "KAFKA_SSL_KEY_FILE",
    "KAFKA_SSL_KEY_PASSWORD",
    "KAFKA_SSL_CHECK_HOSTNAME",
    "KAFKA_CLIENT_ID",
    "KAFKA_ENABLE_IDEMPOTENCE",
    "KAFKA_AUTO_CREATE_TOPICS",
    "KAFKA_AUTO_CREATE_PARTITIONS",
]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [*KAFKA_ENV, *(n + "_FILE" for n in KAFKA_ENV)]:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A CA file, a client certificate and key, and the same key encrypted with 'pw'."""
    base = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    client = ca.issue_cert("carehooks-client")
    files = {
        "ca": base / "ca.pem",
        "cert": base / "client.pem",
        "key": base / "client.key",
        "enc": base / "enc.key",
    }
    ca.cert_pem.write_to_path(str(files["ca"]))
    client.cert_chain_pems[0].write_to_path(str(files["cert"]))
    client.private_key_pem.write_to_path(str(files["key"]))
    key = serialization.load_pem_private_key(client.private_key_pem.bytes(), password=None)
    files["enc"].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"pw"),
        )
    )
    (base / "garbage.pem").write_text("not a certificate\n")
    files["garbage"] = base / "garbage.pem"
    return files


def test_defaults_are_plaintext_and_idempotent() -> None:
    client = KafkaClientSettings()
    assert client.client_options() == {"security_protocol": "PLAINTEXT"}
    producer = producer_options("k:9092", client)
    assert producer["enable_idempotence"] is True and producer["acks"] == "all"
    consumer = consumer_options("k:9092", client)
    assert (consumer["fetch_max_wait_ms"], consumer["fetch_min_bytes"]) == (500, 1)
    assert consumer["consumer_timeout_ms"] == 1000  # aiokafka's 200 woke idle consumers 5 times a second
    assert client.kafka_auto_create_topics is False
    assert client.kafka_auto_create_partitions == 6


async def test_sasl_ssl_scram_maps_to_aiokafka(monkeypatch: pytest.MonkeyPatch, pki: dict[str, Path]) -> None:
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "carehooks")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "s3cret")
    monkeypatch.setenv("KAFKA_SSL_CA_FILE", str(pki["ca"]))
    monkeypatch.setenv("KAFKA_CLIENT_ID", "carehooks-worker")
    monkeypatch.setenv("KAFKA_ENABLE_IDEMPOTENCE", "false")
    client = KafkaClientSettings()
    options = client.client_options()
    context = options.pop("ssl_context")
    assert options == {
        "security_protocol": "SASL_SSL",
        "client_id": "carehooks-worker",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "carehooks",
        "sasl_plain_password": "s3cret",
    }
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    assert producer_options("k:9093", client)["enable_idempotence"] is False
    for built in (producer_options("k:9093", client), consumer_options("k:9093", client)):
        assert built["ssl_context"] is context and built["sasl_mechanism"] == "SCRAM-SHA-512"
    admin = admin_client("k:9093", client)
    assert admin._client._security_protocol == "SASL_SSL"
    assert "s3cret" not in repr(client)  # the password stays out of logs and reprs


def test_mtls_with_encrypted_key_and_no_hostname_check(
    monkeypatch: pytest.MonkeyPatch, pki: dict[str, Path]
) -> None:
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SSL")
    monkeypatch.setenv("KAFKA_SSL_CA_FILE", str(pki["ca"]))
    monkeypatch.setenv("KAFKA_SSL_CERT_FILE", str(pki["cert"]))
    monkeypatch.setenv("KAFKA_SSL_KEY_FILE", str(pki["enc"]))
    monkeypatch.setenv("KAFKA_SSL_KEY_PASSWORD", "pw")
    monkeypatch.setenv("KAFKA_SSL_CHECK_HOSTNAME", "false")
    context = KafkaClientSettings().client_options()["ssl_context"]
    assert context.check_hostname is False and context.verify_mode is ssl.CERT_REQUIRED


@pytest.mark.parametrize(
    ("env", "line"),
    [
        ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "p"},
         "invalid setting KAFKA_SASL_MECHANISM: is required with KAFKA_SECURITY_PROTOCOL=SASL_SSL"),
        ({"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "KAFKA_SASL_MECHANISM": "PLAIN", "KAFKA_SASL_PASSWORD": "p"},
         "invalid setting KAFKA_SASL_USERNAME: is required with KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT"),
        ({"KAFKA_SASL_USERNAME": "u"},
         "invalid setting KAFKA_SASL_USERNAME: is set but KAFKA_SECURITY_PROTOCOL=PLAINTEXT does not use SASL"),
        ({"KAFKA_SSL_CA_FILE": "{ca}"},
         "invalid setting KAFKA_SSL_CA_FILE: is set but KAFKA_SECURITY_PROTOCOL=PLAINTEXT does not use TLS"),
        ({"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CERT_FILE": "{cert}"},
         "invalid setting KAFKA_SSL_KEY_FILE: is required with KAFKA_SSL_CERT_FILE (mTLS)"),
        ({"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_KEY_FILE": "{key}"},
         "invalid setting KAFKA_SSL_CERT_FILE: is required with KAFKA_SSL_KEY_FILE (mTLS)"),
        ({"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CA_FILE": "/nonexistent/ca.pem"},
         "invalid setting KAFKA_SSL_CA_FILE: cannot read /nonexistent/ca.pem (No such file or directory)"),
        ({"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CA_FILE": "{garbage}"},
         "invalid setting KAFKA_SSL_CA_FILE: not a PEM CA bundle"),
        ({"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CERT_FILE": "{cert}", "KAFKA_SSL_KEY_FILE": "{enc}"},
         "invalid setting KAFKA_SSL_KEY_FILE: does not match KAFKA_SSL_CERT_FILE, or KAFKA_SSL_KEY_PASSWORD is wrong"),
        ({"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CERT_FILE": "{cert}", "KAFKA_SSL_KEY_FILE": "{enc}",
          "KAFKA_SSL_KEY_PASSWORD": "wrong"},
         "invalid setting KAFKA_SSL_KEY_FILE: does not match KAFKA_SSL_CERT_FILE, or KAFKA_SSL_KEY_PASSWORD is wrong"),
        ({"KAFKA_SECURITY_PROTOCOL": "TLS"}, "invalid setting KAFKA_SECURITY_PROTOCOL: Input should be"),
        ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "GSSAPI", "KAFKA_SASL_USERNAME": "u",
          "KAFKA_SASL_PASSWORD": "p"},
         "invalid setting KAFKA_SASL_MECHANISM: Input should be"),
    ],
    ids=[
        "sasl-no-mechanism", "sasl-no-username", "sasl-on-plaintext", "ca-on-plaintext", "cert-no-key",
        "key-no-cert", "unreadable-ca", "garbage-ca", "encrypted-key-no-password", "wrong-key-password",
        "unknown-protocol", "unknown-mechanism",
    ],
)  # fmt: skip
def test_invalid_combinations_stop_with_one_line(
    env: dict[str, str],
    line: str,
    pki: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value.format(**{k: str(v) for k, v in pki.items()}))
    with pytest.raises(SystemExit) as exited:
        load_settings(KafkaClientSettings)
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(line), err
    assert "pw" not in err and "wrong" not in err.removeprefix(line)


def test_secret_settings_read_from_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    key = generate_key()
    values = {
        "DATABASE_URL": "postgresql://u:p@db.internal:5432/carehooks?sslmode=verify-full",
        "WEBHOOK_SECRETS_KEY": key,
        "ADMIN_TOKEN": "a" * 40,
        "KAFKA_SASL_PASSWORD": "scram-secret",
    }
    for name, value in values.items():
        path = tmp_path / name.lower()
        path.write_text(value + "\n")  # as Kubernetes mounts a secret written with a newline
        monkeypatch.setenv(f"{name}_FILE", str(path))
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("KAFKA_SASL_MECHANISM", "SCRAM-SHA-256")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "carehooks")
    settings = ConfigApiSettings()
    assert settings.database_url == values["DATABASE_URL"]
    assert settings.webhook_secrets_key.get_secret_value() == key
    assert settings.admin_token_value == "a" * 40
    assert settings.client_options()["sasl_plain_password"] == "scram-secret"


def test_file_and_value_both_set_or_unreadable_file_stop_with_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = tmp_path / "pw"
    secret.write_text("x")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "y")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD_FILE", str(secret))
    with pytest.raises(SystemExit):
        load_settings(KafkaClientSettings)
    assert capsys.readouterr().err.strip() == (
        "invalid setting KAFKA_SASL_PASSWORD_FILE: KAFKA_SASL_PASSWORD is set too; set only one of them"
    )
    monkeypatch.delenv("KAFKA_SASL_PASSWORD")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD_FILE", str(tmp_path / "absent"))
    with pytest.raises(SystemExit):
        load_settings(KafkaClientSettings)
    assert capsys.readouterr().err.strip() == (
        f"invalid setting KAFKA_SASL_PASSWORD_FILE: cannot read {tmp_path / 'absent'} (No such file or directory)"
    )


def test_publish_tool_uses_the_same_settings_and_refusals(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from dispatcher.publish_cli import main

    sample = Path(__file__).resolve().parents[2] / "samples" / "fhir" / "appointment.json"
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    with pytest.raises(SystemExit) as exited:
        main([str(sample), "--interaction", "create", "--bootstrap-servers", "127.0.0.1:1"])
    assert exited.value.code == 2
    assert capsys.readouterr().err.strip() == (
        "invalid setting KAFKA_SASL_MECHANISM: is required with KAFKA_SECURITY_PROTOCOL=SASL_SSL"
    )
