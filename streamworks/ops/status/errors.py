"""Errors of ``streamworks status``: the cluster could not be read."""

from __future__ import annotations

from streamworks.core.errors import StreamworksError

__all__ = ["StatusError"]


class StatusError(StreamworksError):
    """Kafka could not be read for a pipeline's status; the message names the broker."""

    retriable = True

    def __init__(self, message: str, *, bootstrap: str) -> None:
        super().__init__(message)
        self.bootstrap = bootstrap
