"""``streamworks dashboard PIPELINE``: the live dashboard, until Ctrl-C."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from streamworks.connectors.kinds import load_file
from streamworks.core.settings import Settings
from streamworks.ops.cluster_options import Bootstrap, Registry, point_at
from streamworks.ops.dashboard.serve import start_dashboard
from streamworks.ops.project import load_pipeline

__all__ = ["dashboard"]


def dashboard(
    pipeline: Annotated[
        str,
        typer.Argument(
            help="A pipeline named in the project (e.g. orders) or package.module:attribute."
        ),
    ],
    *,
    connectors: Annotated[
        list[Path] | None,
        typer.Option(
            "--connectors",
            envvar="STREAMWORKS_DASHBOARD_CONNECTORS",
            help="Connector YAML files whose sources and sinks to draw (repeatable).",
        ),
    ] = None,
    host: Annotated[
        str, typer.Option(envvar="STREAMWORKS_DASHBOARD_HOST", help="Address to listen on.")
    ] = "127.0.0.1",
    port: Annotated[
        int,
        typer.Option(
            envvar="STREAMWORKS_DASHBOARD_PORT", min=0, max=65535, help="Port (0: a free one)."
        ),
    ] = 8089,
    bootstrap: Bootstrap = None,
    registry: Registry = None,
) -> None:
    """Serve a web page drawing the pipeline with live lag, throughput, dead letters and the
    bottleneck per stage; prints its address and serves until Ctrl-C."""
    point_at(bootstrap, registry)
    found = load_pipeline(pipeline)
    configs = [config for path in connectors or [] for config in load_file(path)]
    settings = Settings()

    async def serve() -> None:
        running = await start_dashboard(found, settings, connectors=configs, host=host, port=port)
        typer.echo(f"dashboard of {found.name} at {running.url}  (Ctrl-C stops it)")
        try:
            await asyncio.Event().wait()
        finally:
            await running.stop()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass
