"""Configuration of the PostgreSQL sink (``kind: postgres``)."""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from streamworks.connectors.base.config import SinkConfig

__all__ = ["URL_ENV", "PostgresSinkConfig"]

URL_ENV = "STREAMWORKS_POSTGRES_URL"
"""Environment variable giving the DSN when a sink's config has no ``url``."""

_PART = r"[A-Za-z_][A-Za-z0-9_]{0,62}"


class PostgresSinkConfig(SinkConfig):
    """Upserts a topic's records into a PostgreSQL table keyed by ``key``.

    Several ``topics`` may feed one table if their value schemas give the same columns
    (name and type); the table is created from them.
    """

    kind: Literal["postgres"] = "postgres"
    url: SecretStr = Field(
        description=f"DSN, postgresql://user:password@host:port/db; default ${URL_ENV}."
    )
    table: str = Field(
        pattern=rf"^{_PART}(\.{_PART})?$",
        description="Target table, optionally schema-qualified (sales.orders); used as written.",
    )
    key: list[str] = Field(
        min_length=1, description="Value fields forming the primary key; upserts replace by it."
    )
    create_table: bool = Field(
        default=True, description="Create the table (and its schema) from the Avro schema."
    )
    connect_timeout_s: float = Field(
        default=10.0, gt=0, description="Longest wait for a connection to the server."
    )

    @model_validator(mode="before")
    @classmethod
    def _url_from_environment(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("url") is None and os.environ.get(URL_ENV):
            return {**data, "url": os.environ[URL_ENV]}
        return data

    @field_validator("key")
    @classmethod
    def _distinct_key(cls, key: list[str]) -> list[str]:
        if len(set(key)) != len(key):
            raise ValueError("key names a field twice")
        return key
