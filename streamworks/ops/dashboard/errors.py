"""Errors of the dashboard: it could not listen where it was told to."""

from __future__ import annotations

from streamworks.core.errors import StreamworksError

__all__ = ["DashboardError"]


class DashboardError(StreamworksError):
    """The dashboard could not listen on its address; the message names it."""

    def __init__(self, message: str, *, host: str, port: int) -> None:
        super().__init__(message)
        self.host = host
        self.port = port
