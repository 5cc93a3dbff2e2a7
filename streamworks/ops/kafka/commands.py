"""``streamworks kafka up|start|stop|status|down|fetch|users``: the local broker from the command
line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from streamworks.ops.kafka.errors import ClusterShapeError, KafkaLauncherError
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
        help="Folder of the cluster's data, logs and pids (default: <cache>/clusters/default).",
    ),
]


NodeOption = Annotated[
    int,
    typer.Option(
        "--node",
        envvar="STREAMWORKS_KAFKA_NODE",
        help="Id of the node (1-based, as `kafka status` lists them).",
    ),
]
Timeout = Annotated[
    float, typer.Option(envvar="STREAMWORKS_KAFKA_TIMEOUT", help="Seconds to wait for ready.")
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
        int | None,
        typer.Option(
            envvar="STREAMWORKS_KAFKA_PORT",
            help="Port of the first broker (default: the directory's, else 9092).",
            show_default=False,
        ),
    ] = None,
    nodes: Annotated[
        int | None,
        typer.Option(
            envvar="STREAMWORKS_KAFKA_NODES",
            help="Combined broker+controller nodes (default: the directory's, else 1).",
            show_default=False,
        ),
    ] = None,
    heap: Annotated[
        str | None,
        typer.Option(
            envvar="STREAMWORKS_KAFKA_HEAP",
            help="Maximum JVM heap per node (default: the directory's, else 512m).",
            show_default=False,
        ),
    ] = None,
    timeout: Timeout = 120.0,
    directory: ClusterDir = None,
    secure: Annotated[
        bool,
        typer.Option(
            "--secure",
            envvar="STREAMWORKS_KAFKA_SECURE",
            help="SASL_SSL only (SCRAM logins, a CA made for the cluster) and ACLs enforced.",
        ),
    ] = False,
    fresh: Annotated[
        bool,
        # no STREAMWORKS_* variable, unlike every other option: a variable left set in a
        # shell or CI job would delete the cluster's data on every `up`
        typer.Option(
            "--fresh",
            help="Delete the directory's cluster (topics, records, offsets) and format anew.",
        ),
    ] = False,
) -> None:
    """Start the broker(s) on the directory's data (formatting storage only the first time,
    or with --fresh); return once they answer metadata and coordinate consumer groups."""
    folder = _directory(directory)
    stored = LocalCluster.load(folder)
    cluster = LocalCluster.plan(
        folder,
        nodes=nodes if nodes is not None else (len(stored.nodes) if stored else 1),
        port=port if port is not None else (stored.nodes[0].broker_port if stored else 9092),
        heap=heap if heap is not None else (stored.heap if stored else "512m"),
        secure=secure or (stored.secure if stored else False),
    )
    if stored is not None and stored.is_running():
        _already_running(stored, cluster, timeout, fresh=fresh)
        return
    cluster.check_startable()
    data = (stored or cluster).stored_data()
    if fresh and data.cluster_id is not None:
        _say(data.describe(folder))
    kind = "secure " if cluster.secure else ""
    verb = "formatting" if fresh or data.cluster_id is None else "resuming"
    with console.status(f"{verb} {kind}Kafka {kafka_version()} ({len(cluster.nodes)} node(s))"):
        seconds = cluster.start(timeout=timeout, fresh=fresh)
    how = "new cluster" if verb == "formatting" else "resumed cluster"
    console.print(
        f"Kafka {kafka_version()} ready in {seconds:.1f}s at [bold]{cluster.bootstrap_servers}[/]"
        f" ({cluster.protocol}; {how} {cluster.cluster_id()})",
        soft_wrap=True,
    )
    _print_status(cluster)
    _point_at(cluster)
    if cluster.secure:
        files = cluster.secure_files
        console.print(
            f"CA certificate: {files.cafile}\n"
            f"logins (user -> password, mode 0600): {files.users_file}\n"
            f"admin client variables: {files.admin_env}\n"
            f"use them with: [bold]set -a; . {files.admin_env}; set +a[/]",
            highlight=False,
        )


def _point_at(cluster: LocalCluster) -> None:
    """The line that points the other commands at ``cluster`` (a secure one's admin.env
    does more: it carries the login too)."""
    if not cluster.secure:
        _say(
            "point the other commands at it with: "
            f"export STREAMWORKS_BOOTSTRAP_SERVERS={cluster.bootstrap_servers}  "
            f"(or --bootstrap {cluster.bootstrap_servers})"
        )


def _already_running(
    running: LocalCluster, asked: LocalCluster, timeout: float, *, fresh: bool
) -> None:
    """``up`` on a directory whose cluster runs: leave it be, or start its stopped nodes."""
    where = running.directory
    if fresh:
        raise KafkaLauncherError(
            f"the local Kafka cluster in {where} is running; `streamworks kafka down --dir "
            f"{where}` first, then `kafka up --fresh` formats it anew"
        )
    if running.shape != asked.shape:
        raise ClusterShapeError(str(where), running.shape.describe(), asked.shape.describe())
    stopped = [s.node.node_id for s in running.status() if not s.running]
    if not stopped:
        _say(
            f"the local Kafka cluster in {where} is already running at "
            f"{running.bootstrap_servers}; nothing to do"
        )
        _point_at(running)
        return
    with console.status(f"starting node(s) {', '.join(map(str, stopped))}"):
        seconds = running.start_nodes(stopped, timeout=timeout)
    _say(f"started node(s) {', '.join(map(str, stopped))} in {seconds:.1f}s")
    _print_status(running)
    _point_at(running)


@app.command("start")
def start_node(
    node: NodeOption,
    directory: ClusterDir = None,
    timeout: Timeout = 120.0,
) -> None:
    """Start one stopped node of the directory's cluster on its data; return once the
    cluster lists it."""
    cluster = _stored(directory)
    [state] = [s for s in cluster.status() if s.node == cluster.node(node)]
    if state.running:
        _say(f"Kafka node {node} already runs (pid {state.pid})")
        return
    with console.status(f"starting Kafka node {node}"):
        seconds = cluster.start_nodes([node], timeout=timeout)
    _say(f"Kafka node {node} ready in {seconds:.1f}s at 127.0.0.1:{state.node.broker_port}")
    _print_status(cluster)


@app.command("stop")
def stop_node(node: NodeOption, directory: ClusterDir = None) -> None:
    """Stop one node of the directory's cluster; its data stays for `kafka start --node`."""
    cluster = _stored(directory)
    with console.status(f"stopping Kafka node {node}"):
        stopped = cluster.stop_node(node)
    if not stopped:
        _say(f"Kafka node {node} was not running")
        return
    running = [s.node.node_id for s in cluster.status() if s.running]
    majority = len(cluster.nodes) // 2 + 1
    left = ", ".join(map(str, running)) or "none"
    quorumless = 0 < len(running) < majority
    note = "; too few for a controller quorum: it serves nothing" if quorumless else ""
    _say(f"stopped Kafka node {node}; running: {left}{note}")


def _stored(directory: Path | None) -> LocalCluster:
    folder = _directory(directory)
    cluster = LocalCluster.load(folder)
    if cluster is None:
        _say(f"no local Kafka cluster has been started in {folder}; `kafka up` starts one")
        raise typer.Exit(1)
    return cluster


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
    """Stop every node that runs from the directory (however it was started), and no other
    JVM; the data stays for the next `kafka up` unless --purge."""
    cluster = LocalCluster.load(_directory(directory))
    if cluster is None:
        console.print("no local Kafka cluster has been started here; nothing to stop")
        return
    with console.status("stopping Kafka"):
        stopped = cluster.stop()
    if purge:
        cluster.purge()
    kept = "; their data stays for the next `kafka up`" if stopped else ""
    _say(f"stopped {stopped} Kafka node(s)" + (" and deleted their data" if purge else kept))


def _say(line: str) -> None:
    """One line, never wrapped (scripts and people grep it)."""
    console.print(line, highlight=False, soft_wrap=True)


def _print_status(cluster: LocalCluster) -> None:
    console.print(status_table(cluster, cluster.status()))
