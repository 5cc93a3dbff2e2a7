"""Start, inspect and stop a local KRaft Kafka cluster made of Maven-fetched jars.

Each node is one JVM acting as broker and controller. A cluster lives in one directory:
``cluster.json`` describes it, and each ``node-N/`` holds that node's configuration, data,
log and pid file. Starting a cluster whose storage is formatted resumes it (same cluster
id, topics, records, committed offsets); only ``start(fresh=True)`` formats it anew. A node
counts as running when a Kafka server JVM runs with that node's own server.properties, and
only such a JVM is ever signalled, so ``down`` never touches a JVM of anything else.

A secure cluster (``secure=True``) serves SASL_SSL only, checks ACLs, and keeps its CA,
certificate and logins in ``secure/`` (see :func:`streamworks.ops.kafka._files.secure_settings`).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
import time
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from streamworks.core.settings import Settings
from streamworks.ops.kafka import _process, scram
from streamworks.ops.kafka._files import (
    ADMIN_USER,
    LOG4J2,
    NodeLayout,
    SecureFiles,
    SecureListener,
    broker_settings,
    check_user_name,
    create_secure_files,
    new_password,
    read_users,
    server_properties,
    write_private,
    write_users,
)
from streamworks.ops.kafka._jvm import find_java, format_storage, launch_server
from streamworks.ops.kafka._storage import (
    Shape,
    StoredData,
    delete_storage,
    read_cluster_id,
    read_shape,
    resumable,
    stored_data,
    write_shape,
)
from streamworks.ops.kafka.errors import KafkaLauncherError, PortInUseError
from streamworks.ops.kafka.jars import ensure_jars
from streamworks.ops.kafka.readiness import brokers_in_metadata, wait_ready

__all__ = [
    "LocalCluster",
    "NodeStatus",
    "brokers_in_metadata",
    "free_port_block",
    "port_accepts",
    "single_node_settings",
]

free_port_block = _process.free_port_block
"""The first of ``size`` consecutive loopback ports free now (below the ephemeral range)."""
port_accepts = _process.port_accepts
"""Whether something accepts TCP connections on 127.0.0.1 at ``port``."""


def single_node_settings(port: int) -> dict[str, str]:
    """A one-node cluster's broker settings, client port ``port`` and controller ``port + 1``.

    For a broker started elsewhere (a container) with the same settings as a local one.
    """
    node = NodeLayout(1, port, port + 1, Path("/unused"))
    return broker_settings(node, [node])


logger = logging.getLogger(__name__)

# Brokers started by this process, kept so they can be reaped when stopped (and so Python
# does not warn about a Popen object collected while its process still runs).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class NodeStatus:
    """What one node of a local cluster is doing right now."""

    node: NodeLayout
    """Where the node listens and keeps its files."""
    pid: int | None
    """The pid of the node's JVM when it runs (however it was started), else the one last
    recorded in its pid file, if any."""
    running: bool
    """True when a Kafka server JVM runs with this node's own server.properties."""


