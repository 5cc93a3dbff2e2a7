"""Kubernetes manifests for a pipeline: Deployments, KEDA ScaledObjects, config and secrets."""

from __future__ import annotations

from streamworks.ops.k8s.commands import app
from streamworks.ops.k8s.options import RenderOptions, default_image
from streamworks.ops.k8s.render import dump, render, write

__all__ = ["RenderOptions", "app", "default_image", "dump", "render", "write"]
