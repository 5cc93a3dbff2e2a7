"""HTTP ingest: clients POST JSON or NDJSON records, answered once Kafka has them."""

from streamworks.connectors.base.kind import Kind, register_kind
from streamworks.connectors.http.config import HttpSourceConfig
from streamworks.connectors.http.source import HttpSource

__all__ = ["HTTP", "HttpSource", "HttpSourceConfig"]

HTTP = register_kind(Kind(HttpSourceConfig, HttpSource))
"""``kind: http``: the HTTP ingest source."""
