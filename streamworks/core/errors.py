"""The error root of streamworks, and the errors every layer shares.

Each subsystem derives its own errors (in its ``errors.py``) from :class:`StreamworksError`.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "AuthorizationError",
    "ConfigurationError",
    "RetriableStageError",
    "StageError",
    "StreamworksError",
]


class StreamworksError(Exception):
    """Base of every error streamworks raises on purpose.

    ``retriable`` says whether trying the same thing again later may succeed (a broker or
    registry that is down) or not (bad bytes, a bad configuration). The runtime decides
    retry-or-dead-letter from this flag, never from the message.
    """

    retriable: bool = False


class ConfigurationError(StreamworksError):
    """A setting is missing, malformed or unsafe; fix the configuration and start again."""


class AuthenticationError(ConfigurationError):
    """The cluster refused the login, or TLS could not be set up (an untrusted or expired
    certificate, a listener that does not speak TLS). Retrying cannot help."""


class AuthorizationError(ConfigurationError):
    """A principal lacks a permission: ``principal`` may not ``operation`` ``resource``."""

    def __init__(self, principal: str, operation: str, resource: str, hint: str = "") -> None:
        super().__init__(
            f"{principal} may not {operation} {resource}" + (f"; {hint}" if hint else "")
        )
        self.principal = principal
        self.operation = operation
        self.resource = resource


class StageError(StreamworksError):
    """A stage's function failed on a record; raised as the cause inside dead letters."""


class RetriableStageError(StageError):
    """Raise this from a stage function for a transient failure (an outside service is down).

    The runtime retries the record with backoff per the stage's retry policy, and dead-letters
    it only when the attempts run out.
    """

    retriable = True
