"""Errors of the stream-processing runtime."""

from __future__ import annotations

from schemas.errors import StreamworksError

__all__ = ["ConfigurationError", "StreamworksError"]


class ConfigurationError(StreamworksError):
    """A setting is missing, malformed or unsafe; fix the configuration and start again."""
