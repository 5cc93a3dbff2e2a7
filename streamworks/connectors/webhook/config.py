"""Configuration of the webhook sink."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator

from streamworks.connectors.base.config import SinkConfig

__all__ = ["WebhookSinkConfig"]


class WebhookSinkConfig(SinkConfig):
    """Topics POSTed as JSON arrays to an HTTP endpoint."""

    kind: Literal["webhook"] = "webhook"
    url: str = Field(description="The endpoint, http:// or https://.")
    headers: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="Extra request headers (Authorization...); values are never logged.",
    )
    timeout_s: float = Field(default=10.0, gt=0, description="Longest wait for one answer.")
    max_batch: int = Field(
        default=500, ge=1, le=100_000, description="Records per request at most."
    )
    idempotency_header: str | None = Field(
        default="Idempotency-Key",
        description="Header naming each request's records, so a receiver can drop a repeat; "
        "None sends none.",
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"expected an http:// or https:// URL with a host, got {url!r}")
        return url
