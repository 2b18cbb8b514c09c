"""Settings shared by every service (same environment names everywhere).

Services subclass :class:`CommonSettings` with their own ``env_prefix`` for service-only settings;
the shared names below are declared with explicit aliases so they are read without a prefix.
Nothing is read at import time: call :func:`load_settings` from ``__main__``.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import sys
from typing import Annotated, Literal, Self, TypeVar

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

from contracts.topics import Topics
from service_kit.kafka_security import KafkaClientSettings
from service_kit.runtime import DEFAULT_GC_GEN0_THRESHOLD

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(value: object) -> list[IPNetwork]:
    """Parse a comma-separated list of CIDRs (or a list) into networks."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        items: list[object] = list(value.split(","))
    elif isinstance(value, list | tuple | set):
        items = list(value)
    else:
        raise ValueError(f"expected comma-separated CIDRs, got {type(value).__name__}")
    out: list[IPNetwork] = []
    for raw in items:
        text = str(raw).strip()
        if not text:
            continue
        try:
            out.append(ipaddress.ip_network(text, strict=False))
        except ValueError as exc:
            raise ValueError(f"{text!r} is not a CIDR network ({exc})") from exc
    return out


DEFAULT_WEBHOOK_PORTS = frozenset({443, 8443})
"""HTTPS and its usual alternative: a webhook receiver is a web server, and refusing other ports
keeps the sender from being aimed at SMTP, databases, caches or admin consoles."""


def parse_ports(value: object) -> frozenset[int] | None:
    """``WEBHOOK_ALLOWED_PORTS``: comma-separated ports or ``low-high`` ranges, or ``*`` (every port)."""
    if value is None:
        return None
    text = str(value).strip()
    if text == "*":
        return None
    ports: set[int] = set()
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        low, sep, high = item.partition("-")
        if not low.strip().isdecimal() or (sep and not high.strip().isdecimal()):
            raise ValueError(f"{item!r} is not a port or a low-high range (or use * for every port)")
        first, last = int(low), int(high) if sep else int(low)
        if not 1 <= first <= last <= 65535:
            raise ValueError(f"{item!r} is outside 1-65535")
        ports.update(range(first, last + 1))
    if not ports:
        raise ValueError("lists no port (use * for every port)")
    return frozenset(ports)


def decode_secrets_key(value: str) -> bytes:
    """Decode ``WEBHOOK_SECRETS_KEY`` (base64 or base64url of exactly 32 bytes)."""
    text = value.strip()
    padded = text + "=" * (-len(text) % 4)
    try:
        raw = base64.urlsafe_b64decode(padded.replace("+", "-").replace("/", "_"))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("must be base64 of 32 random bytes") from exc
    if len(raw) != 32:
        raise ValueError(f"must decode to 32 bytes (AES-256 key), got {len(raw)}")
    return raw


