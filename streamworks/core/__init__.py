"""The lowest layer: the error root, the settings and the values every layer passes around."""

from streamworks.core.errors import (
    AuthenticationError,
    AuthorizationError,
    ConfigurationError,
    RetriableStageError,
    StageError,
    StreamworksError,
)
from streamworks.core.messages import Headers, InMessage, OutRecord
from streamworks.core.settings import Guarantee, Settings

__all__ = [
    "AuthenticationError",
    "AuthorizationError",
    "ConfigurationError",
    "Guarantee",
    "Headers",
    "InMessage",
    "OutRecord",
    "RetriableStageError",
    "Settings",
    "StageError",
    "StreamworksError",
]
