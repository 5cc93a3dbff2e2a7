"""Errors of connectors: configuration, conversion, rejection and transient failures.

The runtime decides what to do from the class, never from the message:

- :class:`ConversionError` and :class:`RejectedError` are about one record (or one batch):
  the record goes to the connector's dead-letter topic and the connector goes on;
- :class:`TransientError` (``retriable``) means the outside system is unavailable for now:
  the same work is retried with backoff and nothing is committed meanwhile;
- :class:`ConnectorConfigError` stops the worker before it starts, naming the bad key.
"""

from __future__ import annotations

from collections.abc import Sequence

from streamworks.connectors.base.records import SinkRecord
from streamworks.core.errors import ConfigurationError, StreamworksError

__all__ = [
    "ConnectorConfigError",
    "ConnectorError",
    "ConversionError",
    "ProduceError",
    "RejectedError",
    "TransientError",
]


class ConnectorError(StreamworksError):
    """Base of the errors connectors raise on purpose."""


class ConnectorConfigError(ConnectorError, ConfigurationError):
    """A connector file is malformed; the message names the file, line and key."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.line = line


class ConversionError(ConnectorError):
    """A record cannot be converted to (or from) its topic's schema; it is dead-lettered.

    ``field`` names the offending field when one is to blame; ``location`` says where the
    record came from (``orders.csv line 12``, ``request record 3``).
    """

    def __init__(self, message: str, *, field: str | None = None, location: str = "") -> None:
        super().__init__(message)
        self.field = field
        self.location = location


class RejectedError(ConnectorError):
    """The outside system refused records for good (a webhook's 4xx); they are dead-lettered.

    ``records`` names the refused records of the batch; None means the whole batch.
    """

    def __init__(self, message: str, *, records: Sequence[SinkRecord] | None = None) -> None:
        super().__init__(message)
        self.records = records


class TransientError(ConnectorError):
    """The outside system is unavailable for now (connection refused, 5xx, timeout).

    ``retry_after`` is the wait the outside system asked for (a Retry-After header), if any.
    """

    retriable = True

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ProduceError(TransientError):
    """Kafka did not acknowledge a source's records in time; the source may try again."""
