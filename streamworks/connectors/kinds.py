"""Every connector kind streamworks ships, by the ``kind`` a connector file names.

A project's own kind is named by reference instead: ``kind: package.module:ConfigClass``.
"""

from __future__ import annotations

from pathlib import Path

from streamworks.connectors.base.config import ConnectorConfig
from streamworks.connectors.base.loader import load_connectors
from streamworks.connectors.files import FileSourceConfig, JsonlSinkConfig
from streamworks.connectors.http import HttpSourceConfig
from streamworks.connectors.postgres import PostgresSinkConfig
from streamworks.connectors.webhook import WebhookSinkConfig

__all__ = ["KINDS", "load_file"]

KINDS: dict[str, type[ConnectorConfig]] = {
    "files": FileSourceConfig,
    "http": HttpSourceConfig,
    "jsonl": JsonlSinkConfig,
    "postgres": PostgresSinkConfig,
    "webhook": WebhookSinkConfig,
}
"""kind -> configuration model."""


def load_file(path: Path) -> list[ConnectorConfig]:
    """The connectors of a YAML file, validated against their kinds' models."""
    return load_connectors(path, KINDS)
