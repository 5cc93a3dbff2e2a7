"""HTTP ingest: clients POST JSON or NDJSON records, answered once Kafka has them."""

from streamworks.connectors.http.config import HttpSourceConfig
from streamworks.connectors.http.source import HttpSource

__all__ = ["HttpSource", "HttpSourceConfig"]
