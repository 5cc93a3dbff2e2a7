"""The ``streamworks`` command: one typer app, with one sub-app per area."""

from __future__ import annotations

import logging
import os
import sys

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from streamworks.core.errors import StreamworksError
from streamworks.ops.acl.commands import app as acl_app
from streamworks.ops.boundary import quiet_bootstrap_failures, translate
from streamworks.ops.connect_commands import connect
from streamworks.ops.dashboard import dashboard
from streamworks.ops.demo_commands import DEMO_SETTINGS, demo
from streamworks.ops.dlq import app as dlq_app
from streamworks.ops.init import init
from streamworks.ops.k8s import app as k8s_app
from streamworks.ops.kafka.commands import app as kafka_app
from streamworks.ops.metrics_commands import app as metrics_app
from streamworks.ops.project import current
from streamworks.ops.records import consume, produce
from streamworks.ops.registry_commands import app as registry_app
from streamworks.ops.run_commands import run, worker
from streamworks.ops.schema_commands import app as schemas_app
from streamworks.ops.status import status
from streamworks.ops.table_commands import app as table_app
from streamworks.ops.topics import app as topics_app

__all__ = ["app", "main"]

app = typer.Typer(
    name="streamworks",
    help="streamworks: stream processing on Apache Kafka with Avro contracts.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _project() -> None:
    """Every command works in the project of the working directory, when there is one."""
    current()


app.add_typer(acl_app, name="acl")
app.add_typer(kafka_app, name="kafka")
app.add_typer(k8s_app, name="k8s")
app.add_typer(metrics_app, name="metrics")
app.add_typer(schemas_app, name="schemas")
app.add_typer(table_app, name="table")
app.add_typer(dlq_app, name="dlq")
app.add_typer(topics_app, name="topics")
app.add_typer(registry_app, name="registry")
app.command()(init)
app.command()(worker)
app.command()(run)
app.command(context_settings=DEMO_SETTINGS, add_help_option=False)(demo)
app.command()(connect)
app.command()(status)
app.command()(dashboard)
app.command()(produce)
app.command()(consume)


_PIPED_WIDTH = 200


def main() -> None:
    """Entry point: run the CLI, turning streamworks errors, and a broker that does not
    answer, into one red line and exit 1."""
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    quiet_bootstrap_failures()
    if not sys.stdout.isatty() and "COLUMNS" not in os.environ:
        # piped or captured: tables as wide as their values, so no line splits an address
        os.environ["COLUMNS"] = str(_PIPED_WIDTH)
    try:
        app()
    except ValidationError as error:  # the settings (STREAMWORKS_* variables) are refused
        console = Console(stderr=True, soft_wrap=True)
        for problem in error.errors():
            where = ".".join(str(part) for part in problem["loc"]) or error.title
            console.print(f"[red]error:[/] {where}: {escape(problem['msg'])}", highlight=False)
        sys.exit(1)
    except Exception as error:
        # a streamworks error as it is; aiokafka's from a command that did not translate it
        failure = error if isinstance(error, StreamworksError) else translate(error)
        if failure is None:
            raise
        Console(stderr=True, soft_wrap=True).print(
            f"[red]error:[/] {escape(str(failure))}", highlight=False
        )
        sys.exit(1)
