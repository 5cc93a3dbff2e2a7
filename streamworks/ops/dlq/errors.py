"""Errors of the dead-letter tools."""

from __future__ import annotations

from streamworks.core.errors import StreamworksError

__all__ = ["DeadLetterToolError"]


class DeadLetterToolError(StreamworksError):
    """A dead-letter topic cannot be found, read or replayed; the message says which and why."""

    def __init__(self, message: str, *, topic: str) -> None:
        super().__init__(message)
        self.topic = topic
