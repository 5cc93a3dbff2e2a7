"""``streamworks connect FILE.yaml``: run connectors as one worker until SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path
from typing import Annotated

import typer
import uvloop
from rich.console import Console
from rich.table import Table

from streamworks.connectors import ConnectorCounts, ConnectWorker, load_file
from streamworks.core.settings import Settings
from streamworks.ops.cluster_options import Bootstrap, Registry, point_at
from streamworks.ops.tables import folded

__all__ = ["connect"]

console = Console()


def connect(
    files: Annotated[
        list[Path], typer.Argument(help="Connector files (YAML); all run in this worker.")
    ],
    check: Annotated[
        bool, typer.Option("--check", help="Validate the files, list the connectors, exit.")
    ] = False,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            envvar="STREAMWORKS_METRICS_PORT",
            min=0,
            max=65535,
            help="Port of this worker's Prometheus /metrics (0: a free one, logged).",
        ),
    ] = None,
    bootstrap: Bootstrap = None,
    registry: Registry = None,
) -> None:
    """Run the connectors of FILES as one worker; SIGTERM drains and commits, then exits.

    Start the same file in several workers and each sink's partitions are shared between
    them (they form one consumer group per sink).
    """
    point_at(bootstrap, registry)
    configs = [config for path in files for config in load_file(path)]
    if check:
        table = Table(title="connectors (valid)")
        for column in ("connector", "kind", "reads or writes", "dead letters"):
            table.add_column(column)
        for c in configs:
            topics = getattr(c, "topics", None) or [getattr(c, "topic", "")]
            table.add_row(c.name, c.kind, ", ".join(topics), c.dlq_topic)
        console.print(folded(table))
        return
    logging.getLogger("streamworks.connectors").setLevel(logging.INFO)
    settings = Settings()
    if metrics_port is not None:
        settings = settings.model_copy(update={"metrics_port": metrics_port})
    worker = ConnectWorker(configs, settings)
    names = ", ".join(f"{c.name} ({c.kind})" for c in configs)
    console.print(f"connect: running {names}")
    counts = uvloop.run(_run(worker))
    _print(counts)


async def _run(worker: ConnectWorker) -> list[ConnectorCounts]:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, worker.drain)
    return await worker.run()


def _print(counts: list[ConnectorCounts]) -> None:
    table = Table(title="connectors stopped")
    for column in ("connector", "kind", "records", "dead-lettered"):
        table.add_column(column, justify="right")
    for c in counts:
        table.add_row(c.name, c.kind, f"{c.records:,}", f"{c.dead_lettered:,}")
    console.print(folded(table))
