"""Every connector kind streamworks ships, by the ``kind`` a connector file names."""

from __future__ import annotations

from pathlib import Path

from connectors.base.config import ConnectorConfig
from connectors.base.loader import load_connectors
from connectors.files import FileSourceConfig, JsonlSinkConfig
from connectors.generator import GeneratorConfig
from connectors.http import HttpSourceConfig
from connectors.postgres import PostgresSinkConfig
from connectors.webhook import WebhookSinkConfig

__all__ = ["KINDS", "load_file"]

KINDS: dict[str, type[ConnectorConfig]] = {
    "files": FileSourceConfig,
    "generator": GeneratorConfig,
    "http": HttpSourceConfig,
    "jsonl": JsonlSinkConfig,
    "postgres": PostgresSinkConfig,
    "webhook": WebhookSinkConfig,
}
"""kind -> configuration model."""


def load_file(path: Path) -> list[ConnectorConfig]:
    """The connectors of a YAML file, validated against their kinds' models."""
    return load_connectors(path, KINDS)
