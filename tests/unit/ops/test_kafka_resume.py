"""What `kafka up` does with a directory that already holds a cluster, before any JVM starts:
resume it, refuse another shape in one line, and say what --fresh would delete."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from streamworks.ops.kafka import ClusterShapeError, KafkaLauncherError, LocalCluster
from streamworks.ops.kafka._process import free_port_block
from streamworks.ops.kafka._storage import delete_storage

CLI = [sys.executable, "-c", "from streamworks.ops.cli import main; main()"]


def _formatted(directory: Path, nodes: int, port: int, cluster_id: str = "abcDEF") -> LocalCluster:
    """A cluster whose files and storage look like `kafka up` made them, with no JVM."""
    cluster = LocalCluster.plan(directory, nodes=nodes, port=port)
    cluster._write_files()
    for node in cluster.nodes:
        (node.data_dir / "meta.properties").write_text(
            f"#\nnode.id={node.node_id}\nversion=1\ncluster.id={cluster_id}\n"
        )
    return cluster


def _partition(cluster: LocalCluster, topic: str, partition: int, size: int) -> None:
    folder = cluster.nodes[0].data_dir / f"{topic}-{partition}"
    folder.mkdir()
    (folder / "00000000000000000000.log").write_bytes(b"x" * size)


def test_the_stored_data_names_the_cluster_and_its_topics(tmp_path: Path) -> None:
    cluster = _formatted(tmp_path, nodes=1, port=19092, cluster_id="q1w2e3")
    _partition(cluster, "orders.raw", 0, 1_000_000)
    _partition(cluster, "orders.raw", 1, 500_000)
    _partition(cluster, "_schemas", 0, 10)
    _partition(cluster, "__consumer_offsets", 3, 10)  # internal: not a topic of the user's
    data = cluster.stored_data()
    assert data.cluster_id == "q1w2e3"
    assert cluster.cluster_id() == "q1w2e3"
    assert data.topics == ("_schemas", "orders.raw")
    line = data.describe(tmp_path)
    assert line.startswith(f"deleting Kafka cluster q1w2e3 in {tmp_path}: 2 topic(s)")
    assert "_schemas, orders.raw" in line
    assert "committed offsets (1.5 MB)" in line
    assert "\n" not in line


def test_fresh_deletes_the_nodes_and_logins_and_nothing_else(tmp_path: Path) -> None:
    cluster = _formatted(tmp_path, nodes=3, port=19092)
    (tmp_path / "secure").mkdir()
    (tmp_path / "notes.txt").write_text("mine")
    delete_storage(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cluster.json", "notes.txt"]
    assert cluster.cluster_id() is None


def test_another_node_count_or_port_is_refused_before_any_jvm(tmp_path: Path) -> None:
    port = free_port_block(6)
    _formatted(tmp_path, nodes=1, port=port)
    with pytest.raises(ClusterShapeError) as raised:
        LocalCluster.plan(tmp_path, nodes=3, port=port).start()
    assert f"has 1 node(s) on port {port}, not 3 node(s) on ports {port}-{port + 2}" in str(
        raised.value
    )
    result = subprocess.run(
        [*CLI, "kafka", "up", "--dir", str(tmp_path), "--port", str(port + 1)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"error: the local Kafka cluster in {tmp_path} has 1 node(s) on port")
    assert "--fresh" in line
    assert LocalCluster.load(tmp_path) == LocalCluster.plan(tmp_path, nodes=1, port=port)
    assert (tmp_path / "node-1" / "data" / "meta.properties").is_file()  # nothing deleted


def test_storage_formatted_on_some_nodes_only_is_not_resumed(tmp_path: Path) -> None:
    cluster = _formatted(tmp_path, nodes=3, port=free_port_block(6))
    (cluster.nodes[2].data_dir / "meta.properties").unlink()
    with pytest.raises(KafkaLauncherError, match=r"node 3 has no formatted storage; .*--fresh"):
        cluster.start()


def test_one_node_alone_is_not_started_without_a_quorum(tmp_path: Path) -> None:
    cluster = _formatted(tmp_path, nodes=3, port=free_port_block(6))
    with pytest.raises(KafkaLauncherError, match="needs 2 nodes running"):
        cluster.start_nodes([1])
    with pytest.raises(KafkaLauncherError, match="has no node 4; its nodes are 1 to 3"):
        cluster.start_nodes([4])


def test_a_node_without_formatted_storage_is_not_started(tmp_path: Path) -> None:
    cluster = LocalCluster.plan(tmp_path, nodes=1, port=free_port_block(2))
    cluster._write_files()
    with pytest.raises(KafkaLauncherError, match=r"node 1 .* has no formatted storage"):
        cluster.start_nodes([1])
