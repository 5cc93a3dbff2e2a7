"""``streamworks kafka status --json``: one document with stable keys, for scripts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from streamworks.ops.kafka import LocalCluster
from streamworks.ops.kafka.render import status_document

CLI = [sys.executable, "-m", "streamworks"]
KEYS = {
    "kafka_version",
    "directory",
    "bootstrap_servers",
    "protocol",
    "cluster_id",
    "running",
    "nodes",
}


def test_without_a_cluster_the_document_says_so_and_the_exit_is_1(tmp_path: Path) -> None:
    result = subprocess.run(
        [*CLI, "kafka", "status", "--json", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 1
    document = json.loads(result.stdout)
    assert set(document) == KEYS
    assert document["running"] is False
    assert document["nodes"] == []


def test_each_node_has_its_whole_addresses_and_log(tmp_path: Path) -> None:
    cluster = LocalCluster.plan(tmp_path, nodes=3, port=19092)
    document = status_document(cluster, str(tmp_path))
    assert set(document) == KEYS
    assert document["bootstrap_servers"] == "127.0.0.1:19092,127.0.0.1:19093,127.0.0.1:19094"
    assert [n["broker"] for n in document["nodes"]] == [
        "127.0.0.1:19092",
        "127.0.0.1:19093",
        "127.0.0.1:19094",
    ]
    first = document["nodes"][0]
    assert set(first) == {"node_id", "running", "pid", "broker", "controller", "log"}
    assert first["controller"] == "127.0.0.1:19095"
    assert first["log"] == str(tmp_path / "node-1" / "server.log")
    assert first["running"] is False
    assert first["pid"] is None
    json.dumps(document)  # JSON-ready as it is
