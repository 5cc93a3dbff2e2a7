"""The one settings model of streamworks, read from ``STREAMWORKS_*`` variables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from streamworks.core.errors import ConfigurationError

__all__ = ["Guarantee", "KafkaClient", "SaslMechanism", "SecurityProtocol", "Settings"]

Guarantee = Literal["at-least-once", "exactly-once"]
SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
KafkaClient = Literal["librdkafka", "aiokafka"]


class Settings(BaseSettings):
    """Where the platform finds Kafka and keeps its state, and how safely it writes.

    Every field can be set with an environment variable of the same name in upper case
    and the ``STREAMWORKS_`` prefix, e.g. ``STREAMWORKS_BOOTSTRAP_SERVERS``.
    """

    # hide_input_in_errors: a refused setting must not print the password next to it
    model_config = SettingsConfigDict(
        env_prefix="STREAMWORKS_", frozen=True, extra="ignore", hide_input_in_errors=True
    )

    bootstrap_servers: str = Field(
        default="127.0.0.1:9092",
        description="Comma-separated host:port list of Kafka brokers.",
    )
    registry_url: str = Field(
        default="http://127.0.0.1:8081", description="Schema registry the codec talks to."
    )
    client_id: str = Field(default="streamworks", description="Kafka client id prefix.")
    state_dir: Path = Field(
        default=Path(".cache/state"),
        description="Where workers keep RocksDB table state and crash-loop markers.",
    )
    crash_loop_after: int = Field(
        default=3,
        ge=0,
        description="Worker deaths with the same record in the batch after which it is "
        "tracked down and dead-lettered as CrashLoop (0: off).",
    )
    guarantee: Guarantee = Field(
        default="at-least-once", description="Processing guarantee of pipelines."
    )
    linger_ms: int = Field(
        default=1,
        ge=0,
        description=(
            "Milliseconds a producer waits to fill a batch (lower: latency). A stage sends a "
            "fetched batch's outputs together, so a longer wait adds latency, not batching."
        ),
    )
    fetch_wait_ms: int = Field(
        default=500,
        ge=10,
        le=5_000,
        description=(
            "Milliseconds the broker may hold a worker's fetch while it has no record to "
            "answer with (it answers as soon as one arrives; lower: idle workers fetch "
            "more often)."
        ),
    )
    kafka_client: KafkaClient = Field(
        default="librdkafka",
        description=(
            "The Kafka client under at-least-once stage workers: librdkafka (confluent-kafka; "
            "its I/O in C threads, about half the CPU per record) or aiokafka (all in "
            "Python). Exactly-once stages and aggregations always use aiokafka."
        ),
    )
    max_in_flight: int = Field(
        default=5,
        ge=1,
        le=5,
        description="Unacknowledged produce requests per connection (idempotence allows 5).",
    )
    query_host: str = Field(
        default="127.0.0.1",
        description="Interface aggregation workers serve table queries on (loopback by default).",
    )
    query_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="Port of the table-query server; 0 picks a free one per worker.",
    )
    metrics_host: str = Field(
        default="127.0.0.1",
        description="Interface every process serves Prometheus /metrics on (loopback by default).",
    )
    metrics_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="Port of /metrics; 0 picks a free one per process (published with its stats).",
    )

    # -- security: how clients reach a cluster that is not open ------------------------------

    security_protocol: SecurityProtocol = Field(
        default="PLAINTEXT",
        description="PLAINTEXT, SSL (TLS), SASL_SSL (TLS plus a SASL login) or SASL_PLAINTEXT.",
    )
    ssl_cafile: Path | None = Field(
        default=None,
        description="PEM bundle of the CAs that sign the brokers' certificates (default: the "
        "system's trust store).",
    )
    ssl_certfile: Path | None = Field(
        default=None, description="PEM client certificate, for brokers that require mutual TLS."
    )
    ssl_keyfile: Path | None = Field(
        default=None, description="PEM private key of the client certificate."
    )
    ssl_key_password: SecretStr | None = Field(
        default=None, description="Password of the private key, if it is encrypted."
    )
    ssl_check_hostname: bool = Field(
        default=True,
        description="Check that the broker's certificate names the host connected to.",
    )
    sasl_mechanism: SaslMechanism | None = Field(
        default=None, description="SASL login: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512."
    )
    sasl_username: str | None = Field(default=None, description="SASL user name.")
    sasl_password: SecretStr | None = Field(
        default=None, description="SASL password (never shown in logs or reprs)."
    )
    sasl_users_file: Path | None = Field(
        default=None,
        description="JSON object of principal -> password (as `streamworks kafka up --secure` "
        "writes it): each stage worker and connector then logs in as its own principal "
        "(see streamworks acl) instead of sasl_username.",
    )
    allow_plaintext_sasl: bool = Field(
        default=False,
        description="Allow SASL_PLAINTEXT, whose login and data cross the network unencrypted "
        "(for a local test broker only).",
    )

    # -- the schema registry's own login ---------------------------------------------------

    registry_username: str | None = Field(
        default=None, description="User name for the registry's HTTP basic auth."
    )
    registry_password: SecretStr | None = Field(
        default=None, description="Password for the registry's HTTP basic auth."
    )
    registry_cafile: Path | None = Field(
        default=None,
        description="PEM bundle of the CAs that sign an https registry's certificate "
        "(default: the system's trust store).",
    )

    @model_validator(mode="after")
    def _security_is_coherent(self) -> Self:
        """Refuse settings that would fail at the first connection, or leak a password."""
        sasl = self.security_protocol.startswith("SASL")
        login = bool(self.sasl_username and self.sasl_password) or self.sasl_users_file is not None
        if sasl and not (self.sasl_mechanism and login):
            raise ValueError(
                f"security_protocol {self.security_protocol} needs sasl_mechanism, and "
                "sasl_username with sasl_password (or sasl_users_file)"
            )
        if not sasl and (
            self.sasl_mechanism or self.sasl_username or self.sasl_password or self.sasl_users_file
        ):
            raise ValueError(
                f"SASL settings are given but security_protocol is {self.security_protocol}; "
                "use SASL_SSL"
            )
        if self.security_protocol == "SASL_PLAINTEXT" and not self.allow_plaintext_sasl:
            raise ValueError(
                "SASL_PLAINTEXT sends the login and every record unencrypted; use SASL_SSL "
                "(or set allow_plaintext_sasl for a local test broker)"
            )
        if self.ssl_keyfile is not None and self.ssl_certfile is None:
            raise ValueError("ssl_keyfile is given without ssl_certfile")
        if (self.registry_username is None) != (self.registry_password is None):
            raise ValueError("registry_username and registry_password go together")
        return self

    def as_principal(self, principal: str) -> Settings:
        """These settings logging in as ``principal`` when a users file names it.

        Without ``sasl_users_file`` (or without SASL) the settings are returned unchanged:
        the process then logs in as ``sasl_username``, e.g. one Kubernetes secret per stage.
        """
        if self.sasl_users_file is None or not self.security_protocol.startswith("SASL"):
            return self
        try:
            users = json.loads(self.sasl_users_file.read_text())
        except (OSError, ValueError) as error:
            raise ConfigurationError(
                f"cannot read sasl_users_file {self.sasl_users_file}: {error}"
            ) from error
        if not isinstance(users, dict) or not isinstance(users.get(principal), str):
            raise ConfigurationError(
                f"sasl_users_file {self.sasl_users_file} has no password for principal "
                f"{principal}; create the user (streamworks acl users) or run it with "
                "sasl_username and sasl_password"
            )
        return self.model_copy(
            update={"sasl_username": principal, "sasl_password": SecretStr(users[principal])}
        )
