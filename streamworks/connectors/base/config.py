"""The configuration every connector shares; each connector kind extends one of these.

A connector's model subclasses :class:`SourceConfig` or :class:`SinkConfig` and fixes
``kind`` to a ``Literal``. It only describes: the connector imports its model, never the
reverse, and a :class:`~streamworks.connectors.base.kind.Kind` pairs the two. Models are
frozen and reject unknown keys, so a typo in a YAML file is an error that names the key,
not a silently ignored setting.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from streamworks.core.settings import Guarantee

__all__ = ["ConnectorConfig", "RetryConfig", "SinkConfig", "SourceConfig"]

_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"


class RetryConfig(BaseModel):
    """Backoff for transient failures: ``initial_s`` doubling up to ``max_s``, with jitter."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    initial_s: float = Field(default=0.2, gt=0, description="First wait after a failure.")
    max_s: float = Field(default=30.0, gt=0, description="Longest wait between attempts.")
    attempts: int | None = Field(
        default=None,
        ge=1,
        description="Give up (and stop the connector) after this many; None retries forever.",
    )


class ConnectorConfig(BaseModel):
    """Fields of every connector."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=_NAME, description="Unique name; keys positions, group, DLQ.")
    kind: str = Field(description="Which connector: http, files, generator, postgres, ...")
    dead_letter_topic: str | None = Field(
        default=None, description="Where unconvertible records go; default connect.<name>.dlq."
    )
    retry: RetryConfig = Field(default_factory=RetryConfig)

    @property
    def dlq_topic(self) -> str:
        """The dead-letter topic of this connector."""
        return self.dead_letter_topic or f"connect.{self.name}.dlq"

    @property
    def principal(self) -> str:
        """The Kafka user this connector logs in as with a users file (see streamworks acl)."""
        return f"connect-{self.name}"


class SourceConfig(ConnectorConfig):
    """A source: where its records go and how safely."""

    topic: str = Field(description="Topic the records are produced to.")
    key_field: str | None = Field(
        default=None, description="Value field whose text becomes the record key."
    )
    guarantee: Guarantee = Field(
        default="at-least-once",
        description="exactly-once writes records and position in one transaction.",
    )


class SinkConfig(ConnectorConfig):
    """A sink: which topics it reads, as which group, in what batches."""

    topics: list[str] = Field(min_length=1, description="Topics the sink reads.")
    group: str | None = Field(
        default=None, description="Consumer group; default connect-<name>. Workers share it."
    )
    batch_size: int = Field(default=1_000, ge=1, le=100_000, description="Records per write.")
    batch_wait_ms: int = Field(
        default=200, ge=0, description="Longest wait to fill a batch before writing it."
    )

    @property
    def group_id(self) -> str:
        """The consumer group of this sink's workers."""
        return self.group or f"connect-{self.name}"
