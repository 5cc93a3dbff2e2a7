"""Errors of topics as code: a bad topics file, a plan that cannot be applied."""

from __future__ import annotations

from streamworks.core.errors import StreamworksError

__all__ = ["TopicsApplyError", "TopicsError", "TopicsFileError"]


class TopicsError(StreamworksError):
    """Topics as code could not read, plan or apply the topics."""


class TopicsFileError(TopicsError):
    """The topics file is unreadable or invalid; the message names the file, line and key."""

    def __init__(self, message: str, *, path: str, line: int | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.line = line


class TopicsApplyError(TopicsError):
    """The cluster refused an action of the plan (the message names the topic and why)."""

    def __init__(self, message: str, *, topic: str, retriable: bool = False) -> None:
        super().__init__(message)
        self.topic = topic
        self.retriable = retriable
