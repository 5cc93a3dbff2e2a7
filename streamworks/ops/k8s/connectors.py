"""The connector workers of a pipeline on Kubernetes: one ingest pod, a scalable sink pool.

The ingest file's sources own ports and inboxes, so it runs as exactly one replica behind a
Service; the sinks file's connectors are consumer groups (``connect-<name>``), so its pool
scales on their lag like a stage. Each file is mounted from a ConfigMap; ``${VAR}``
references in it are resolved in the pod, from the settings ConfigMap and the Secret.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from streamworks.connectors.base.config import ConnectorConfig, SinkConfig
from streamworks.connectors.base.kind import Kind
from streamworks.connectors.base.loader import load_connectors
from streamworks.connectors.http import HttpSourceConfig
from streamworks.connectors.kinds import KINDS
from streamworks.connectors.postgres import PostgresSinkConfig
from streamworks.ops.project import current

__all__ = ["ConnectorFile", "connector_files", "read_connectors"]

MOUNT = "/etc/streamworks/connectors"
"""Where a connector file's ConfigMap is mounted."""


class _RenderPostgres(PostgresSinkConfig):
    """The postgres sink as the renderer reads it: the DSN is a runtime secret, not needed."""

    url: SecretStr = SecretStr("postgresql://set-in-the-secret")


_KINDS: dict[str, Kind[Any]] = {
    **KINDS,
    "postgres": replace(KINDS["postgres"], config=_RenderPostgres),
}


@dataclass(frozen=True)
class ConnectorFile:
    """A connector file and what the renderer needs to know of it."""

    path: Path
    """The YAML file."""
    configs: list[ConnectorConfig]
    """Its connectors, as loaded with the rendering environment."""

    @property
    def http_ports(self) -> dict[str, int]:
        """Ports of its HTTP sources by port name (``http``, ``http-2``, ...)."""
        ports = [c.port for c in self.configs if isinstance(c, HttpSourceConfig)]
        return {("http" if i == 0 else f"http-{i + 1}"): port for i, port in enumerate(ports)}

    @property
    def sinks(self) -> list[SinkConfig]:
        """Its sinks (each one consumer group)."""
        return [c for c in self.configs if isinstance(c, SinkConfig)]

    @property
    def mounted(self) -> str:
        """The file's path inside the pod."""
        return f"{MOUNT}/{self.path.name}"


def read_connectors(path: Path) -> ConnectorFile:
    """Load ``path`` with the real loader (``${VAR:-default}`` from this environment)."""
    return ConnectorFile(path, load_connectors(path, _KINDS))


def connector_files(reference: str) -> tuple[Path | None, Path | None]:
    """The project's ``connectors/ingest.yaml`` and ``connectors/sinks.yaml``, where they exist.

    Outside a project, the files beside the pipeline's module.
    """
    project = current()
    if project is not None:
        folder = project.root / "connectors"
    else:
        spec = importlib.util.find_spec(reference.partition(":")[0])
        if spec is None or spec.origin is None:
            return None, None
        folder = Path(spec.origin).parent
    ingest, sinks = folder / "ingest.yaml", folder / "sinks.yaml"
    return (ingest if ingest.is_file() else None, sinks if sinks.is_file() else None)
