"""The node configuration the launcher writes."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from streamworks.ops.kafka import LocalCluster, kafka_version
from streamworks.ops.kafka._files import server_properties
from streamworks.ops.kafka._jvm import java_argfile


def _props(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line)


def test_single_node_listens_on_the_port_and_the_next_one(tmp_path: Path) -> None:
    cluster = LocalCluster.plan(tmp_path, nodes=1, port=9092)
    props = _props(server_properties(cluster.nodes[0], list(cluster.nodes)))
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:9093"
    assert props["offsets.topic.replication.factor"] == "1"
    assert cluster.bootstrap_servers == "127.0.0.1:9092"


def test_three_nodes_form_one_quorum_with_replicated_internal_topics(tmp_path: Path) -> None:
    cluster = LocalCluster.plan(tmp_path, nodes=3, port=9092)
    assert [n.broker_port for n in cluster.nodes] == [9092, 9093, 9094]
    assert [n.controller_port for n in cluster.nodes] == [9095, 9096, 9097]
    for node in cluster.nodes:
        props = _props(server_properties(node, list(cluster.nodes)))
        assert props["node.id"] == str(node.node_id)
        assert props["controller.quorum.voters"] == (
            "1@127.0.0.1:9095,2@127.0.0.1:9096,3@127.0.0.1:9097"
        )
        assert props["advertised.listeners"] == f"PLAINTEXT://127.0.0.1:{node.broker_port}"
        assert props["offsets.topic.replication.factor"] == "3"
        assert props["min.insync.replicas"] == "2"
    assert cluster.bootstrap_servers == "127.0.0.1:9092,127.0.0.1:9093,127.0.0.1:9094"


def test_state_survives_a_reload(tmp_path: Path) -> None:
    cluster = LocalCluster.plan(tmp_path, nodes=3, port=30000)
    cluster._write_files()
    assert LocalCluster.load(tmp_path) == cluster
    assert LocalCluster.load(tmp_path / "nowhere") is None


def test_the_pinned_version_is_kafka_4() -> None:
    assert kafka_version().startswith("4.")


ECHO_ARGUMENTS = """
public class Echo {
    public static void main(String[] arguments) {
        for (String argument : arguments) System.out.println(argument);
    }
}
"""


def test_the_format_argument_file_gives_java_each_argument_unchanged(tmp_path: Path) -> None:
    # the admin's password reaches StorageTool only through this file, never the process list
    java = shutil.which("java")
    assert java is not None, "the Kafka launcher needs java on PATH"
    source = tmp_path / "Echo.java"
    source.write_text(ECHO_ARGUMENTS)
    arguments = ["format", "--add-scram=SCRAM-SHA-256=[name=admin,password=p w\"\\'$x]", "@not"]
    argfile = tmp_path / "echo.args"
    argfile.write_text(java_argfile([str(source), *arguments]))
    printed = subprocess.run([java, f"@{argfile}"], capture_output=True, text=True, check=True)
    assert printed.stdout.splitlines() == arguments
