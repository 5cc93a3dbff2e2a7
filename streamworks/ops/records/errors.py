"""Errors of ``streamworks produce`` and ``streamworks consume``."""

from __future__ import annotations

from streamworks.core.errors import StreamworksError

__all__ = ["RecordInputError", "RecordToolError"]


class RecordToolError(StreamworksError):
    """A topic cannot be written or read as asked; the message says which and what to do."""

    def __init__(self, message: str, *, topic: str) -> None:
        super().__init__(message)
        self.topic = topic
        """The topic the command was given."""


class RecordInputError(StreamworksError):
    """The records given to ``produce`` cannot be read at all (not one record per line)."""

    def __init__(self, message: str, *, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line
        """The line of the input where reading stopped, when one is to blame."""
