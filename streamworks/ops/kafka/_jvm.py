"""The JVMs of a local cluster: formatting a node's storage and launching its server."""

from __future__ import annotations

import base64
import shutil
import subprocess
import uuid
from collections.abc import Iterable
from pathlib import Path

from streamworks.ops.kafka._files import ADMIN_USER, NodeLayout, SecureListener, write_private
from streamworks.ops.kafka.errors import KafkaLauncherError, ToolMissingError

__all__ = ["find_java", "format_storage", "java_argfile", "launch_server"]


def find_java() -> str:
    """The ``java`` on PATH, or a one-line error saying how to install one."""
    java = shutil.which("java")
    if java is None:
        raise ToolMissingError(
            "java", "install a Java 17+ runtime (apt-get install openjdk-17-jre)"
        )
    return java


def jvm_command(java: str, libs: Path, node: NodeLayout, heap: str) -> list[str]:
    """``java`` with the node's heap, logging and the Kafka jars on the class path."""
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


def format_storage(
    java: str, libs: Path, nodes: Iterable[NodeLayout], listener: SecureListener | None
) -> str:
    """Format every node's storage with one new cluster id, and return that id."""
    cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    scram_users = []
    if listener is not None:
        # brokers log in to each other as the admin, so it must exist before they start
        for mechanism in ("SCRAM-SHA-256", "SCRAM-SHA-512"):
            login = f"name={ADMIN_USER},password={listener.admin_password}"
            scram_users.append(f"--add-scram={mechanism}=[{login}]")
    procs = []
    for node in nodes:
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
        write_private(argfile, java_argfile(arguments))
        command = [*jvm_command(java, libs, node, "256m"), f"@{argfile}"]
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
    return cluster_id


def launch_server(java: str, libs: Path, node: NodeLayout, heap: str) -> subprocess.Popen[bytes]:
    """Start the node's server JVM on its storage, in a session of its own, and record its
    pid in the node's pid file."""
    command = [*jvm_command(java, libs, node, heap), "kafka.Kafka", str(node.properties_path)]
    with node.console_path.open("wb") as console:
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=console,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in the terminal must not kill the broker
            cwd=node.directory,
        )
    node.pid_path.write_text(f"{proc.pid}\n")
    return proc


def java_argfile(arguments: Iterable[str]) -> str:
    """``arguments`` as a java launcher argument file: one per line, each in double quotes
    with backslashes and quotes escaped, so spaces and symbols in a password survive."""
    quoted = (
        '"' + argument.replace("\\", "\\\\").replace('"', '\\"') + '"' for argument in arguments
    )
    return "\n".join(quoted) + "\n"
