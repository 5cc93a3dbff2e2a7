"""The connector contracts: a source runs and remembers positions, a sink writes and flushes.

A :class:`Kind` pairs a configuration model with the connector it builds.
"""

from streamworks.connectors.base.config import (
    ConnectorConfig,
    RetryConfig,
    SinkConfig,
    SourceConfig,
)
from streamworks.connectors.base.errors import (
    ConnectorConfigError,
    ConnectorError,
    ConversionError,
    RejectedError,
    TransientError,
)
from streamworks.connectors.base.kind import Kind, kind_of, register_kind
from streamworks.connectors.base.records import Position, SinkRecord, SourceRecord
from streamworks.connectors.base.sink import Sink, SinkContext
from streamworks.connectors.base.source import Sent, Source, SourceContext

__all__ = [
    "ConnectorConfig",
    "ConnectorConfigError",
    "ConnectorError",
    "ConversionError",
    "Kind",
    "Position",
    "RejectedError",
    "RetryConfig",
    "Sent",
    "Sink",
    "SinkConfig",
    "SinkContext",
    "SinkRecord",
    "Source",
    "SourceConfig",
    "SourceContext",
    "SourceRecord",
    "TransientError",
    "kind_of",
    "register_kind",
]
