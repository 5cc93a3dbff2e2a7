"""``streamworks schemas check|register|export``: the project's schemas, checked and shared.

A project's subjects are ``<topic>-value`` for every typed topic of its pipelines (each with
its record class's contract, derived or hand-written), and ``<file>-value`` for every file
of its contracts folder. ``export`` writes the pipelines' schemas as ``<topic>.avsc`` files,
so derived schemas can be reviewed and checked against a git revision like written ones.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from streamworks.core.settings import Settings
from streamworks.ops.project import current, load_pipeline
from streamworks.ops.tables import folded
from streamworks.pipeline.graph import Pipeline
from streamworks.schemas.catalog import Contract
from streamworks.schemas.evolution import (
    SubjectCheck,
    against_registry,
    against_revision,
    folder_subjects,
    register_all,
)
from streamworks.schemas.registry_client import RegistryClient

__all__ = ["app"]

app = typer.Typer(help="Check, register and export the project's Avro schemas.")
console = Console()

Directory = Annotated[
    Path | None,
    typer.Option(
        "--dir",
        envvar="STREAMWORKS_CONTRACTS_DIR",
        help="Only this folder of .avsc files [default: the project's contracts and pipelines].",
    ),
]
PipelineName = Annotated[
    str | None,
    typer.Option(
        envvar="STREAMWORKS_SCHEMAS_PIPELINE",
        help="Only this pipeline's topics (a name of the project, or module:attribute).",
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
    pipeline: PipelineName = None,
) -> None:
    """Fail, naming the field, when a schema change would break compatibility.

    Against a git revision the files of a folder are compared (the contracts folder, or
    one ``export`` wrote); against a registry, every subject of the project.
    """
    if (registry is None) == (against is None):
        console.print("[red]error:[/] give exactly one of --registry URL or --against REVISION")
        raise typer.Exit(2)
    if registry is not None:
        client = RegistryClient.from_settings(Settings(), url=registry)
        results = against_registry(client, _subjects(directory, pipeline))
        baseline = registry
    else:
        results = against_revision(str(against), _folder(directory), level)
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
    pipeline: PipelineName = None,
) -> None:
    """Register every subject of the project (idempotent).

    Stages register their outputs when they first write; registering up front lets the
    connectors at a pipeline's edges check records before any stage has written.
    """
    if registry is None:
        console.print("[red]error:[/] --registry URL (or STREAMWORKS_REGISTRY_URL) is required")
        raise typer.Exit(2)
    subjects = _subjects(directory, pipeline)
    ids = register_all(RegistryClient.from_settings(Settings(), url=registry), subjects)
    table = Table(title=f"registered in {registry}")
    table.add_column("subject")
    table.add_column("id", justify="right")
    for subject, schema_id in sorted(ids.items()):
        table.add_row(subject, str(schema_id))
    console.print(folded(table))


@app.command()
def export(
    out: Annotated[Path, typer.Option(help="Folder to write <topic>.avsc files into.")],
    pipeline: PipelineName = None,
    check_only: Annotated[
        bool,
        typer.Option("--check", help="Write nothing; fail when the folder is not up to date."),
    ] = False,
) -> None:
    """Write each typed topic's schema as ``<topic>.avsc`` (derived or hand-written; JSON
    topics too, whose writers outside depend on it; not the internal topics).

    Commit the folder: ``schemas check --against REV --dir FOLDER`` then fails, naming the
    field, when a record class changes incompatibly; ``--check`` in CI fails when someone
    changed a class and did not export again.
    """
    wanted = {
        f"{topic}.avsc": _pretty(found) for topic, found in _pipeline_schemas(pipeline).items()
    }
    present = {path.name for path in out.glob("*.avsc")} if out.is_dir() else set()
    stale = sorted(name for name, text in wanted.items() if _read(out / name) != text)
    extra = sorted(present - set(wanted))
    if check_only:
        for name in stale:
            console.print(f"[red]out of date[/]: {out / name}", highlight=False)
        for name in extra:
            console.print(f"[red]no topic has this schema now[/]: {out / name}", highlight=False)
        if stale or extra:
            console.print("run `streamworks schemas export --out " + str(out) + "` and commit")
            raise typer.Exit(1)
        console.print(f"{out}: {len(wanted)} schemas, up to date")
        return
    out.mkdir(parents=True, exist_ok=True)
    for name in stale:
        (out / name).write_text(wanted[name])
    console.print(f"{out}: {len(stale)} written, {len(wanted) - len(stale)} unchanged")
    for name in extra:  # never deleted here: a reviewer decides
        console.print(f"[yellow]no topic has this schema now[/]: {out / name}", highlight=False)


def _pretty(found: Contract) -> str:
    return json.dumps(found.schema, indent=2) + "\n"


def _read(path: Path) -> str | None:
    return path.read_text() if path.is_file() else None


def _pipeline_subjects(pipeline: str | None) -> dict[str, Contract]:
    """The subjects of ``pipeline``, or of every pipeline of the project here."""
    subjects: dict[str, Contract] = {}
    for found in _pipelines(pipeline):
        subjects.update(found.subjects())
    return subjects


def _pipeline_schemas(pipeline: str | None) -> dict[str, Contract]:
    """The topics' schemas of ``pipeline``, or of every pipeline of the project here."""
    schemas: dict[str, Contract] = {}
    for found in _pipelines(pipeline):
        schemas.update(found.schemas())
    return schemas


def _pipelines(pipeline: str | None) -> list[Pipeline]:
    """``pipeline``, or every pipeline of the project here; one line when there is none."""
    if pipeline is not None:
        names = [pipeline]
    else:
        project = current()
        names = sorted(project.pipelines) if project is not None else []
        if not names:
            console.print(
                "[red]error:[/] no pipelines: give --pipeline module:attribute, or list them "
                "in [tool.streamworks] pipelines of the project's pyproject.toml"
            )
            raise typer.Exit(2)
    return [load_pipeline(name) for name in names]


def _subjects(directory: Path | None, pipeline: str | None) -> dict[str, Contract]:
    """``--dir``'s files, or the project's: its contracts folder and its pipelines' topics."""
    if directory is not None:
        subjects = folder_subjects(directory)
        if pipeline is None:
            return subjects
    else:
        project = current()
        folder = project.contracts if project is not None else None
        subjects = folder_subjects(folder) if folder is not None else {}
        if pipeline is None and (project is None or not project.pipelines):
            if not subjects:
                console.print(
                    "[red]error:[/] nothing to check: give --dir or --pipeline, or run inside a "
                    "project ([tool.streamworks] contracts or pipelines)"
                )
                raise typer.Exit(2)
            return subjects
    for subject, found in _pipeline_subjects(pipeline).items():
        known = subjects.get(subject)
        if known is not None and known.schema != found.schema:
            console.print(
                f"[red]error:[/] {subject}: the contracts folder's {known.name}.avsc and the "
                f"pipeline's record ({found.record_name}) differ",
                highlight=False,
            )
            raise typer.Exit(1)
        subjects[subject] = found
    return subjects


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
    console.print(folded(table))