@dataclass(frozen=True)
class LocalCluster:
    """A local Kafka cluster: ``len(nodes)`` combined broker+controller JVMs on loopback.

    Broker ports are ``port .. port+n-1`` and controller ports follow them, so one node on
    9092 uses 9092 and 9093.
    """

    directory: Path
    """The cluster's folder (configuration, data, logs and pids)."""
    nodes: tuple[NodeLayout, ...]
    """The nodes, in node-id order."""
    heap: str = "512m"
    """Maximum JVM heap per node (``-Xmx``)."""
    secure: bool = False
    """SASL_SSL with SCRAM logins and the standard authorizer instead of open PLAINTEXT."""

    @classmethod
    def plan(
        cls,
        directory: Path,
        nodes: int = 1,
        port: int = 9092,
        heap: str = "512m",
        secure: bool = False,
    ) -> LocalCluster:
        """Lay out a cluster of ``nodes`` nodes whose first broker listens on ``port``."""
        directory = directory.absolute()  # the JVMs run in their node folders
        if not 1 <= nodes <= 9:  # noqa: PLR2004 - a local cluster, not a data centre
            raise KafkaLauncherError(f"--nodes must be between 1 and 9, not {nodes}")
        layouts = tuple(
            NodeLayout(
                node_id=i + 1,
                broker_port=port + i,
                controller_port=port + nodes + i,
                directory=directory / f"node-{i + 1}",
            )
            for i in range(nodes)
        )
        return cls(directory=directory, nodes=layouts, heap=heap, secure=secure)

    @classmethod
    def load(cls, directory: Path) -> LocalCluster | None:
        """The cluster last started in ``directory``, or None when there is none."""
        stored = read_shape(directory)
        if stored is None:
            return None
        shape, heap = stored
        return cls.plan(directory, shape.nodes, shape.port, heap, shape.secure)

    @property
    def shape(self) -> Shape:
        """Node count, first port and security: what resuming its storage depends on."""
        return Shape(len(self.nodes), self.nodes[0].broker_port, self.secure)

    def node(self, node_id: int) -> NodeLayout:
        """The node with id ``node_id`` (1-based)."""
        for node in self.nodes:
            if node.node_id == node_id:
                return node
        raise KafkaLauncherError(
            f"the local Kafka cluster in {self.directory} has no node {node_id}; "
            f"its nodes are 1 to {len(self.nodes)}"
        )

    def cluster_id(self) -> str | None:
        """The id the first node's storage was formatted with; None before formatting."""
        return read_cluster_id(self.nodes[0])

    def stored_data(self) -> StoredData:
        """The cluster id, topics and size its nodes' storage holds now."""
        return stored_data(self.nodes)

    @property
    def bootstrap_servers(self) -> str:
        """The ``host:port`` list clients connect to."""
        return ",".join(f"127.0.0.1:{n.broker_port}" for n in self.nodes)

    @property
    def protocol(self) -> str:
        """The security protocol of the client listener."""
        return "SASL_SSL" if self.secure else "PLAINTEXT"

    @property
    def secure_files(self) -> SecureFiles:
        """Where a secure cluster keeps ca.pem, users.json and admin.env."""
        return SecureFiles(self.directory / "secure")

    def users(self) -> dict[str, str]:
        """The SCRAM logins of a secure cluster (principal -> password), from users.json."""
        if not self.secure:
            raise KafkaLauncherError(
                f"the local Kafka cluster in {self.directory} is not secure; it has no users"
            )
        return read_users(self.secure_files)

    def settings_for(self, user: str = ADMIN_USER) -> Settings:
        """Client settings that log in to this secure cluster as ``user`` (SCRAM-SHA-512)."""
        users = self.users()
        if user not in users:
            raise KafkaLauncherError(
                f"no user {user} in {self.secure_files.users_file}; "
                f"`streamworks kafka users add {user}` creates it"
            )
        return Settings(
            bootstrap_servers=self.bootstrap_servers,
            security_protocol="SASL_SSL",
            ssl_cafile=self.secure_files.cafile,
            ssl_certfile=None,
            ssl_keyfile=None,
            sasl_mechanism="SCRAM-SHA-512",
            sasl_username=user,
            sasl_password=SecretStr(users[user]),
            sasl_users_file=None,
        )

    def add_users(self, names: Iterable[str]) -> dict[str, str]:
        """Create SCRAM users (SHA-256 and SHA-512) for ``names`` not yet in users.json.

        Returns the new users with their passwords; users.json then lists them too. The
        users can log in but may do nothing until ACLs grant it.
        """
        users = self.users()
        fresh: dict[str, str] = {}
        for name in names:
            check_user_name(name)
            if name not in users and name not in fresh:
                fresh[name] = new_password()
        if not fresh:
            return {}
        admin = self.settings_for(ADMIN_USER)
        for mechanism in ("SCRAM-SHA-256", "SCRAM-SHA-512"):
            asyncio.run(scram.upsert_users(admin, fresh, mechanism))
        write_users(self.secure_files, {**users, **fresh})
        return fresh

    def status(self) -> list[NodeStatus]:
        """Each node with the pid of its JVM and whether it runs.

        The pid file is checked first; a node started some other way (by hand, by another
        process) is found by its server.properties among all processes.
        """
        recorded = {node: _read_pid(node.pid_path) for node in self.nodes}
        verified = {
            node: pid
            for node, pid in recorded.items()
            if pid is not None and _process.is_node_jvm(pid, str(node.properties_path))
        }
        found = _process.find_node_jvms(
            [str(node.properties_path) for node in self.nodes if node not in verified]
        )
        result = []
        for node in self.nodes:
            pid = verified.get(node, found.get(str(node.properties_path)))
            running = pid is not None
            result.append(NodeStatus(node=node, pid=pid or recorded[node], running=running))
        return result

    def is_running(self) -> bool:
        """True when at least one node's JVM is alive."""
        return any(s.running for s in self.status())

    def start(self, timeout: float = 120.0, *, fresh: bool = False) -> float:
        """Start every node and wait until all brokers answer and the cluster coordinates
        consumer groups.

        Storage the directory already holds is resumed: the same cluster id, topics, records
        and committed offsets. It must have been made for this cluster's ports and node
        count (:class:`ClusterShapeError` otherwise). ``fresh`` deletes what the directory
        holds and formats new storage; so does a directory with no formatted storage.

        Returns the seconds from launching the JVMs until the cluster answered a metadata
        request with every broker and an offset fetch for a group. On any failure, the nodes
        already started are stopped.
        """
        java = self.check_startable()
        stored = LocalCluster.load(self.directory)
        resume = not fresh and resumable(
            self.directory,
            self.nodes,
            self.shape,
            stored.shape if stored is not None else None,
            self.secure_files.users_file if self.secure else None,
        )
        libs = ensure_jars()
        if resume:
            write_shape(self.directory, self.shape, self.heap)  # the heap may change
        else:
            delete_storage(self.directory)
            listener = (
                create_secure_files(self.secure_files, self.bootstrap_servers)
                if self.secure
                else None
            )
            self._write_files(listener)
            format_storage(java, libs, self.nodes, listener)
        launched = time.monotonic()
        procs = [(node, self._launch(java, libs, node)) for node in self.nodes]
        try:
            self._wait_ready(procs, self.nodes, launched + timeout)
        except BaseException:
            self.stop(grace_seconds=5)
            raise
        logger.info(
            "%s Kafka cluster %s in %s",
            "resumed" if resume else "formatted",
            self.cluster_id(),
            self.directory,
        )
        return time.monotonic() - launched

    def check_startable(self) -> str:
        """Raise unless :meth:`start` could launch now: java is installed, nothing runs from
        the directory and the ports are free. Returns the path of ``java``."""
        java = find_java()
        for cluster in (self, LocalCluster.load(self.directory)):
            if cluster is not None and cluster.is_running():
                raise KafkaLauncherError(
                    f"a local Kafka cluster already runs from {self.directory}; "
                    "`streamworks kafka down` stops it"
                )
        self._check_ports(self.nodes)
        return java

    def start_nodes(self, node_ids: Collection[int], timeout: float = 120.0) -> float:
        """Start the given nodes that are stopped, on their own storage, and wait until the
        cluster lists them with the nodes already running and coordinates consumer groups.

        Refuses a node whose storage is not formatted, and a start that would leave fewer
        than a majority of the nodes running (no controller could be elected). Returns the
        seconds from launching until ready (0 when all of them already run); on failure the
        nodes it started are stopped again.
        """
        java = find_java()
        chosen = {self.node(node_id) for node_id in node_ids}
        states = self.status()
        running = {s.node for s in states if s.running}
        targets = [node for node in self.nodes if node in chosen and node not in running]
        if not targets:
            return 0.0
        formatted = self.stored_data().cluster_ids
        blank = [str(node.node_id) for node in targets if node.node_id not in formatted]
        if blank:
            raise KafkaLauncherError(
                f"node {', '.join(blank)} of the local Kafka cluster in {self.directory} has "
                "no formatted storage; `streamworks kafka up --fresh` formats the cluster anew"
            )
        serving = tuple(node for node in self.nodes if node in running or node in chosen)
        majority = len(self.nodes) // 2 + 1
        if len(serving) < majority:
            raise KafkaLauncherError(
                f"a {len(self.nodes)}-node cluster needs {majority} nodes running to elect a "
                f"controller, and only {len(serving)} would; `streamworks kafka up` starts "
                "all of them"
            )
        self._check_ports(targets)
        libs = ensure_jars()
        launched = time.monotonic()
        procs = [(node, self._launch(java, libs, node)) for node in targets]
        try:
            self._wait_ready(procs, serving, launched + timeout)
        except BaseException:
            self._stop([s for s in self.status() if s.node in targets], grace_seconds=5)
            raise
        return time.monotonic() - launched

    def stop(self, grace_seconds: float = 20.0) -> int:
        """Stop every node that runs from this directory; return how many were running."""
        return self._stop(self.status(), grace_seconds)

    def stop_node(self, node_id: int, grace_seconds: float = 20.0) -> bool:
        """Stop one node; return whether it was running."""
        node = self.node(node_id)
        return self._stop([s for s in self.status() if s.node == node], grace_seconds) > 0

    def purge(self) -> None:
        """Delete the cluster's folder (data, logs); the cluster must be stopped."""
        if self.is_running():
            raise KafkaLauncherError(f"cannot purge {self.directory}: the cluster is running")
        shutil.rmtree(self.directory, ignore_errors=True)

    # -- internals ---------------------------------------------------------------------

    def _check_ports(self, nodes: Iterable[NodeLayout]) -> None:
        for node in nodes:
            for port in (node.broker_port, node.controller_port):
                if not _process.port_is_free(port):
                    raise PortInUseError(port)

    def _write_files(self, listener: SecureListener | None = None) -> None:
        for node in self.nodes:
            node.data_dir.mkdir(parents=True, exist_ok=True)
            # a secure node's properties hold its key and the admin's password
            write_private(node.properties_path, server_properties(node, list(self.nodes), listener))
            (node.directory / "log4j2.properties").write_text(LOG4J2)
        write_shape(self.directory, self.shape, self.heap)

    def _launch(self, java: str, libs: Path, node: NodeLayout) -> subprocess.Popen[bytes]:
        proc = launch_server(java, libs, node, self.heap)
        _CHILDREN[proc.pid] = proc
        logger.info(
            "started Kafka node %d (pid %d) on 127.0.0.1:%d",
            node.node_id,
            proc.pid,
            node.broker_port,
        )
        return proc

    def _stop(self, states: Sequence[NodeStatus], grace_seconds: float) -> int:
        targets = [
            (s.pid, str(s.node.properties_path)) for s in states if s.pid is not None and s.running
        ]
        _process.terminate(targets, grace_seconds)
        for state in states:
            state.node.pid_path.unlink(missing_ok=True)
            child = _CHILDREN.pop(state.pid, None) if state.pid is not None else None
            if child is not None:
                child.wait(timeout=10)
        return len(targets)

    def _wait_ready(
        self,
        procs: list[tuple[NodeLayout, subprocess.Popen[bytes]]],
        serving: Sequence[NodeLayout],
        deadline: float,
    ) -> None:
        login = self.settings_for(ADMIN_USER) if self.secure else None
        wait_ready(procs, serving, deadline, login, str(self.directory))


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None
