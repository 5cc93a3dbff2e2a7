"""Errors of the stream-processing runtime."""

from __future__ import annotations

from schemas.errors import StreamworksError

__all__ = ["ConfigurationError", "RetriableStageError", "StageError", "StreamworksError"]


class ConfigurationError(StreamworksError):
    """A setting is missing, malformed or unsafe; fix the configuration and start again."""


class StageError(StreamworksError):
    """A stage's function failed on a record; raised as the cause inside dead letters."""


class RetriableStageError(StageError):
    """Raise this from a stage function for a transient failure (an outside service is down).

    The runtime retries the record with backoff per the stage's retry policy, and dead-letters
    it only when the attempts run out.
    """

    retriable = True
