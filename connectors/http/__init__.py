"""HTTP ingest: clients POST JSON or NDJSON records, answered once Kafka has them."""

from connectors.http.config import HttpSourceConfig
from connectors.http.source import HttpSource

__all__ = ["HttpSource", "HttpSourceConfig"]
