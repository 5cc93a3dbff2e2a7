"""Bad situations end with one clear line and a non-zero exit, before any JVM starts."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from streamworks.ops.kafka import LocalCluster, PortInUseError, ToolMissingError
from streamworks.ops.kafka._process import free_port_block, is_node_jvm, port_is_free

CLI = [sys.executable, "-c", "from streamworks.ops.cli import main; main()"]


def _run(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, env=env, check=False, timeout=60
    )


def test_missing_java_is_one_line_and_exit_1(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path)}  # an empty folder: no java, no mvn
    result = _run(["kafka", "up", "--dir", str(tmp_path / "c"), "--port", "19192"], env)
    assert result.returncode == 1
    assert result.stderr.strip().startswith("error: `java` was not found on PATH")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_taken_port_is_refused_before_starting(tmp_path: Path) -> None:
    base = free_port_block(2)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", base + 1))
        holder.listen()
        assert not port_is_free(base + 1)
        result = _run(["kafka", "up", "--dir", str(tmp_path), "--port", str(base)])
    assert result.returncode == 1
    assert f"port {base + 1} on 127.0.0.1 is already in use" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_errors_are_typed(tmp_path: Path) -> None:
    assert issubclass(PortInUseError, Exception)
    assert "not found on PATH" in str(ToolMissingError("mvn", "install Maven"))
    cluster = LocalCluster.plan(tmp_path, nodes=1, port=free_port_block(2))
    assert not cluster.is_running()
    assert cluster.stop() == 0  # nothing started: nothing to stop, no error


def test_a_recycled_pid_is_never_taken_for_ours() -> None:
    # a live pid that is not a Kafka server (a pid file left behind, the pid reused)
    assert not is_node_jvm(os.getpid(), "/no/such/server.properties")