class CommonSettings(KafkaClientSettings):
    """Settings every service reads (the Kafka connection settings come from KafkaClientSettings)."""

    model_config = SettingsConfigDict(
        env_ignore_empty=True, extra="ignore", env_nested_delimiter="__", populate_by_name=True
    )

    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092",
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "kafka_bootstrap_servers"),
    )
    webhook_secrets_keys: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("WEBHOOK_SECRETS_KEYS", "webhook_secrets_keys"),
        description="Required (or the older WEBHOOK_SECRETS_KEY). Comma list of keys (base64 of 32 random bytes each): the first encrypts, all decrypt "
        "(key rotation: put the new key first, run `config-api rotate-secrets-key`, then drop the old one).",
    )
    webhook_secrets_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("WEBHOOK_SECRETS_KEY", "webhook_secrets_key"),
        description="The single key of earlier releases; used after the keys of WEBHOOK_SECRETS_KEYS.",
    )
    kafka_payload_encryption: bool = Field(
        default=True,
        validation_alias=AliasChoices("KAFKA_PAYLOAD_ENCRYPTION", "kafka_payload_encryption"),
        description="Encrypt delivery-job bodies and invalid-record copies on Kafka with the secrets key "
        "(off only where the cluster encrypts at rest and in transit); records are read either way.",
    )
    webhook_allow_http: bool = Field(
        default=False, validation_alias=AliasChoices("WEBHOOK_ALLOW_HTTP", "webhook_allow_http")
    )
    webhook_allowed_networks: Annotated[list[IPNetwork], NoDecode] = Field(
        default_factory=list,
        validation_alias=AliasChoices("WEBHOOK_ALLOWED_NETWORKS", "webhook_allowed_networks"),
    )
    webhook_allowed_ports: Annotated[str | None, NoDecode] = Field(
        default=None,
        validation_alias=AliasChoices("WEBHOOK_ALLOWED_PORTS", "webhook_allowed_ports"),
        description="Ports subscription URLs may use: comma list or ranges, * for any. Default 443,8443;"
        " with WEBHOOK_ALLOW_HTTP=true (the dev profile) and no value, every port.",
    )
    topic_prefix: str = Field(default="", validation_alias=AliasChoices("TOPIC_PREFIX", "topic_prefix"))
    topics_override: Topics = Field(
        default_factory=Topics, validation_alias=AliasChoices("TOPICS", "topics_override")
    )
    kafka_fetch_max_wait_ms: int = Field(
        # Kafka's default: a real broker answers a long poll as soon as data arrives. The embedded
        # broker does not, so `make run` and the tests set 10 (devstack.broker.EMBEDDED_BROKER_ENV).
        default=500,
        ge=1,
        le=5000,
        validation_alias=AliasChoices("KAFKA_FETCH_MAX_WAIT_MS", "kafka_fetch_max_wait_ms"),
    )
    kafka_background_fetch_max_wait_ms: int = Field(
        # Consumers off the delivery path (the config API's results ingest, the DLQ replayer's config view)
        # follow topics whose records need not arrive within milliseconds: on the embedded broker, which
        # answers only when the wait is over, they need not poll every 10 ms like the dispatcher and the
        # worker (whose config views stay on the short wait: a change must apply before later events).
        default=500,
        ge=1,
        le=5000,
        validation_alias=AliasChoices(
            "KAFKA_BACKGROUND_FETCH_MAX_WAIT_MS", "kafka_background_fetch_max_wait_ms"
        ),
        description="Fetch wait of the consumers off the delivery path (the config API's results ingest, "
        "the DLQ replayer's config view).",
    )
    kafka_idle_fetch_max_wait_ms: int | None = Field(
        # Off by default: a real broker answers a long poll early, so KAFKA_FETCH_MAX_WAIT_MS (500) already
        # costs nothing idle. The embedded stack sets it (service_kit.fetch_pacing).
        default=None,
        ge=1,
        le=5000,
        validation_alias=AliasChoices("KAFKA_IDLE_FETCH_MAX_WAIT_MS", "kafka_idle_fetch_max_wait_ms"),
        description="Fetch wait of the dispatcher's and the worker's job consumers after KAFKA_IDLE_AFTER_S "
        "without a record (back to KAFKA_FETCH_MAX_WAIT_MS on the first one); unset: off.",
    )
    kafka_idle_after_s: float = Field(
        default=2.0,
        gt=0,
        le=600,
        validation_alias=AliasChoices("KAFKA_IDLE_AFTER_S", "kafka_idle_after_s"),
        description="Seconds without a record after which KAFKA_IDLE_FETCH_MAX_WAIT_MS applies.",
    )
    event_loop: Literal["uvloop", "asyncio"] = Field(
        default="uvloop",
        validation_alias=AliasChoices("EVENT_LOOP", "event_loop"),
        description="uvloop (libuv) or the standard library loop; uvloop is used only where installed.",
    )
    gc_gen0_threshold: int = Field(
        default=DEFAULT_GC_GEN0_THRESHOLD,
        ge=0,
        validation_alias=AliasChoices("GC_GEN0_THRESHOLD", "gc_gen0_threshold"),
        description="allocations between young-generation garbage collections (0 = CPython's default, 700).",
    )
    log_level: str = Field(default="INFO", validation_alias=AliasChoices("LOG_LEVEL", "log_level"))
    log_json: bool | None = Field(default=None, validation_alias=AliasChoices("LOG_JSON", "log_json"))
    loop_exit_grace_s: float = Field(
        default=10.0,
        ge=0,
        le=600,
        validation_alias=AliasChoices("LOOP_EXIT_GRACE_S", "loop_exit_grace_s"),
        description="After a critical loop died: /healthz answers 503 this long, then the process exits 3.",
    )

    @field_validator("webhook_allowed_networks", mode="before")
    @classmethod
    def _networks(cls, value: object) -> list[IPNetwork]:
        return parse_networks(value)

    @field_validator("webhook_allowed_ports", mode="before")
    @classmethod
    def _ports(cls, value: object) -> str | None:
        if isinstance(value, list | tuple | set | frozenset):
            value = ",".join(str(v) for v in value)
        parse_ports(value)  # a bad value fails at start-up, naming WEBHOOK_ALLOWED_PORTS
        return None if value is None else str(value)

    @field_validator("webhook_secrets_key")
    @classmethod
    def _key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            decode_secrets_key(value.get_secret_value())
        return value

    @field_validator("webhook_secrets_keys")
    @classmethod
    def _keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parts = [p for p in value.get_secret_value().split(",") if p.strip()]
            if not parts:
                raise ValueError("lists no key")
            for n, part in enumerate(parts, 1):
                try:
                    decode_secrets_key(part)
                except ValueError as exc:
                    raise ValueError(f"key {n}: {exc}") from None
        return value

    @model_validator(mode="after")
    def _some_key(self) -> Self:
        if self.webhook_secrets_keys is None and self.webhook_secrets_key is None:
            raise ValueError(
                "WEBHOOK_SECRETS_KEYS (or the older WEBHOOK_SECRETS_KEY) is required but not set"
            )
        return self

    @field_validator("kafka_bootstrap_servers")
    @classmethod
    def _bootstrap(cls, value: str) -> str:
        for part in value.split(","):
            host, sep, port = part.strip().rpartition(":")
            if not sep or not host or not port.isdigit():
                raise ValueError(f"{part!r} is not host:port")
        return value

    @property
    def topics(self) -> Topics:
        """Topic names after overrides and the prefix."""
        return self.topics_override.with_prefix(self.topic_prefix)

    @property
    def secrets_keys(self) -> list[bytes]:
        """The decoded 32-byte AES keys: the one that encrypts first, then every other that decrypts."""
        texts = []
        if self.webhook_secrets_keys is not None:
            texts = [p for p in self.webhook_secrets_keys.get_secret_value().split(",") if p.strip()]
        if self.webhook_secrets_key is not None:
            texts.append(self.webhook_secrets_key.get_secret_value())
        keys: list[bytes] = []
        for text in texts:
            key = decode_secrets_key(text)
            if key not in keys:
                keys.append(key)
        return keys

    @property
    def webhook_ports(self) -> frozenset[int] | None:
        """The ports webhooks may use (None: every port). Unset means 443 and 8443, except in the
        dev profile (http allowed), whose receivers listen on arbitrary loopback ports."""
        if self.webhook_allowed_ports is None:
            return None if self.webhook_allow_http else DEFAULT_WEBHOOK_PORTS
        return parse_ports(self.webhook_allowed_ports)

    @property
    def secrets_key(self) -> bytes:
        """The key that encrypts (the first of :attr:`secrets_keys`)."""
        return self.secrets_keys[0]


