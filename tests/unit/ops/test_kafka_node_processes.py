"""Which processes count as a node of a local cluster, and which ones `down` and
`stop --node` may signal. Stand-ins carry a node's command line (``kafka.Kafka`` and its
server.properties) without being a JVM, so no broker starts."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamworks.ops.kafka import LocalCluster
from streamworks.ops.kafka._process import find_node_jvms, is_node_jvm

CLI = [sys.executable, "-c", "from streamworks.ops.cli import main; main()"]
_SLEEP = "import time; time.sleep(120)"


@pytest.fixture
def spawn() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test starts; each is killed and reaped at the end."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        proc.kill()
        proc.wait(timeout=10)


def _stand_in(spawn: list[subprocess.Popen[bytes]], *argv: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-c", _SLEEP, *argv])
    spawn.append(proc)
    return proc


def _node_jvm(spawn: list[subprocess.Popen[bytes]], properties: Path) -> subprocess.Popen[bytes]:
    """A process whose command line is a node's: started by hand, with no pid file."""
    return _stand_in(spawn, "kafka.Kafka", str(properties))


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, check=False, timeout=60)


def test_only_the_server_of_that_exact_properties_file_is_the_node(
    tmp_path: Path, spawn: list[subprocess.Popen[bytes]]
) -> None:
    properties = tmp_path / "node-1" / "server.properties"
    node = _node_jvm(spawn, properties)
    storage_tool = _stand_in(spawn, "kafka.tools.StorageTool", f"--config={properties}")
    other = _node_jvm(spawn, tmp_path / "node-11" / "server.properties")
    assert is_node_jvm(node.pid, str(properties))
    assert not is_node_jvm(storage_tool.pid, str(properties))
    assert not is_node_jvm(other.pid, str(properties))
    assert find_node_jvms([str(properties)]) == {str(properties): node.pid}


def test_a_node_started_by_hand_is_running_in_status_and_stopped_by_down(
    tmp_path: Path, spawn: list[subprocess.Popen[bytes]]
) -> None:
    cluster = LocalCluster.plan(tmp_path, nodes=3, port=19092)
    cluster._write_files()
    second = _node_jvm(spawn, cluster.nodes[1].properties_path)
    # the first node's pid file names a live process that is not that node (a recycled pid)
    unrelated = _stand_in(spawn)
    cluster.nodes[0].pid_path.write_text(f"{unrelated.pid}\n")

    document = json.loads(_cli("kafka", "status", "--json", "--dir", str(tmp_path)).stdout)
    assert [(n["running"], n["pid"]) for n in document["nodes"]] == [
        (False, unrelated.pid),
        (True, second.pid),
        (False, None),
    ]
    down = _cli("kafka", "down", "--dir", str(tmp_path))
    assert down.returncode == 0, down.stderr
    assert "stopped 1 Kafka node(s)" in down.stdout
    assert second.wait(timeout=30) is not None  # it was signalled and ended
    assert unrelated.poll() is None  # never signalled
    assert not cluster.is_running()


def test_stop_node_stops_that_node_only(
    tmp_path: Path, spawn: list[subprocess.Popen[bytes]]
) -> None:
    cluster = LocalCluster.plan(tmp_path, nodes=3, port=19092)
    cluster._write_files()
    nodes = [_node_jvm(spawn, node.properties_path) for node in cluster.nodes]
    stop = _cli("kafka", "stop", "--node", "2", "--dir", str(tmp_path))
    assert stop.returncode == 0, stop.stderr
    assert "stopped Kafka node 2; running: 1, 3" in stop.stdout
    assert nodes[1].wait(timeout=30) is not None
    assert nodes[0].poll() is None
    assert nodes[2].poll() is None
    assert [s.running for s in cluster.status()] == [True, False, True]
    again = _cli("kafka", "stop", "--node", "2", "--dir", str(tmp_path))
    assert "Kafka node 2 was not running" in again.stdout


def test_up_on_a_running_cluster_leaves_it_be(
    tmp_path: Path, spawn: list[subprocess.Popen[bytes]]
) -> None:
    cluster = LocalCluster.plan(tmp_path, nodes=1, port=19092)
    cluster._write_files()
    node = _node_jvm(spawn, cluster.nodes[0].properties_path)
    up = _cli("kafka", "up", "--dir", str(tmp_path))
    assert up.returncode == 0, up.stderr
    assert "is already running at 127.0.0.1:19092; nothing to do" in up.stdout
    start = _cli("kafka", "start", "--node", "1", "--dir", str(tmp_path))
    assert start.returncode == 0, start.stderr
    assert f"Kafka node 1 already runs (pid {node.pid})" in start.stdout
    fresh = _cli("kafka", "up", "--fresh", "--dir", str(tmp_path))
    assert fresh.returncode == 1
    [line] = fresh.stderr.strip().splitlines()
    assert "is running; `streamworks kafka down" in line
    assert node.poll() is None
    assert cluster.nodes[0].properties_path.is_file()
