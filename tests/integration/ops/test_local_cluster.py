"""The launcher on real JVMs: three nodes, replication, failures and clean shutdown."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import subprocess
import sys
from pathlib import Path

from aiokafka import TopicPartition
from aiokafka.admin import NewTopic

from streamworks.core.settings import Settings
from streamworks.kafka import clients
from streamworks.ops.kafka._process import free_port_block
from streamworks.testing import KafkaEndpoint, consume_until, produce, unique_name

CLI = [sys.executable, "-c", "from streamworks.ops.cli import main; main()"]
REPO = Path(__file__).resolve().parents[3]  # the reference project: pipeline orders


def _kafka_pids(marker: str) -> list[int]:
    found = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True, check=False)
    return [int(pid) for pid in found.stdout.split()]


async def test_three_nodes_serve_a_topic_replicated_three_times(
    kafka_cluster: KafkaEndpoint,
) -> None:
    assert kafka_cluster.brokers == 3
    topic = unique_name("replicated")
    admin = clients.admin_client(Settings(bootstrap_servers=kafka_cluster.bootstrap_servers))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=3)])
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    for partition in described[0]["partitions"]:
        assert sorted(partition["replicas"]) == [1, 2, 3]

    records = [(str(i).encode(), str(i).encode()) for i in range(100)]
    await produce(kafka_cluster.bootstrap_servers, topic, records)
    received = await consume_until(kafka_cluster.bootstrap_servers, topic, count=100)
    assert sorted(int(r.value or b"") for r in received) == list(range(100))


def test_cli_up_status_down_leaves_no_jvm(tmp_path: Path) -> None:
    port = free_port_block(2)
    directory = tmp_path / "cluster"
    up = subprocess.run(
        [*CLI, "kafka", "up", "--port", str(port), "--dir", str(directory)],
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
    )
    try:
        assert up.returncode == 0, up.stderr
        assert f"127.0.0.1:{port}" in up.stdout
        # the line that points every other command at it, ready to paste
        assert f"export STREAMWORKS_BOOTSTRAP_SERVERS=127.0.0.1:{port} " in up.stdout
        assert f"--bootstrap 127.0.0.1:{port}" in up.stdout
        status = subprocess.run(
            [*CLI, "kafka", "status", "--dir", str(directory)],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert status.returncode == 0
        assert "running" in status.stdout
        assert len(_kafka_pids(str(directory))) == 1
    finally:
        down = subprocess.run(
            [*CLI, "kafka", "down", "--dir", str(directory)],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
    assert down.returncode == 0, down.stderr
    assert "stopped 1 Kafka node(s)" in down.stdout
    assert _kafka_pids(str(directory)) == []


def test_groups_work_as_soon_as_up_returns(tmp_path: Path) -> None:
    """No GroupCoordinatorNotAvailableError right after `kafka up`: a group's offsets can be
    asked for at once, and `streamworks status` answers."""
    port = free_port_block(2)
    directory = tmp_path / "fresh"
    run = functools.partial(
        subprocess.run, capture_output=True, text=True, check=False, cwd=REPO, timeout=180
    )
    up = run([*CLI, "kafka", "up", "--port", str(port), "--dir", str(directory)])
    try:
        assert up.returncode == 0, up.stderr
        bootstrap = f"127.0.0.1:{port}"
        asyncio.run(_fetch_offsets_once(bootstrap, unique_name("fresh-group")))
        env = {**os.environ, "STREAMWORKS_BOOTSTRAP_SERVERS": bootstrap}
        status = run([*CLI, "status", "orders", "--json"], env=env)
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["pipeline"] == "orders"
    finally:
        down = run([*CLI, "kafka", "down", "--dir", str(directory)])
    assert down.returncode == 0, down.stderr


async def _fetch_offsets_once(bootstrap: str, group: str) -> None:
    """One FindCoordinator and OffsetFetch for ``group``, no retry: either answers or raises."""
    admin = clients.admin_client(Settings(bootstrap_servers=bootstrap))
    await admin.start()
    try:
        await admin.list_consumer_group_offsets(group, partitions=[TopicPartition("t", 0)])
    finally:
        await admin.close()


def test_a_broker_that_dies_while_starting_shows_its_log(tmp_path: Path) -> None:
    directory = tmp_path / "dies"
    result = subprocess.run(
        [
            *CLI,
            "kafka",
            "up",
            "--port",
            str(free_port_block(2)),
            "--dir",
            str(directory),
            "--heap",
            "1k",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: Kafka node 1 exited with code")
    assert "heap" in result.stderr.lower()  # the JVM's own complaint, from the log tail
    assert _kafka_pids(str(directory)) == []
