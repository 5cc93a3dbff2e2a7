"""The configuration files a local KRaft node is started with."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

_FULL_REPLICATION = 3

LOG4J2 = """\
# Written by streamworks: the broker logs to server.log in its node directory.
status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = ${sys:kafka.logs.dir}/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
"""


@dataclass(frozen=True)
class NodeLayout:
    """Where one node of a local cluster listens and keeps its files."""

    node_id: int
    """KRaft node id, 1-based."""
    broker_port: int
    """Port of the PLAINTEXT client listener on 127.0.0.1."""
    controller_port: int
    """Port of the KRaft controller listener on 127.0.0.1."""
    directory: Path
    """Holds server.properties, data/, server.log and the pid file."""

    @property
    def properties_path(self) -> Path:
        return self.directory / "server.properties"

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def log_path(self) -> Path:
        return self.directory / "server.log"

    @property
    def console_path(self) -> Path:
        return self.directory / "console.log"

    @property
    def pid_path(self) -> Path:
        return self.directory / "kafka.pid"


def server_properties(node: NodeLayout, nodes: list[NodeLayout]) -> str:
    """A combined broker+controller configuration for ``node`` in a cluster of ``nodes``."""
    lines = {**broker_settings(node, nodes), "log.dirs": str(node.data_dir)}
    return "".join(f"{key}={value}\n" for key, value in lines.items())


def broker_settings(node: NodeLayout, nodes: list[NodeLayout]) -> dict[str, str]:
    """Every setting of ``node`` but where it keeps its data (a container has its own)."""
    count = len(nodes)
    voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in nodes)
    # Internal topics replicate as widely as the cluster allows; with three nodes, acks=all
    # then really means "on two nodes at least".
    replication = min(count, _FULL_REPLICATION)
    min_isr = 2 if count >= _FULL_REPLICATION else 1
    return {
        "process.roles": "broker,controller",
        "node.id": str(node.node_id),
        "controller.quorum.voters": voters,
        "listeners": (
            f"PLAINTEXT://127.0.0.1:{node.broker_port},CONTROLLER://127.0.0.1:{node.controller_port}"
        ),
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{node.broker_port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "num.partitions": "1",
        "default.replication.factor": str(replication),
        "min.insync.replicas": str(min_isr),
        "offsets.topic.replication.factor": str(replication),
        "offsets.topic.num.partitions": "10",
        "transaction.state.log.replication.factor": str(replication),
        "transaction.state.log.min.isr": str(min_isr),
        "transaction.state.log.num.partitions": "10",
        "share.coordinator.state.topic.replication.factor": str(replication),
        "share.coordinator.state.topic.min.isr": str(min_isr),
        # Local clusters serve tests: a new consumer group should not wait 3 s to form.
        "group.initial.rebalance.delay.ms": "0",
        # topics are declared (pipelines, topics as code), never created by a typo
        "auto.create.topics.enable": "false",
        "log.segment.bytes": str(64 * 1024 * 1024),
    }
