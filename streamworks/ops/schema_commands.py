"""``streamworks schemas check|register``: contracts against the registry or a git revision."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from streamworks.core.settings import Settings
from streamworks.ops.project import current, load_pipeline
from streamworks.runtime.topics import register_contracts
from streamworks.schemas.evolution import (
    SubjectCheck,
    against_registry,
    against_revision,
    register_all,
)
from streamworks.schemas.registry_client import RegistryClient

__all__ = ["app"]

app = typer.Typer(help="Check and register the project's Avro contracts.")
console = Console()

Directory = Annotated[
    Path | None,
    typer.Option(
        "--dir",
        envvar="STREAMWORKS_CONTRACTS_DIR",
        help="Folder of .avsc contracts [default: the project's contracts].",
    ),
]
RegistryUrl = Annotated[
    str | None,
    typer.Option("--registry", envvar="STREAMWORKS_REGISTRY_URL", help="Schema registry URL."),
]

_STYLE = {"compatible": "green", "new": "cyan", "unchanged": "dim", "incompatible": "red"}


@app.command()
def check(
    registry: RegistryUrl = None,
    against: Annotated[
        str | None,
        typer.Option(envvar="STREAMWORKS_SCHEMAS_AGAINST", help="Compare with this git revision."),
    ] = None,
    level: Annotated[
        str, typer.Option(help="Compatibility level for --against (the registry has its own).")
    ] = "BACKWARD",
    directory: Directory = None,
) -> None:
    """Fail, naming the field, when a contract change would break compatibility."""
    folder = _folder(directory)
    if (registry is None) == (against is None):
        console.print("[red]error:[/] give exactly one of --registry URL or --against REVISION")
        raise typer.Exit(2)
    if registry is not None:
        results = against_registry(RegistryClient.from_settings(Settings(), url=registry), folder)
        baseline = registry
    else:
        results = against_revision(str(against), folder, level)
        baseline = f"git revision {against}"
    _print(results, baseline)
    broken = [r for r in results if r.outcome == "incompatible"]
    for result in broken:
        for problem in result.problems:
            console.print(f"[red]{result.subject}[/]: {problem}", soft_wrap=True, highlight=False)
    if broken:
        raise typer.Exit(1)


@app.command()
def register(
    registry: RegistryUrl = None,
    directory: Directory = None,
    pipeline: Annotated[
        str | None,
        typer.Option(
            envvar="STREAMWORKS_SCHEMAS_PIPELINE",
            help="Also register each of this pipeline's topics' contracts under <topic>-value.",
        ),
    ] = None,
) -> None:
    """Register every contract under ``<topic>-value`` (idempotent).

    With ``--pipeline`` the pipeline's own topics (a prefixed flagship's ``shop.raw``, say)
    get their contracts too, so connectors at its edges can check records before any stage
    has written.
    """
    folder = _folder(directory)
    if registry is None:
        console.print("[red]error:[/] --registry URL (or STREAMWORKS_REGISTRY_URL) is required")
        raise typer.Exit(2)
    client = RegistryClient.from_settings(Settings(), url=registry)
    ids = register_all(client, folder)
    if pipeline is not None:
        ids.update(register_contracts(load_pipeline(pipeline), client))
    table = Table(title=f"registered in {registry}")
    table.add_column("subject")
    table.add_column("id", justify="right")
    for subject, schema_id in sorted(ids.items()):
        table.add_row(subject, str(schema_id))
    console.print(table)


def _folder(directory: Path | None) -> Path:
    """``--dir``, else the contracts folder of the project here; one line when neither."""
    if directory is not None:
        return directory
    project = current()
    if project is None or project.contracts is None:
        console.print(
            "[red]error:[/] no contracts folder: give --dir, or set [tool.streamworks] contracts "
            "in the project's pyproject.toml"
        )
        raise typer.Exit(2)
    return project.contracts


def _print(results: list[SubjectCheck], baseline: str) -> None:
    table = Table(title=f"contracts against {baseline}")
    for column in ("subject", "verdict", "level"):
        table.add_column(column)
    for result in results:
        style = _STYLE[result.outcome]
        table.add_row(result.subject, f"[{style}]{result.outcome}[/]", result.level)
    console.print(table)
