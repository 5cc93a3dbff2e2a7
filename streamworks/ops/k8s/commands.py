"""``streamworks k8s render PIPELINE``: write the pipeline's Kubernetes manifests."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from streamworks.ops.k8s.options import RenderOptions, default_image
from streamworks.ops.k8s.render import render, write
from streamworks.ops.project import current, load_pipeline
from streamworks.ops.tables import folded

__all__ = ["app"]

app = typer.Typer(
    help="Kubernetes manifests (Deployments, KEDA autoscaling).", no_args_is_help=True
)
console = Console()


@app.command("render")
def render_command(
    pipeline: Annotated[
        str, typer.Argument(help="Pipeline name in the project, or module:attribute.")
    ],
    *,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            envvar="STREAMWORKS_K8S_OUT",
            help="Folder [default: ops/k8s/<PIPELINE> in the project].",
        ),
    ] = None,
    image: Annotated[
        str | None,
        typer.Option(
            "--image",
            envvar="STREAMWORKS_PLATFORM_IMAGE",
            help="Platform image [default: streamworks/platform:<version>].",
        ),
    ] = None,
    namespace: Annotated[
        str, typer.Option("--namespace", envvar="STREAMWORKS_K8S_NAMESPACE", help="Namespace.")
    ] = "streamworks",
    bootstrap: Annotated[
        str,
        typer.Option(
            "--bootstrap",
            envvar="STREAMWORKS_K8S_BOOTSTRAP",
            help="Kafka brokers as the cluster's pods and KEDA reach them.",
        ),
    ] = "kafka:9092",
    lag_threshold: Annotated[
        int,
        typer.Option(
            "--lag-threshold",
            envvar="STREAMWORKS_K8S_LAG_THRESHOLD",
            min=1,
            help="Records of lag per replica KEDA scales for.",
        ),
    ] = 100,
) -> None:
    """Write PIPELINE's Namespace, settings, registry, stages, connectors and autoscaling.

    Apply with ``kubectl apply -f <out>`` after creating the Secret from
    ``<out>/templates/postgres-secret.yaml``; the ScaledObjects need KEDA in the cluster.
    """
    options = RenderOptions(
        namespace=namespace,
        image=image or default_image(),
        bootstrap=bootstrap,
        lag_threshold=lag_threshold,
    )
    files = render(load_pipeline(pipeline), pipeline, options, os.environ)
    project = current()
    folder = out or (project.root if project is not None else Path()) / "ops" / "k8s" / pipeline
    table = Table(title=f"{pipeline}: manifests in {folder}")
    table.add_column("file")
    table.add_column("objects")
    for path, objects in zip(write(files, folder), files.values(), strict=True):
        kinds = ", ".join(f"{o['kind']} {o['metadata']['name']}" for o in objects)
        table.add_row(str(path.relative_to(folder)), kinds)
    console.print(folded(table))
