"""Configuration of the HTTP ingest source."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import Field, SecretStr, model_validator

from streamworks.connectors.base.config import SourceConfig

__all__ = ["HOST_ENV", "HttpSourceConfig"]

_MIB = 1024 * 1024
HOST_ENV = "STREAMWORKS_HTTP_HOST"
"""The interface HTTP sources without a ``host`` listen on (a pod sets ``0.0.0.0``)."""


class HttpSourceConfig(SourceConfig):
    """An HTTP endpoint clients POST JSON or NDJSON records to, one topic per path.

    ``topic`` is the source's main topic (it must exist when the worker starts); clients may
    post to every topic in ``topics``, which defaults to ``[topic]`` alone.
    """

    kind: Literal["http"] = "http"
    host: str = Field(
        default_factory=lambda: os.environ.get(HOST_ENV, "127.0.0.1"),
        description=f"Interface to listen on; default ${HOST_ENV}, else 127.0.0.1 (loopback).",
    )
    port: int = Field(default=8088, ge=0, le=65_535, description="TCP port; 0 picks a free one.")
    topics: list[str] | None = Field(
        default=None,
        min_length=1,
        description="Topics clients may post to (POST /topics/{topic}); default: only `topic`.",
    )
    max_body_bytes: int = Field(
        default=10 * _MIB, ge=1, description="Largest request body; larger ones get 413."
    )
    max_record_bytes: int = Field(
        default=1_000_000,
        ge=1,
        description="Largest record (key, value and headers, encoded); larger ones get 413. "
        "The default stays under the broker's max.message.bytes default (1048588) with room "
        "for the batch overhead; raise both together.",
    )
    read_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="Longest wait for the next bytes of a request body (or for the rest of a "
        "new connection's first request head); past it, 408 and the connection is closed.",
    )
    max_pending: int = Field(
        default=50_000,
        ge=1,
        description="Records converted but not yet acknowledged by Kafka; past it, 429.",
    )
    retry_after_s: int = Field(
        default=1, ge=1, description="Retry-After (seconds) sent with 429 and 503 answers."
    )
    token: SecretStr | None = Field(
        default=None, description="When set, requests need `Authorization: Bearer <token>`."
    )

    @model_validator(mode="after")
    def _topic_is_allowed(self) -> HttpSourceConfig:
        if self.topics is not None and self.topic not in self.topics:
            raise ValueError(f"topic {self.topic!r} must be one of topics {self.topics}")
        return self

    @property
    def allowed_topics(self) -> tuple[str, ...]:
        """The topics clients may post to."""
        return tuple(self.topics) if self.topics is not None else (self.topic,)
