"""The ``streamworks`` command: one typer app, with one sub-app per area."""

from __future__ import annotations

import logging
import sys

import typer
from pydantic import ValidationError
from rich.console import Console

from ops.acl.commands import app as acl_app
from ops.connect_commands import connect
from ops.dashboard import dashboard
from ops.demo import demo
from ops.dlq import app as dlq_app
from ops.k8s import app as k8s_app
from ops.kafka.commands import app as kafka_app
from ops.metrics_commands import app as metrics_app
from ops.registry_commands import app as registry_app
from ops.run_commands import run, worker
from ops.schema_commands import app as schemas_app
from ops.status import status
from ops.table_commands import app as table_app
from ops.topics import app as topics_app
from schemas.errors import StreamworksError

__all__ = ["app", "main"]

app = typer.Typer(
    name="streamworks",
    help="streamworks: stream processing on Apache Kafka with Avro contracts.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(acl_app, name="acl")
app.add_typer(kafka_app, name="kafka")
app.add_typer(k8s_app, name="k8s")
app.add_typer(metrics_app, name="metrics")
app.add_typer(schemas_app, name="schemas")
app.add_typer(table_app, name="table")
app.add_typer(dlq_app, name="dlq")
app.add_typer(topics_app, name="topics")
app.add_typer(registry_app, name="registry")
app.command()(worker)
app.command()(run)
app.command()(demo)
app.command()(connect)
app.command()(status)
app.command()(dashboard)


def main() -> None:
    """Entry point: run the CLI, turning streamworks errors into one red line and exit 1."""
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        app()
    except StreamworksError as error:
        Console(stderr=True, soft_wrap=True).print(f"[red]error:[/] {error}", highlight=False)
        sys.exit(1)
    except ValidationError as error:  # the settings (STREAMWORKS_* variables) are refused
        console = Console(stderr=True, soft_wrap=True)
        for problem in error.errors():
            where = ".".join(str(part) for part in problem["loc"]) or error.title
            console.print(f"[red]error:[/] {where}: {problem['msg']}", highlight=False)
        sys.exit(1)
