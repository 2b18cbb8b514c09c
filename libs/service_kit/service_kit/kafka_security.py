"""How every Kafka client connects: TLS, SASL, client id, idempotence, topic auto-creation.

One settings model read by every service (:class:`service_kit.settings.CommonSettings` extends it)
and by the tools; :meth:`KafkaClientSettings.client_options` is the only place that turns it into
aiokafka arguments. Invalid combinations fail validation with a message naming the setting, so a
service stops at start instead of connecting in the clear or with half a configuration.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any, Literal

from aiokafka.helpers import create_ssl_context
from pydantic import AliasChoices, Field, PrivateAttr, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from service_kit.secret_files import FileSettings

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


def _env(name: str) -> AliasChoices:
    return AliasChoices(name, name.lower())


class KafkaSettingError(ValueError):
    """An invalid combination of Kafka settings; the message starts with ``<SETTING>:``."""


class KafkaClientSettings(FileSettings):
    """Connection settings shared by every Kafka client (no prefix: the same names everywhere)."""

    model_config = SettingsConfigDict(env_ignore_empty=True, extra="ignore", populate_by_name=True)

    kafka_security_protocol: SecurityProtocol = Field(
        default="PLAINTEXT",
        validation_alias=_env("KAFKA_SECURITY_PROTOCOL"),
        description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL (docs/kafka-security.md).",
    )
    kafka_sasl_mechanism: SaslMechanism | None = Field(
        default=None,
        validation_alias=_env("KAFKA_SASL_MECHANISM"),
        description="PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; required with SASL_*.",
    )
    kafka_sasl_username: str | None = Field(
        default=None,
        validation_alias=_env("KAFKA_SASL_USERNAME"),
        description="SASL user; required with SASL_*.",
    )
    kafka_sasl_password: SecretStr | None = Field(
        default=None,
        validation_alias=_env("KAFKA_SASL_PASSWORD"),
        description="SASL password; required with SASL_* (or KAFKA_SASL_PASSWORD_FILE).",
    )
    kafka_ssl_ca_file: Path | None = Field(
        default=None,
        validation_alias=_env("KAFKA_SSL_CA_FILE"),
        description="PEM CA bundle that signed the brokers' certificates (unset: the system's CAs).",
    )
    kafka_ssl_cert_file: Path | None = Field(
        default=None, validation_alias=_env("KAFKA_SSL_CERT_FILE"), description="Client certificate (mTLS)."
    )
    kafka_ssl_key_file: Path | None = Field(
        default=None, validation_alias=_env("KAFKA_SSL_KEY_FILE"), description="Client private key (mTLS)."
    )
    kafka_ssl_key_password: SecretStr | None = Field(
        default=None,
        validation_alias=_env("KAFKA_SSL_KEY_PASSWORD"),
        description="Password of an encrypted KAFKA_SSL_KEY_FILE.",
    )
    kafka_ssl_check_hostname: bool = Field(
        default=True,
        validation_alias=_env("KAFKA_SSL_CHECK_HOSTNAME"),
        description="Check the broker's certificate names its host (the chain is verified either way).",
    )
    kafka_client_id: str | None = Field(
        default=None,
        min_length=1,
        validation_alias=_env("KAFKA_CLIENT_ID"),
        description="Quotas and broker logs.",
    )
    kafka_enable_idempotence: bool = Field(
        default=True,
        validation_alias=_env("KAFKA_ENABLE_IDEMPOTENCE"),
        description="Idempotent producers (no duplicates from producer retries); off for a broker "
        "without InitProducerId, such as the embedded Tansu.",
    )
    kafka_auto_create_topics: bool = Field(
        default=False,
        validation_alias=_env("KAFKA_AUTO_CREATE_TOPICS"),
        description="Create missing topics at start; when false a service whose topics are missing "
        "exits naming them (provision with `python -m service_kit.topics apply`).",
    )
    kafka_auto_create_partitions: int = Field(
        # A real cluster's topics come from deploy/topics.yaml (12 on the hot path); this only sizes the
        # topics a service creates itself. The embedded broker charges CPU per partition per fetch, so
        # `make run` and the tests create 2 (devstack.broker.EMBEDDED_BROKER_ENV).
        default=6,
        ge=1,
        le=1000,
        validation_alias=_env("KAFKA_AUTO_CREATE_PARTITIONS"),
        description="Partitions of each topic created by KAFKA_AUTO_CREATE_TOPICS (the most processes of "
        "one consumer group that can share a topic).",
    )

    _ssl_context: ssl.SSLContext | None = PrivateAttr(default=None)

    @property
    def uses_ssl(self) -> bool:
        return self.kafka_security_protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        return self.kafka_security_protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    @model_validator(mode="after")
    def _check_combination(self) -> KafkaClientSettings:
        check_combination(self)
        if self.uses_ssl:
            self._ssl_context = build_ssl_context(self)
        return self

    def client_options(self) -> dict[str, Any]:
        """aiokafka arguments shared by producers, consumers and admin clients."""
        options: dict[str, Any] = {"security_protocol": self.kafka_security_protocol}
        if self.kafka_client_id:
            options["client_id"] = self.kafka_client_id
        if self._ssl_context is not None:
            options["ssl_context"] = self._ssl_context
        if self.uses_sasl:
            password = self.kafka_sasl_password
            options["sasl_mechanism"] = self.kafka_sasl_mechanism
            options["sasl_plain_username"] = self.kafka_sasl_username
            options["sasl_plain_password"] = password.get_secret_value() if password else None
        return options


def embedded_broker_client() -> KafkaClientSettings:
    """Plain-text client settings for the embedded Tansu broker (tests, benchmarks), ignoring the environment.

    Idempotence is off: Tansu does not implement InitProducerId (see devstack.broker.EMBEDDED_BROKER_ENV).
    """
    return KafkaClientSettings.model_construct(
        kafka_enable_idempotence=False, kafka_auto_create_topics=True, kafka_auto_create_partitions=2
    )


def check_combination(s: KafkaClientSettings) -> None:
    """Raise KafkaSettingError naming the first setting that does not fit the others."""
    protocol = f"KAFKA_SECURITY_PROTOCOL={s.kafka_security_protocol}"
    sasl = (
        ("KAFKA_SASL_MECHANISM", s.kafka_sasl_mechanism),
        ("KAFKA_SASL_USERNAME", s.kafka_sasl_username),
        ("KAFKA_SASL_PASSWORD", s.kafka_sasl_password),
    )
    for name, value in sasl:
        if s.uses_sasl and not value:
            raise KafkaSettingError(f"{name}: is required with {protocol}")
        if value and not s.uses_sasl:
            raise KafkaSettingError(f"{name}: is set but {protocol} does not use SASL")
    if not s.uses_ssl:
        tls: tuple[tuple[str, object], ...] = (
            ("KAFKA_SSL_CA_FILE", s.kafka_ssl_ca_file),
            ("KAFKA_SSL_CERT_FILE", s.kafka_ssl_cert_file),
            ("KAFKA_SSL_KEY_FILE", s.kafka_ssl_key_file),
            ("KAFKA_SSL_KEY_PASSWORD", s.kafka_ssl_key_password),
        )
        for tls_name, tls_value in tls:
            if tls_value:
                raise KafkaSettingError(f"{tls_name}: is set but {protocol} does not use TLS")
        return
    if s.kafka_ssl_cert_file and not s.kafka_ssl_key_file:
        raise KafkaSettingError("KAFKA_SSL_KEY_FILE: is required with KAFKA_SSL_CERT_FILE (mTLS)")
    if s.kafka_ssl_key_file and not s.kafka_ssl_cert_file:
        raise KafkaSettingError("KAFKA_SSL_CERT_FILE: is required with KAFKA_SSL_KEY_FILE (mTLS)")
    if s.kafka_ssl_key_password and not s.kafka_ssl_key_file:
        raise KafkaSettingError("KAFKA_SSL_KEY_PASSWORD: is set but KAFKA_SSL_KEY_FILE is not")
    for name, path in (
        ("KAFKA_SSL_CA_FILE", s.kafka_ssl_ca_file),
        ("KAFKA_SSL_CERT_FILE", s.kafka_ssl_cert_file),
        ("KAFKA_SSL_KEY_FILE", s.kafka_ssl_key_file),
    ):
        if path is not None:
            _check_readable(name, path)


def _check_readable(name: str, path: Path) -> None:
    try:
        with path.open("rb") as f:
            f.read(1)
    except OSError as exc:
        raise KafkaSettingError(
            f"{name}: cannot read {path} ({exc.strerror or type(exc).__name__})"
        ) from None


def build_ssl_context(s: KafkaClientSettings) -> ssl.SSLContext:
    """The TLS context of every client: the CA (or the system's), the client pair, hostname checking."""
    try:
        context: ssl.SSLContext = create_ssl_context(cafile=s.kafka_ssl_ca_file)
    except (ssl.SSLError, ValueError) as exc:
        raise KafkaSettingError(f"KAFKA_SSL_CA_FILE: not a PEM CA bundle ({exc})") from None
    if s.kafka_ssl_cert_file and s.kafka_ssl_key_file:
        password = s.kafka_ssl_key_password
        try:
            # A callable, so an encrypted key without a password fails instead of OpenSSL prompting.
            context.load_cert_chain(
                s.kafka_ssl_cert_file,
                s.kafka_ssl_key_file,
                lambda: password.get_secret_value() if password else "",
            )
        except (ssl.SSLError, ValueError) as exc:
            raise KafkaSettingError(
                "KAFKA_SSL_KEY_FILE: does not match KAFKA_SSL_CERT_FILE, or KAFKA_SSL_KEY_PASSWORD is "
                f"wrong ({type(exc).__name__})"
            ) from None
    context.check_hostname = s.kafka_ssl_check_hostname
    return context
