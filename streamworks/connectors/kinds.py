"""Every connector kind streamworks ships, by the short ``kind`` a connector file names.

Each kind's package registers its :class:`~streamworks.connectors.base.kind.Kind` (model and
connector); this table only gives the built-in ones their names. A project's own kind is
named by reference instead: ``kind: package.module:ConfigClass``, its package registering
the kind when it is imported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from streamworks.connectors.base.config import ConnectorConfig
from streamworks.connectors.base.kind import Kind
from streamworks.connectors.base.loader import load_connectors
from streamworks.connectors.files import FILES, JSONL
from streamworks.connectors.http import HTTP
from streamworks.connectors.postgres import POSTGRES
from streamworks.connectors.webhook import WEBHOOK

__all__ = ["KINDS", "load_file"]

KINDS: dict[str, Kind[Any]] = {
    "files": FILES,
    "http": HTTP,
    "jsonl": JSONL,
    "postgres": POSTGRES,
    "webhook": WEBHOOK,
}
"""kind -> its model and connector."""


def load_file(path: Path) -> list[ConnectorConfig]:
    """The connectors of a YAML file, validated against their kinds' models."""
    return load_connectors(path, KINDS)
