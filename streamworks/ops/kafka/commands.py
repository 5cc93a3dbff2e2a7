"""``streamworks kafka up|status|down|fetch|users``: the local broker from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from streamworks.ops.kafka.jars import cache_dir, ensure_jars, kafka_version
from streamworks.ops.kafka.launcher import LocalCluster
from streamworks.ops.kafka.render import status_document, status_table

__all__ = ["app"]

app = typer.Typer(help="Run a local Apache Kafka (KRaft) from the Maven-fetched jars.")
users_app = typer.Typer(help="SCRAM users of a secure local cluster (`kafka up --secure`).")
app.add_typer(users_app, name="users")
console = Console()

ClusterDir = Annotated[
    Path | None,
    typer.Option(
        "--dir",
        envvar="STREAMWORKS_KAFKA_DIR",
        help="Folder of the cluster's data, logs and pids [default: <cache>/clusters/default].",
    ),
]


def _directory(directory: Path | None) -> Path:
    return (directory or cache_dir() / "clusters" / "default").resolve()


@app.command()
def fetch() -> None:
    """Fetch the pinned Kafka jars from Maven Central into the cache (once)."""
    with console.status(f"fetching Kafka {kafka_version()} with mvn"):
        libs = ensure_jars()
    console.print(f"Kafka {kafka_version()} jars are in {libs}")


@app.command()
def up(  # keyword-only: typer passes options by name
    *,
    port: Annotated[
        int, typer.Option(envvar="STREAMWORKS_KAFKA_PORT", help="Port of the first broker.")
    ] = 9092,
    nodes: Annotated[
        int,
        typer.Option(envvar="STREAMWORKS_KAFKA_NODES", help="Combined broker+controller nodes."),
    ] = 1,
    heap: Annotated[
        str, typer.Option(envvar="STREAMWORKS_KAFKA_HEAP", help="Maximum JVM heap per node.")
    ] = "512m",
    timeout: Annotated[
        float, typer.Option(envvar="STREAMWORKS_KAFKA_TIMEOUT", help="Seconds to wait for ready.")
    ] = 120.0,
    directory: ClusterDir = None,
    secure: Annotated[
        bool,
        typer.Option(
            "--secure",
            envvar="STREAMWORKS_KAFKA_SECURE",
            help="SASL_SSL only (SCRAM logins, a CA made for the run) and ACLs enforced.",
        ),
    ] = False,
) -> None:
    """Format fresh storage and start the broker(s); return once they answer metadata and
    coordinate consumer groups."""
    cluster = LocalCluster.plan(
        _directory(directory), nodes=nodes, port=port, heap=heap, secure=secure
    )
    kind = "secure " if secure else ""
    with console.status(f"starting {kind}Kafka {kafka_version()} ({nodes} node(s))"):
        seconds = cluster.start(timeout=timeout)
    console.print(
        f"Kafka {kafka_version()} ready in {seconds:.1f}s at [bold]{cluster.bootstrap_servers}[/]"
        f" ({cluster.protocol})"
    )
    _print_status(cluster)
    if secure:
        files = cluster.secure_files
        console.print(
            f"CA certificate: {files.cafile}\n"
            f"logins (user -> password, mode 0600): {files.users_file}\n"
            f"admin client variables: {files.admin_env}\n"
            f"use them with: [bold]set -a; . {files.admin_env}; set +a[/]",
            highlight=False,
        )


@users_app.command("add")
def users_add(
    names: Annotated[list[str], typer.Argument(help="User names to create.")],
    directory: ClusterDir = None,
) -> None:
    """Create SCRAM users (SHA-256 and SHA-512); their passwords go to users.json only."""
    cluster = _running_secure(directory)
    created = cluster.add_users(names)
    existing = sorted(set(names) - set(created))
    if created:
        console.print(f"created {', '.join(sorted(created))}", highlight=False)
    if existing:
        console.print(f"already there: {', '.join(existing)}", highlight=False)
    console.print(f"passwords are in {cluster.secure_files.users_file}", highlight=False)


@users_app.command("list")
def users_list(directory: ClusterDir = None) -> None:
    """The users in users.json (names only)."""
    cluster = _running_secure(directory)
    for name in sorted(cluster.users()):
        console.print(name, highlight=False)


def _running_secure(directory: Path | None) -> LocalCluster:
    cluster = LocalCluster.load(_directory(directory))
    if cluster is None or not cluster.secure:
        console.print("no secure local Kafka cluster here; start one with `kafka up --secure`")
        raise typer.Exit(1)
    return cluster


@app.command()
def status(
    directory: ClusterDir = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            envvar="STREAMWORKS_KAFKA_STATUS_JSON",
            help="Print one JSON document (stable keys) instead of the table.",
        ),
    ] = False,
) -> None:
    """Show the nodes of the local cluster: pid, ports, state and log file; exit 1 when
    none runs."""
    folder = _directory(directory)
    cluster = LocalCluster.load(folder)
    if as_json:
        document = status_document(cluster, str(folder))
        typer.echo(json.dumps(document, indent=2))
        if not document["running"]:
            raise typer.Exit(1)
        return
    if cluster is None:
        console.print("no local Kafka cluster has been started here")
        raise typer.Exit(1)
    _print_status(cluster)
    if not cluster.is_running():
        raise typer.Exit(1)


@app.command()
def down(
    directory: ClusterDir = None,
    purge: Annotated[bool, typer.Option(help="Also delete the cluster's data and logs.")] = False,
) -> None:
    """Stop the nodes this launcher started (and no other JVM)."""
    cluster = LocalCluster.load(_directory(directory))
    if cluster is None:
        console.print("no local Kafka cluster has been started here; nothing to stop")
        return
    with console.status("stopping Kafka"):
        stopped = cluster.stop()
    if purge:
        cluster.purge()
    console.print(f"stopped {stopped} Kafka node(s)" + (" and deleted their data" if purge else ""))


def _print_status(cluster: LocalCluster) -> None:
    console.print(status_table(cluster, cluster.status()))
