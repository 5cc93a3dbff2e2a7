"""``streamworks status PIPELINE``: per stage workers, lag, throughput and the bottleneck."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from rich.console import Console
from rich.live import Live

from streamworks.core.settings import Settings
from streamworks.ops.cluster_options import Bootstrap, point_at
from streamworks.ops.project import load_pipeline
from streamworks.ops.status.collect import StatusCollector, collect_status
from streamworks.ops.status.render import status_table
from streamworks.pipeline.graph import Pipeline

__all__ = ["status"]

console = Console(soft_wrap=True)

# not streamworks.ops.run_commands' alias: the supervisor's autoscaler imports this package from
# there
PipelineRef = Annotated[
    str,
    typer.Argument(
        help="A pipeline named in the project (e.g. orders) or package.module:attribute."
    ),
]


def status(
    pipeline: PipelineRef,
    watch: Annotated[
        bool,
        typer.Option(
            "--watch", envvar="STREAMWORKS_STATUS_WATCH", help="Refresh live until Ctrl-C."
        ),
    ] = False,
    interval: Annotated[
        float,
        typer.Option(
            envvar="STREAMWORKS_STATUS_INTERVAL", min=0.5, help="Seconds between refreshes."
        ),
    ] = 2.0,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", envvar="STREAMWORKS_STATUS_JSON", help="Print one JSON document instead."
        ),
    ] = False,
    bootstrap: Bootstrap = None,
) -> None:
    """Per stage: workers, partitions, lag (records, seconds), records in and written (out)
    per second and in total, filtered, dead-lettered and late inputs; the bottleneck is the
    stage whose lag grows or is oldest.

    A stage's in = produced + filtered + dead-lettered; an aggregation's in = folded +
    filtered + dead-lettered + late (produced and folded are in --json)."""
    point_at(bootstrap)
    found = load_pipeline(pipeline)
    settings = Settings()
    if as_json:
        sampled = asyncio.run(collect_status(found, settings))
        typer.echo(json.dumps(sampled.as_data(), indent=2))
    elif watch:
        try:
            asyncio.run(_watch(found, settings, interval))
        except KeyboardInterrupt:
            pass
    else:
        console.print(status_table(asyncio.run(collect_status(found, settings))))


async def _watch(pipeline: Pipeline, settings: Settings, interval: float) -> None:
    async with StatusCollector(pipeline, settings) as collector:
        first = await collector.sample()
        with Live(status_table(first), console=console, auto_refresh=False) as live:
            while True:
                await asyncio.sleep(interval)
                live.update(status_table(await collector.sample()), refresh=True)
