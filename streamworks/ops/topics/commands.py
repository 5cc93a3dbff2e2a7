"""``streamworks topics plan|apply``: the pipeline's topics as code, against the live cluster.

``plan`` exits 0 when the cluster is in sync, 2 when changes are pending and 1 on errors or
refusals (like ``terraform plan -detailed-exitcode``), so scripts can tell them apart.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from streamworks.core.errors import StreamworksError
from streamworks.core.settings import Settings
from streamworks.ops.cluster_options import Bootstrap, point_at
from streamworks.ops.project import current, load_pipeline
from streamworks.ops.run_commands import PipelineRef
from streamworks.ops.tables import folded
from streamworks.ops.topics.desired import desired_topics
from streamworks.ops.topics.errors import TopicsError
from streamworks.ops.topics.file import TopicsFile, load_topics_file
from streamworks.ops.topics.live import apply_plan, read_live
from streamworks.ops.topics.model import Plan
from streamworks.ops.topics.planner import plan as make_plan

__all__ = ["EXIT_CHANGES", "EXIT_IN_SYNC", "EXIT_PROBLEM", "app", "current_plan"]

EXIT_IN_SYNC, EXIT_PROBLEM, EXIT_CHANGES = 0, 1, 2
_SETTLE_SECONDS = 15.0  # how long apply waits for the brokers' metadata to show its changes

app = typer.Typer(
    help="Topics as code: plan and apply a pipeline's topics on the cluster.",
    no_args_is_help=True,
)
console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)

FileOption = Annotated[
    Path | None,
    typer.Option(
        "--file",
        envvar="STREAMWORKS_TOPICS_FILE",
        help="Topics file laid over the pipeline's topics [default: the project's topics file].",
    ),
]
PruneOption = Annotated[
    bool,
    typer.Option(
        "--prune",
        envvar="STREAMWORKS_TOPICS_PRUNE",
        help="Also delete live topics named <pipeline>.* that nothing declares.",
    ),
]


def current_plan(pipeline: str, file: Path | None, *, prune: bool, settings: Settings) -> Plan:
    """Load the pipeline and the file, read the cluster, and plan."""
    found = load_pipeline(pipeline)
    found.validate()  # a pipeline that cannot run should not get topics planned for it
    project = current()
    path = file or (project.topics if project is not None else None)
    topics_file = load_topics_file(path) if path is not None else TopicsFile()
    desired = desired_topics(found, topics_file, path=path or "no topics file")
    prefixes = (f"{found.name}.",) if prune else ()
    live = asyncio.run(read_live(settings, desired, prefixes))
    return make_plan(desired, live, prune_prefixes=prefixes)


def show(plan: Plan) -> None:
    """The plan as a table (or "no changes"), refusals after it in red."""
    if plan.in_sync:
        console.print("[green]no changes[/]: the topics match the cluster")
        return
    if plan.actions:
        table = Table("action", "topic", "change", title="topics plan")
        for action in plan.actions:
            style = {"create": "green", "delete": "red"}.get(action.kind, "yellow")
            table.add_row(f"[{style}]{action.kind}[/]", action.topic, action.detail)
        console.print(folded(table))
    for refusal in plan.refusals:
        errors.print(f"[red]refused[/] {refusal.topic}: {refusal.reason}", highlight=False)


@app.command("plan")
def plan_command(
    pipeline: PipelineRef,
    file: FileOption = None,
    prune: PruneOption = False,
    bootstrap: Bootstrap = None,
) -> None:
    """Print what apply would change; exit 0 in sync, 2 with changes pending, 1 on problems."""
    point_at(bootstrap)
    try:
        found = current_plan(pipeline, file, prune=prune, settings=Settings())
    except StreamworksError as error:
        errors.print(f"[red]error:[/] {escape(str(error))}", highlight=False)
        raise typer.Exit(EXIT_PROBLEM) from None
    show(found)
    if found.refusals:
        raise typer.Exit(EXIT_PROBLEM)
    raise typer.Exit(EXIT_CHANGES if found.actions else EXIT_IN_SYNC)


@app.command("apply")
def apply_command(
    pipeline: PipelineRef,
    file: FileOption = None,
    prune: PruneOption = False,
    yes: Annotated[
        bool,
        typer.Option("--yes", envvar="STREAMWORKS_TOPICS_YES", help="Apply without asking."),
    ] = False,
    bootstrap: Bootstrap = None,
) -> None:
    """Create topics, add partitions and alter configs (delete only with --prune), then check."""
    point_at(bootstrap)
    settings = Settings()
    try:
        found = current_plan(pipeline, file, prune=prune, settings=settings)
        show(found)
        if found.refusals:
            raise TopicsError("nothing was applied: resolve the refusals above first")
        if found.in_sync:
            return
        if not yes and not typer.confirm("apply these changes?"):
            raise typer.Exit(EXIT_PROBLEM)
        done = asyncio.run(apply_plan(settings, found))
        console.print(f"applied {len(done)} change(s)")
        _confirm_in_sync(pipeline, file, prune=prune, settings=settings)
    except StreamworksError as error:
        errors.print(f"[red]error:[/] {escape(str(error))}", highlight=False)
        raise typer.Exit(EXIT_PROBLEM) from None


def _confirm_in_sync(pipeline: str, file: Path | None, *, prune: bool, settings: Settings) -> None:
    """Plan again until the brokers' metadata shows every change, or give up at a deadline."""
    deadline = time.monotonic() + _SETTLE_SECONDS
    while True:
        again = current_plan(pipeline, file, prune=prune, settings=settings)
        if again.in_sync:
            console.print("[green]in sync[/]")
            return
        if time.monotonic() > deadline:
            show(again)
            raise TopicsError(
                f"after apply the cluster still differs from the desired topics "
                f"({len(again.actions)} change(s) pending after {_SETTLE_SECONDS:.0f} s)"
            )
        time.sleep(0.5)
