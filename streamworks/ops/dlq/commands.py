"""``streamworks dlq inspect|replay``: what is in a dead-letter topic, and putting it back."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn
from rich.table import Table
from rich.text import Text

from streamworks.core.settings import Settings
from streamworks.ops.cluster_options import Bootstrap, point_at
from streamworks.ops.dlq.letters import ErrorGroup
from streamworks.ops.dlq.reading import dlq_topic
from streamworks.ops.dlq.replay import replay
from streamworks.ops.dlq.sorting import ReplayReport
from streamworks.ops.dlq.summary import groups_json, summarise
from streamworks.ops.tables import folded

__all__ = ["app"]

app = typer.Typer(
    help="Inspect dead letters grouped by error, and replay them after a fix.",
    no_args_is_help=True,
)
console = Console(soft_wrap=True)

PipelineArg = Annotated[
    str | None,
    typer.Argument(
        help="A pipeline named in the project (e.g. orders) or package.module:attribute."
    ),
]
StageArg = Annotated[str | None, typer.Argument(help="The stage whose dead letters to use.")]
TopicOpt = Annotated[
    str | None,
    typer.Option(
        envvar="STREAMWORKS_DLQ_TOPIC",
        help="Any dead-letter topic instead (e.g. a connector's connect.<name>.dlq).",
    ),
]


def _time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S") if ms else "-"


@app.command()
def inspect(
    pipeline: PipelineArg = None,
    stage: StageArg = None,
    *,
    topic: TopicOpt = None,
    samples: Annotated[
        int,
        typer.Option(envvar="STREAMWORKS_DLQ_SAMPLES", min=0, help="Sample letters per group."),
    ] = 3,
    as_json: Annotated[
        bool, typer.Option("--json", envvar="STREAMWORKS_DLQ_JSON", help="Print JSON.")
    ] = False,
    bootstrap: Bootstrap = None,
) -> None:
    """Group a stage's dead letters by error: counts, first and last time, origins, samples."""
    point_at(bootstrap)
    name = dlq_topic(pipeline, stage, topic)
    groups = asyncio.run(summarise(Settings(), name, samples))
    if as_json:
        typer.echo(json.dumps(groups_json(name, groups), indent=2))
        return
    _print_groups(name, groups)


def _print_groups(name: str, groups: list[ErrorGroup]) -> None:
    total = sum(g.count for g in groups)
    summary = Table(title=f"{name}: {total} dead letter(s)")
    for column in ("#", "error", "message", "count", "first", "last", "origins"):
        summary.add_column(column, justify="right" if column in ("#", "count") else "left")
    for number, g in enumerate(groups, 1):
        origins = ", ".join(f"{t} ({n})" for t, n in sorted(g.origins.items()))
        cells = (g.error_class, g.pattern, str(g.count), _time(g.first_ms), _time(g.last_ms))
        summary.add_row(str(number), *map(Text, cells), Text(origins))
    console.print(folded(summary))
    samples = Table(title="samples")
    for column in ("#", "dlq partition@offset", "key", "origin", "message"):
        samples.add_column(column)
    for number, g in enumerate(groups, 1):
        for s in g.samples:
            key = s.key.decode(errors="replace") if s.key is not None else "-"
            origin = f"{s.origin_topic or '?'}[{s.origin_partition}]@{s.origin_offset}"
            where = f"{s.partition}@{s.offset}"
            samples.add_row(str(number), *map(Text, (where, key, origin, s.message)))
    if samples.row_count:
        console.print(folded(samples))


@app.command("replay")
def replay_command(
    pipeline: PipelineArg = None,
    stage: StageArg = None,
    *,
    topic: TopicOpt = None,
    error: Annotated[
        str | None,
        typer.Option(
            envvar="STREAMWORKS_DLQ_ERROR",
            help="Replay only this error class (qualified, or its last part).",
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(envvar="STREAMWORKS_DLQ_DRY_RUN", help="Count what would be replayed."),
    ] = False,
    limit: Annotated[
        int | None,
        typer.Option(envvar="STREAMWORKS_DLQ_LIMIT", min=1, help="Replay at most N letters."),
    ] = None,
    batch: Annotated[
        int,
        typer.Option(
            envvar="STREAMWORKS_DLQ_BATCH", min=1, help="Dead letters per transaction at most."
        ),
    ] = 500,
    bootstrap: Bootstrap = None,
) -> None:
    """Put dead letters back in their origin topic, with replay headers; never one twice."""
    point_at(bootstrap)
    name = dlq_topic(pipeline, stage, topic)
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), console=console, transient=True
    ) as progress:
        task = progress.add_task(f"replaying {name}: 0", total=None)
        sent = 0

        def advance(count: int) -> None:
            nonlocal sent
            sent += count
            progress.update(task, description=f"replaying {name}: {sent}")

        report = asyncio.run(
            replay(
                Settings(),
                name,
                error=error,
                dry_run=dry_run,
                limit=limit,
                batch=batch,
                on_batch=advance,
            )
        )
    _print_report(name, report, dry_run)


def _print_report(name: str, report: ReplayReport, dry_run: bool) -> None:
    table = Table(title=f"{name}: {'dry run' if dry_run else 'replay'}")
    table.add_column("dead letters")
    table.add_column("count", justify="right")
    table.add_row("would be replayed" if dry_run else "replayed", str(report.replayed))
    table.add_row("skipped: already replayed", str(report.already_replayed))
    table.add_row("skipped: other error class", str(report.filtered))
    table.add_row("skipped: no origin topic", str(report.no_origin))
    console.print(table)
    for origin, count in sorted(report.missing_origins.items()):
        console.print(
            f"[yellow]not replayed:[/] {count} letter(s) for {origin}, which does not exist; "
            "create it and replay again",
            highlight=False,
        )
