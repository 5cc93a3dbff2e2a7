"""Start, inspect and stop a local KRaft Kafka cluster made of Maven-fetched jars.

Each node is one JVM acting as broker and controller. A cluster lives in one directory:
``cluster.json`` describes it, and each ``node-N/`` holds that node's configuration, data,
log and pid file. Stopping signals only pids whose command line names that directory, so
``down`` never touches a JVM it did not start.

A secure cluster (``secure=True``) serves SASL_SSL only, checks ACLs, and keeps its CA,
certificate and logins in ``secure/`` (see :func:`streamworks.ops.kafka._files.secure_settings`).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from aiokafka.conn import create_conn
from aiokafka.errors import KafkaError
from aiokafka.protocol.metadata import MetadataRequest
from pydantic import SecretStr

from streamworks.core.settings import Settings
from streamworks.kafka.clients import security_options
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
from streamworks.ops.kafka.errors import (
    BrokerDiedError,
    BrokerNotReadyError,
    KafkaLauncherError,
    PortInUseError,
    ToolMissingError,
)
from streamworks.ops.kafka.jars import ensure_jars
from streamworks.ops.kafka.readiness import group_coordination_problem

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

_STATE_FILE = "cluster.json"

# Brokers started by this process, kept so they can be reaped when stopped (and so Python
# does not warn about a Popen object collected while its process still runs).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class NodeStatus:
    """What one node of a local cluster is doing right now."""

    node: NodeLayout
    """Where the node listens and keeps its files."""
    pid: int | None
    """The pid recorded when it started, if any."""
    running: bool
    """True when that pid is alive and is this node's JVM."""


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
        try:
            state = json.loads((directory / _STATE_FILE).read_text())
        except (OSError, ValueError):
            return None
        return cls.plan(
            directory,
            nodes=state["nodes"],
            port=state["port"],
            heap=state["heap"],
            secure=state.get("secure", False),
        )

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
        """Each node with its recorded pid and whether that process is alive."""
        result = []
        for node in self.nodes:
            pid = _read_pid(node.pid_path)
            alive = pid is not None and _process.is_our_process(pid, str(node.properties_path))
            result.append(NodeStatus(node=node, pid=pid, running=alive))
        return result

    def is_running(self) -> bool:
        """True when at least one node's JVM is alive."""
        return any(s.running for s in self.status())

    def start(self, timeout: float = 120.0) -> float:
        """Format fresh storage, start every node and wait until all brokers answer and the
        cluster coordinates consumer groups.

        Returns the seconds from launching the JVMs until the cluster answered a metadata
        request with every broker and an offset fetch for a group. On any failure, the nodes
        already started are stopped.
        """
        java = shutil.which("java")
        if java is None:
            raise ToolMissingError(
                "java", "install a Java 17+ runtime (apt-get install openjdk-17-jre)"
            )
        if self.is_running():
            raise KafkaLauncherError(
                f"a local Kafka cluster already runs from {self.directory}; "
                "`streamworks kafka down` stops it"
            )
        for node in self.nodes:
            for port in (node.broker_port, node.controller_port):
                if not _process.port_is_free(port):
                    raise PortInUseError(port)
        libs = ensure_jars()
        listener = (
            create_secure_files(self.secure_files, self.bootstrap_servers) if self.secure else None
        )
        self._write_files(listener)
        self._format(java, libs, listener)
        launched = time.monotonic()
        procs = [(node, self._launch(java, libs, node)) for node in self.nodes]
        try:
            self._wait_ready(procs, launched + timeout)
        except BaseException:
            self.stop(grace_seconds=5)
            raise
        return time.monotonic() - launched

    def stop(self, grace_seconds: float = 20.0) -> int:
        """Stop every node this cluster started; return how many were running."""
        states = self.status()
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

    def purge(self) -> None:
        """Delete the cluster's folder (data, logs); the cluster must be stopped."""
        if self.is_running():
            raise KafkaLauncherError(f"cannot purge {self.directory}: the cluster is running")
        shutil.rmtree(self.directory, ignore_errors=True)

    # -- internals ---------------------------------------------------------------------

    def _write_files(self, listener: SecureListener | None = None) -> None:
        for node in self.nodes:
            shutil.rmtree(node.directory, ignore_errors=True)
            node.data_dir.mkdir(parents=True)
            # a secure node's properties hold its key and the admin's password
            write_private(node.properties_path, server_properties(node, list(self.nodes), listener))
            (node.directory / "log4j2.properties").write_text(LOG4J2)
        first = self.nodes[0]
        state = {
            "nodes": len(self.nodes),
            "port": first.broker_port,
            "heap": self.heap,
            "secure": self.secure,
        }
        (self.directory / _STATE_FILE).write_text(json.dumps(state) + "\n")

    def _jvm(self, java: str, libs: Path, node: NodeLayout, heap: str) -> list[str]:
        return [
            java,
            f"-Xmx{heap}",
            "-Xms128m",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={node.directory / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={node.directory}",
            "-cp",
            f"{libs}/*",
        ]

    def _format(self, java: str, libs: Path, listener: SecureListener | None) -> None:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        scram_users = []
        if listener is not None:
            # brokers log in to each other as the admin, so it must exist before they start
            for mechanism in ("SCRAM-SHA-256", "SCRAM-SHA-512"):
                login = f"name={ADMIN_USER},password={listener.admin_password}"
                scram_users.append(f"--add-scram={mechanism}=[{login}]")
        procs = []
        for node in self.nodes:
            arguments = [
                "kafka.tools.StorageTool",
                "format",
                "--ignore-formatted",
                # "=" form: a random id may start with "-", which argparse takes for a flag
                f"--cluster-id={cluster_id}",
                f"--config={node.properties_path}",
                *scram_users,
            ]
            # The main class and its arguments go in a private argument file that the java
            # launcher expands, so the admin's password never shows in the process list.
            argfile = node.directory / "format.args"
            write_private(argfile, _java_argfile(arguments))
            command = [*self._jvm(java, libs, node, "256m"), f"@{argfile}"]
            procs.append(
                (
                    node,
                    argfile,
                    subprocess.Popen(
                        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
                    ),
                )
            )
        for node, argfile, proc in procs:
            try:
                output, _ = proc.communicate(timeout=120)
            finally:
                argfile.unlink(missing_ok=True)
            if proc.returncode != 0:
                tail = "\n".join(output.strip().splitlines()[-10:])
                raise KafkaLauncherError(
                    f"formatting storage of Kafka node {node.node_id} failed:\n{tail}"
                )

    def _launch(self, java: str, libs: Path, node: NodeLayout) -> subprocess.Popen[bytes]:
        command = [
            *self._jvm(java, libs, node, self.heap),
            "kafka.Kafka",
            str(node.properties_path),
        ]
        with node.console_path.open("wb") as console:
            proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C in the terminal must not kill the broker
                cwd=node.directory,
            )
        _CHILDREN[proc.pid] = proc
        node.pid_path.write_text(f"{proc.pid}\n")
        logger.info(
            "started Kafka node %d (pid %d) on 127.0.0.1:%d",
            node.node_id,
            proc.pid,
            node.broker_port,
        )
        return proc

    def _wait_ready(
        self, procs: list[tuple[NodeLayout, subprocess.Popen[bytes]]], deadline: float
    ) -> None:
        expected = len(self.nodes)
        seen = 0
        groups: str | None = "not asked yet"
        while time.monotonic() < deadline:
            for node, proc in procs:
                if proc.poll() is not None:
                    raise BrokerDiedError(node.node_id, proc.returncode, _log_tail(node))
            if all(_process.port_accepts(n.broker_port) for n in self.nodes):
                login = self.settings_for(ADMIN_USER) if self.secure else None
                seen = asyncio.run(brokers_in_metadata(self.bootstrap_servers, login))
                if seen >= expected:
                    # a consumer group (a worker, `streamworks status`) works from the start
                    groups = asyncio.run(group_coordination_problem(self.bootstrap_servers, login))
                    if groups is None:
                        return
            time.sleep(0.2)
        if seen >= expected:
            raise BrokerNotReadyError(
                f"the local Kafka cluster in {self.directory} answers but could not coordinate "
                f"consumer groups in time ({groups}); see {self.nodes[0].log_path}"
            )
        raise BrokerNotReadyError(
            f"the local Kafka cluster in {self.directory} did not report {expected} broker(s) "
            f"in time (last saw {seen}); see {self.nodes[0].log_path}"
        )


