"""What a render is asked for: the image, the brokers, the namespace, the scaling target.

Both the renderer and the workloads it assembles read these, so they live below both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

__all__ = ["RenderOptions", "default_image"]


def default_image() -> str:
    """``streamworks/platform:<installed version>``."""
    try:
        return f"streamworks/platform:{version('streamworks')}"
    except PackageNotFoundError:
        return "streamworks/platform:latest"


@dataclass(frozen=True)
class RenderOptions:
    """Where the manifests point and how the pools scale."""

    namespace: str = "streamworks"
    """Namespace of every object."""
    image: str = field(default_factory=default_image)
    """The platform image every container runs."""
    bootstrap: str = "kafka:9092"
    """Kafka as seen from the cluster (the pods and KEDA)."""
    lag_threshold: int = 100
    """Records of lag per replica KEDA aims for."""
    ingest: Path | None = None
    """Single-replica connector file; default ``ingest.yaml`` beside the pipeline."""
    sinks: Path | None = None
    """Scalable sink file; default ``sinks.yaml`` beside the pipeline."""
