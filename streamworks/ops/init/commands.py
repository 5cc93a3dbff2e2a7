"""The ``streamworks init`` command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from streamworks.ops.init.create import create_project

__all__ = ["init"]

console = Console(soft_wrap=True)


def init(
    folder: Annotated[Path, typer.Argument(help="The new project's folder (absent or empty).")],
    streamworks_from: Annotated[
        str | None,
        typer.Option(
            "--streamworks-from",
            envvar="STREAMWORKS_INIT_SOURCE",
            help="Where the project's Makefile installs streamworks from (a checkout, a "
            "wheel, or a name) [default: where this streamworks came from].",
        ),
    ] = None,
) -> None:
    """Create a new project: a pipeline, its records, a connector file, tests, a Makefile."""
    written = create_project(folder, source=streamworks_from)
    console.print(f"created {folder} ({len(written)} files). Next:")
    console.print(f"  cd {folder}")
    console.print("  make test    # installs everything; the tests, in memory and on a broker")
    console.print("  make demo    # starts Kafka, runs the pipeline on the sample views")