async def brokers_in_metadata(bootstrap_servers: str, settings: Settings | None = None) -> int:
    """How many brokers a metadata answer lists, or 0 when no broker answers.

    ``settings`` give the TLS and login of a secure cluster. The probe opens one connection
    of its own and returns only once that connection is closed: ``AIOKafkaClient`` closes its
    bootstrap connection without waiting, and closing TLS takes a round trip to the broker,
    so the ``asyncio.run`` around a probe could close its loop first and leave the socket
    open (a ResourceWarning in whichever test the garbage collector later ran in).
    """
    options = security_options(settings) if settings is not None else {}
    for address in bootstrap_servers.split(","):
        host, _, port = address.strip().rpartition(":")
        try:
            conn = await create_conn(host, int(port), request_timeout_ms=3000, **options)
        except (OSError, KafkaError, TimeoutError):
            continue  # not answering (yet); create_conn closed what it opened
        try:
            metadata = await conn.send(MetadataRequest([]))
        except (KafkaError, TimeoutError):
            continue
        finally:
            await conn.close()  # resolves once the socket is closed
        return len(metadata.brokers)
    return 0


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _log_tail(node: NodeLayout) -> str:
    server_log = _process.tail(node.log_path)
    console = _process.tail(node.console_path)
    if "ERROR" in server_log or "does not exist" in console or "is empty" in console:
        return server_log
    return f"{server_log}\n--- console ---\n{console}"


def _java_argfile(arguments: Iterable[str]) -> str:
    """``arguments`` as a java launcher argument file: one per line, each in double quotes
    with backslashes and quotes escaped, so spaces and symbols in a password survive."""
    quoted = (
        '"' + argument.replace("\\", "\\\\").replace('"', '\\"') + '"' for argument in arguments
    )
    return "\n".join(quoted) + "\n"
