"""The one settings model of streamworks, read from ``STREAMWORKS_*`` variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Guarantee", "Settings"]

Guarantee = Literal["at-least-once", "exactly-once"]


class Settings(BaseSettings):
    """Where the platform finds Kafka and keeps its state, and how safely it writes.

    Every field can be set with an environment variable of the same name in upper case
    and the ``STREAMWORKS_`` prefix, e.g. ``STREAMWORKS_BOOTSTRAP_SERVERS``.
    """

    model_config = SettingsConfigDict(env_prefix="STREAMWORKS_", frozen=True, extra="ignore")

    bootstrap_servers: str = Field(
        default="127.0.0.1:9092",
        description="Comma-separated host:port list of Kafka brokers.",
    )
    registry_url: str = Field(
        default="http://127.0.0.1:8081", description="Schema registry the codec talks to."
    )
    client_id: str = Field(default="streamworks", description="Kafka client id prefix.")
    state_dir: Path = Field(
        default=Path(".cache/state"), description="Where workers keep RocksDB table state."
    )
    guarantee: Guarantee = Field(
        default="at-least-once", description="Processing guarantee of pipelines."
    )
    linger_ms: int = Field(
        default=5,
        ge=0,
        description="Milliseconds a producer waits to fill a batch (lower: latency).",
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
