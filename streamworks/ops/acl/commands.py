"""``streamworks acl plan|apply|users``: the ACLs a pipeline's principals need."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from streamworks.connectors import load_file
from streamworks.connectors.base.config import ConnectorConfig
from streamworks.core.settings import Settings
from streamworks.ops.acl.apply import apply_plan, create_topics
from streamworks.ops.acl.derive import plan, principals
from streamworks.ops.acl.model import Binding
from streamworks.ops.cluster_options import Bootstrap, point_at
from streamworks.ops.project import load_pipeline
from streamworks.pipeline.graph import Pipeline

__all__ = ["app"]

app = typer.Typer(help="Least-privilege ACLs derived from a pipeline and its connectors.")
console = Console()

PipelineRef = Annotated[
    str,
    typer.Argument(
        help="A pipeline named in the project (e.g. orders) or package.module:attribute."
    ),
]
ConnectorFiles = Annotated[
    list[Path] | None,
    typer.Option("--connectors", "-c", help="Connector YAML files whose principals to include."),
]
RegistryTopic = Annotated[
    str | None,
    typer.Option(help="Include the schema registry's principal, keeping its state in this topic."),
]


def _load(pipeline: str, connectors: list[Path] | None) -> tuple[Pipeline, list[ConnectorConfig]]:
    found = load_pipeline(pipeline)
    found.validate()
    return found, [config for path in connectors or [] for config in load_file(path)]


def _bindings(
    pipeline: str, connectors: list[Path] | None, registry_topic: str | None
) -> list[Binding]:
    found, configs = _load(pipeline, connectors)
    return plan(found, configs, registry_topic=registry_topic)


@app.command("plan")
def plan_command(
    pipeline: PipelineRef,
    connectors: ConnectorFiles = None,
    registry_topic: RegistryTopic = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per binding.")] = False,
) -> None:
    """Show the ACLs each stage and connector principal gets (nothing is changed)."""
    bindings = _bindings(pipeline, connectors, registry_topic)
    if as_json:
        for b in bindings:
            typer.echo(
                json.dumps(
                    {
                        "principal": b.principal,
                        "resource": b.resource,
                        "pattern": b.pattern,
                        "name": b.name,
                        "operation": b.operation,
                        "why": b.why,
                    }
                )
            )
        return
    rows: dict[str, dict[tuple[str, str, str], list[str]]] = {}
    for b in bindings:
        name = f"{b.name}*" if b.pattern == "PREFIXED" else b.name
        rows.setdefault(b.principal, {}).setdefault((b.resource, name, b.why), []).append(
            b.operation
        )
    for principal, grants in rows.items():
        typer.echo(principal)
        for (resource, name, why), operations in grants.items():
            typer.echo(f"  {resource:<16} {name:<36} {', '.join(operations):<16} {why}")
    console.print(f"{len(bindings)} bindings for {len(principals(bindings))} principals")


@app.command()
def apply(
    pipeline: PipelineRef,
    connectors: ConnectorFiles = None,
    registry_topic: RegistryTopic = None,
    prune: Annotated[
        bool, typer.Option(help="Also delete other ALLOW rules of these principals.")
    ] = False,
    bootstrap: Bootstrap = None,
) -> None:
    """Create the pipeline's topics and the planned ACLs (as an admin: STREAMWORKS_* login)."""
    point_at(bootstrap)
    found, configs = _load(pipeline, connectors)
    bindings = plan(found, configs, registry_topic=registry_topic)
    settings = Settings()
    created_topics = asyncio.run(
        create_topics(settings, found, configs, registry_topic=registry_topic)
    )
    if created_topics:
        console.print(f"created topics: {', '.join(created_topics)}")
    changes = asyncio.run(apply_plan(settings, bindings, prune=prune))
    console.print(
        f"ACLs: {len(changes.created)} created, {changes.kept} already there"
        + (f", {len(changes.deleted)} deleted" if prune else "")
    )


@app.command()
def users(
    pipeline: PipelineRef,
    connectors: ConnectorFiles = None,
    registry_topic: RegistryTopic = None,
) -> None:
    """Print the user name of every principal in the plan, one per line."""
    for name in principals(_bindings(pipeline, connectors, registry_topic)):
        typer.echo(name)
