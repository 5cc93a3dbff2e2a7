"""The connector contracts: a source runs and remembers positions, a sink writes and flushes."""

from connectors.base.config import ConnectorConfig, RetryConfig, SinkConfig, SourceConfig
from connectors.base.errors import (
    ConnectorConfigError,
    ConnectorError,
    ConversionError,
    RejectedError,
    TransientError,
)
from connectors.base.records import Position, SinkRecord, SourceRecord
from connectors.base.sink import Sink, SinkContext
from connectors.base.source import Sent, Source, SourceContext

__all__ = [
    "ConnectorConfig",
    "ConnectorConfigError",
    "ConnectorError",
    "ConversionError",
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
]
