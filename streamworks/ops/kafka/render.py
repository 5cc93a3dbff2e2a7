"""What ``streamworks kafka status`` shows: a table for people, a JSON document for scripts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.table import Table

from streamworks.ops.kafka.jars import kafka_version
from streamworks.ops.kafka.launcher import LocalCluster, NodeStatus
from streamworks.ops.tables import folded

__all__ = ["status_document", "status_table"]

_LOOPBACK = "127.0.0.1"


def status_table(cluster: LocalCluster, states: Sequence[NodeStatus]) -> Table:
    """One row per node: state, pid, protocol, addresses and log file, none of them cut."""
    cluster_id = cluster.cluster_id() or "not formatted"
    title = f"local Kafka {kafka_version()} — {cluster.directory} (cluster {cluster_id})"
    table = Table(title=title)
    for column in ("node", "state", "pid", "protocol", "broker", "controller", "log"):
        table.add_column(column)
    for state in states:
        table.add_row(
            str(state.node.node_id),
            "[green]running[/]" if state.running else "[red]stopped[/]",
            str(state.pid or "-"),
            cluster.protocol,
            f"{_LOOPBACK}:{state.node.broker_port}",
            f"{_LOOPBACK}:{state.node.controller_port}",
            str(state.node.log_path),
        )
    return folded(table)


def status_document(cluster: LocalCluster | None, directory: str) -> dict[str, Any]:
    """The cluster's state with stable keys; ``nodes`` is empty when none was started here.

    Keys: ``kafka_version``, ``directory``, ``bootstrap_servers``, ``protocol`` and
    ``cluster_id`` (null without a cluster; the id null before its storage is formatted),
    ``running`` (any node alive), and per node ``node_id``, ``running``,
    ``pid`` (or null), ``broker`` and ``controller`` (host:port) and ``log`` (a path).
    """
    states = cluster.status() if cluster is not None else []
    return {
        "kafka_version": kafka_version(),
        "directory": directory,
        "bootstrap_servers": cluster.bootstrap_servers if cluster is not None else None,
        "protocol": cluster.protocol if cluster is not None else None,
        "cluster_id": cluster.cluster_id() if cluster is not None else None,
        "running": any(s.running for s in states),
        "nodes": [
            {
                "node_id": s.node.node_id,
                "running": s.running,
                "pid": s.pid,
                "broker": f"{_LOOPBACK}:{s.node.broker_port}",
                "controller": f"{_LOOPBACK}:{s.node.controller_port}",
                "log": str(s.node.log_path),
            }
            for s in states
        ],
    }
