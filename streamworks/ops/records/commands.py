"""``streamworks produce TOPIC [FILE]`` and ``streamworks consume TOPIC``.

``produce`` exits 0 when every record was produced, or with ``--skip-bad`` once the good
ones are (the rejects still listed), and 1 when a reject stopped it (nothing produced)
or an error did. ``consume`` exits 0 when it is done or stopped with Ctrl-C, 1 on an
error.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress

from streamworks.connectors.base.convert import UnknownTopicError
from streamworks.core.settings import Settings
from streamworks.ops.cluster_options import Bootstrap, Registry, point_at
from streamworks.ops.records.consume import Start, consume_records, parse_start
from streamworks.ops.records.contracts import declared_topic, origin_names
from streamworks.ops.records.errors import RecordInputError, RecordToolError
from streamworks.ops.records.input import read_records
from streamworks.ops.records.produce import ProduceReport, produce_records
from streamworks.ops.records.render import RecordRenderer

__all__ = ["consume", "produce"]

errors = Console(stderr=True, soft_wrap=True, highlight=False)

TopicArg = Annotated[str, typer.Argument(help="The topic.")]


def produce(
    topic: TopicArg,
    file: Annotated[
        str,
        typer.Argument(help="NDJSON (one object a line) or one JSON array; - for stdin."),
    ] = "-",
    *,
    key: Annotated[
        str | None,
        typer.Option(
            envvar="STREAMWORKS_PRODUCE_KEY",
            metavar="FIELD",
            help="Key each record by this field's value (as text); no key without it.",
        ),
    ] = None,
    pipeline: Annotated[
        str | None,
        typer.Option(
            envvar="STREAMWORKS_PRODUCE_PIPELINE",
            help="The pipeline whose record class is the topic's contract (a name of the "
            "project, or module:attribute); by default the project's pipeline that declares "
            "the topic, else the registry's latest schema of <TOPIC>-value.",
        ),
    ] = None,
    skip_bad: Annotated[
        bool,
        typer.Option(
            envvar="STREAMWORKS_PRODUCE_SKIP_BAD",
            help="Produce the good records when some are rejected (exit 0) instead of none "
            "(exit 1).",
        ),
    ] = False,
    bootstrap: Bootstrap = None,
    registry: Registry = None,
) -> None:
    """Check JSON records against TOPIC's contract and produce them (all, or none).

    Each record is checked against the topic's record class (from the project's pipeline)
    or its registered schema, and encoded as the runtime does: Avro in the registry's wire
    format, or JSON for a JSON topic. Rejects are listed by line.
    """
    point_at(bootstrap, registry)
    text = _read_input(file)
    records, rejects = read_records(text)
    spec = declared_topic(topic, pipeline)
    with Progress(console=errors, transient=True, disable=not errors.is_terminal) as progress:
        task = progress.add_task(f"producing to {topic}", total=None)
        try:
            report = asyncio.run(
                produce_records(
                    Settings(),
                    topic,
                    records,
                    spec=spec,
                    key_field=key,
                    rejects=rejects,
                    skip_bad=skip_bad,
                    on_sent=lambda sent: progress.update(task, advance=sent),
                )
            )
        except UnknownTopicError as error:
            if spec is not None:
                raise
            # no pipeline of the project declares it: one outside it may
            raise RecordToolError(
                f"{error}, or name the pipeline that declares it "
                "(--pipeline package.module:attribute)",
                topic=topic,
            ) from None
    _report(topic, report, skip_bad)


def _read_input(file: str) -> str:
    if file == "-":
        return sys.stdin.read()
    try:
        return Path(file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise RecordInputError(f"cannot read {file}: {error}") from error


def _report(topic: str, report: ProduceReport, skip_bad: bool) -> None:
    for reject in report.rejects:
        errors.print(f"[red]rejected[/] {escape(str(reject))}")
    if report.rejects and not skip_bad:
        errors.print(
            f"[red]error:[/] {len(report.rejects)} record(s) rejected, nothing produced to "
            f"{escape(topic)}; fix them, or give --skip-bad to produce the others"
        )
        raise typer.Exit(1)
    typer.echo(f"produced {report.produced} records to {topic}")
    if report.rejects:
        errors.print(f"[yellow]skipped {len(report.rejects)} rejected record(s)[/]")


def consume(
    topic: TopicArg,
    *,
    start: Annotated[
        str,
        typer.Option(
            "--from",
            envvar="STREAMWORKS_CONSUME_FROM",
            help="beginning, end (only new records: waits as --follow), an offset (in "
            "every partition read) or an ISO 8601 time (UTC unless it says).",
        ),
    ] = "beginning",
    count: Annotated[
        int | None,
        typer.Option(
            "--count", "-n", envvar="STREAMWORKS_CONSUME_COUNT", min=1, help="Stop after N."
        ),
    ] = None,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow",
            "-f",
            envvar="STREAMWORKS_CONSUME_FOLLOW",
            help="Keep waiting for new records (Ctrl-C stops); without it, stop at the end "
            "each partition had when reading began.",
        ),
    ] = False,
    partition: Annotated[
        int | None,
        typer.Option(
            "--partition",
            "-p",
            envvar="STREAMWORKS_CONSUME_PARTITION",
            min=0,
            help="Only this partition.",
        ),
    ] = None,
    pipeline: Annotated[
        str | None,
        typer.Option(
            envvar="STREAMWORKS_CONSUME_PIPELINE",
            help="The pipeline that says whether the topic is JSON (default: the project's).",
        ),
    ] = None,
    bootstrap: Bootstrap = None,
    registry: Registry = None,
) -> None:
    """Print TOPIC's records as JSON lines, values decoded, without joining a group.

    Each line has topic, partition, offset, timestamp (ISO 8601 UTC), key and key_format
    (text, or base64 when not UTF-8), value and value_format (avro with its schema_id,
    json, or base64 with value_error when it could not be decoded) and headers.
    """
    point_at(bootstrap, registry)
    try:
        begin: Start = parse_start(start)
    except ValueError as error:
        raise RecordToolError(f"--from: {error}", topic=topic) from None
    spec = declared_topic(topic, pipeline)
    renderer = RecordRenderer(
        Settings(),
        json_topic=spec is not None and spec.format == "json",
        origins=origin_names(pipeline),
    )

    try:
        asyncio.run(
            consume_records(
                Settings(),
                topic,
                lambda record: typer.echo(renderer.line(record)),
                start=begin,
                count=count,
                follow=follow,
                partition=partition,
            )
        )
    except KeyboardInterrupt:
        pass  # --follow ends when the user says so
    except BrokenPipeError:  # the reader went away (| head): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