S = TypeVar("S", bound=BaseSettings)


def format_settings_error(exc: ValidationError, cls: type[BaseSettings]) -> str:
    """One line per bad setting, naming the environment variable."""
    prefix = str(cls.model_config.get("env_prefix") or "")
    lines = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        if not loc:
            # A check across settings (model validator); the Kafka ones name their setting first.
            msg = err["msg"].removeprefix("Value error, ")
            name, sep, _ = msg.partition(":")
            lines.append(f"invalid setting {msg}" if sep and name.isupper() else f"invalid settings: {msg}")
            continue
        field = loc[0] if loc else "?"
        info = cls.model_fields.get(field)
        if info is None:
            # pydantic reports a field read through an alias by that alias, not by the field name.
            info = next(
                (
                    f
                    for f in cls.model_fields.values()
                    if isinstance(f.validation_alias, AliasChoices) and field in f.validation_alias.choices
                ),
                None,
            )
        alias = info.validation_alias if info else None
        if isinstance(alias, AliasChoices) and alias.choices:
            env = str(alias.choices[0])
        else:
            env = (prefix + field).upper()
        if len(loc) > 1:
            env += "__" + "__".join(loc[1:]).upper()
        msg = err["msg"] if err["type"] != "missing" else "is required but not set"
        lines.append(f"invalid setting {env}: {msg}")
    return "\n".join(lines)


def load_settings(cls: type[S]) -> S:
    """Load and validate settings; on error print one clear line per setting and exit 2."""
    try:
        return cls()
    except ValidationError as exc:
        print(format_settings_error(exc, cls), file=sys.stderr)  # noqa: T201 - logging is not set up yet
        raise SystemExit(2) from None
    except SettingsError as exc:  # a <NAME>_FILE that cannot be used (service_kit.secret_files)
        print(exc, file=sys.stderr)  # noqa: T201 - logging is not set up yet
        raise SystemExit(2) from None
