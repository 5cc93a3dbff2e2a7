"""``streamworks table get``: an aggregation's current value for a key, from its workers."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from streamworks.core.errors import StreamworksError
from streamworks.core.settings import Settings
from streamworks.ops.cluster_options import Bootstrap, point_at
from streamworks.ops.project import load_pipeline
from streamworks.ops.run_commands import PipelineRef
from streamworks.runtime.query import query_table

__all__ = ["app"]

app = typer.Typer(help="Read aggregation tables from their running workers.", no_args_is_help=True)
errors = Console(stderr=True, soft_wrap=True)


@app.command()
def get(
    pipeline: PipelineRef,
    stage: Annotated[str, typer.Argument(help="The aggregation stage whose table to read.")],
    key: Annotated[
        str, typer.Argument(help="The key, as the aggregation's key function gives it.")
    ],
    bootstrap: Bootstrap = None,
) -> None:
    """Print the key's current value as JSON; a live worker routes the query to its owner."""
    point_at(bootstrap)
    try:
        found = load_pipeline(pipeline)
        answer = asyncio.run(query_table(Settings(), found, stage, key))
    except StreamworksError as error:
        errors.print(f"[red]error:[/] {escape(str(error))}", highlight=False)
        raise typer.Exit(1) from None
    typer.echo(json.dumps(answer, indent=2))
