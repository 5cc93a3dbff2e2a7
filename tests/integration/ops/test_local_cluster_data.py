"""The local cluster's data through the CLI on real JVMs: `kafka up` again leaves a running
cluster be, `--fresh` formats a stopped one, and one node of three stops and starts on its
own while the others serve."""

from __future__ import annotations

import asyncio
import functools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import NewTopic

from streamworks.core.settings import Settings
from streamworks.kafka import clients
from streamworks.ops.kafka._process import free_port_block
from streamworks.testing import consume_until, produce, unique_name, wait_for

CLI = [sys.executable, "-c", "from streamworks.ops.cli import main; main()"]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "kafka", *args], capture_output=True, text=True, check=False, timeout=240
    )


def _status(directory: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(_cli("status", "--json", "--dir", str(directory)).stdout)
    return document


def _kafka_pids(directory: Path) -> list[int]:
    found = subprocess.run(
        ["pgrep", "-f", f"kafka.Kafka {directory}/"], capture_output=True, text=True, check=False
    )
    return [int(pid) for pid in found.stdout.split()]


async def _create(bootstrap: str, topic: str, replication: int) -> None:
    admin = clients.admin_client(Settings(bootstrap_servers=bootstrap))
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(topic, num_partitions=1, replication_factor=replication)]
        )
    finally:
        await admin.close()


async def _topics(bootstrap: str) -> list[str]:
    admin = clients.admin_client(Settings(bootstrap_servers=bootstrap))
    await admin.start()
    try:
        return list(await admin.list_topics())
    finally:
        await admin.close()


async def _in_sync(bootstrap: str, topic: str, nodes: list[int]) -> bool:
    admin = clients.admin_client(Settings(bootstrap_servers=bootstrap))
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return all(sorted(p["isr"]) == nodes for p in described["partitions"])


async def _commit(bootstrap: str, group: str, topic: str, offset: int) -> None:
    # No auto-commit: on stop it would commit the consumer's own position (the log end,
    # once the fetcher has reset it) over the offset this helper commits.
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, 0)])
        await consumer.commit({TopicPartition(topic, 0): offset})
    finally:
        await consumer.stop()


async def _committed(bootstrap: str, group: str, topic: str) -> int | None:
    admin = clients.admin_client(Settings(bootstrap_servers=bootstrap))
    await admin.start()
    try:
        found = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    committed = found.get(TopicPartition(topic, 0))
    return committed.offset if committed is not None else None


@pytest.mark.timeout(360)
def test_up_again_leaves_a_running_cluster_and_fresh_formats_a_stopped_one(
    tmp_path: Path,
) -> None:
    # That `down` and a plain `up` keep records, schemas and committed offsets is chaos
    # scenario d (tests/chaos/test_cluster_restart.py), with a pipeline running across it.
    port = free_port_block(2)
    directory = tmp_path / "kept"
    bootstrap = f"127.0.0.1:{port}"
    topic, group = unique_name("kept"), unique_name("kept-group")
    records = [(str(i).encode(), f"order {i}".encode()) for i in range(50)]
    try:
        first = _cli("up", "--port", str(port), "--dir", str(directory), "--heap", "256m")
        assert first.returncode == 0, first.stderr
        assert "new cluster" in first.stdout
        cluster_id = _status(directory)["cluster_id"]
        assert cluster_id
        asyncio.run(_create(bootstrap, topic, replication=1))
        asyncio.run(produce(bootstrap, topic, records))
        asyncio.run(_commit(bootstrap, group, topic, offset=37))
        assert asyncio.run(_committed(bootstrap, group, topic)) == 37

        again = _cli("up", "--dir", str(directory))
        assert again.returncode == 0, again.stderr
        assert "is already running" in again.stdout
        assert f"export STREAMWORKS_BOOTSTRAP_SERVERS={bootstrap} " in again.stdout

        down = _cli("down", "--dir", str(directory))
        assert down.returncode == 0, down.stderr
        assert _kafka_pids(directory) == []

        fresh = _cli("up", "--fresh", "--dir", str(directory))  # port and heap: the directory's
        assert fresh.returncode == 0, fresh.stderr
        [deleting] = [line for line in fresh.stdout.splitlines() if line.startswith("deleting")]
        assert deleting.startswith(f"deleting Kafka cluster {cluster_id} in {directory}: 1 topic")
        assert topic in deleting
        assert _status(directory)["cluster_id"] not in (None, cluster_id)
        assert topic not in asyncio.run(_topics(bootstrap))
        assert asyncio.run(_committed(bootstrap, group, topic)) is None
    finally:
        _cli("down", "--dir", str(directory))
    assert _kafka_pids(directory) == []


@pytest.mark.timeout(420)
def test_one_node_of_three_stops_and_starts_while_the_others_serve(tmp_path: Path) -> None:
    port = free_port_block(6)
    directory = tmp_path / "three"
    bootstrap = ",".join(f"127.0.0.1:{port + i}" for i in range(3))
    topic = unique_name("three")
    try:
        up = _cli("up", "--nodes", "3", "--port", str(port), "--dir", str(directory))
        assert up.returncode == 0, up.stderr
        asyncio.run(_create(bootstrap, topic, replication=3))
        asyncio.run(produce(bootstrap, topic, [(b"a", b"before")]))

        stop = _cli("stop", "--node", "2", "--dir", str(directory))
        assert stop.returncode == 0, stop.stderr
        assert "stopped Kafka node 2; running: 1, 3" in stop.stdout
        assert [n["running"] for n in _status(directory)["nodes"]] == [True, False, True]
        # acks=all with two of three replicas in sync (min.insync.replicas=2)
        asyncio.run(produce(bootstrap, topic, [(b"b", b"while node 2 is down")]))
        read = asyncio.run(consume_until(bootstrap, topic, count=2))
        assert [r.value for r in read] == [b"before", b"while node 2 is down"]

        start = _cli("start", "--node", "2", "--dir", str(directory))
        assert start.returncode == 0, start.stderr
        assert "Kafka node 2 ready" in start.stdout
        nodes = _status(directory)["nodes"]
        assert [n["running"] for n in nodes] == [True, True, True]
        assert sorted(_kafka_pids(directory)) == sorted(n["pid"] for n in nodes)
        # the restarted node catches up on its own data: back among the in-sync replicas
        asyncio.run(
            wait_for(
                functools.partial(_in_sync, bootstrap, topic, [1, 2, 3]),
                timeout=60,
                what=f"node 2 back in the in-sync replicas of {topic}",
            )
        )

        # `up` on a cluster with a node stopped starts just that node
        assert _cli("stop", "--node", "3", "--dir", str(directory)).returncode == 0
        up_again = _cli("up", "--dir", str(directory))
        assert up_again.returncode == 0, up_again.stderr
        assert "started node(s) 3" in up_again.stdout
        assert [n["running"] for n in _status(directory)["nodes"]] == [True, True, True]
    finally:
        down = _cli("down", "--dir", str(directory))
    assert down.returncode == 0, down.stderr
    assert "stopped 3 Kafka node(s)" in down.stdout
    assert _kafka_pids(directory) == []
