"""Scenario d (issue 21): ``streamworks kafka down`` and ``kafka up`` under a running
pipeline, on a one-node and on a three-node local cluster of the test's own (its own
directory, ports, registry topic; never the default cluster).

``streamworks run`` runs the chaos pipeline exactly-once while 2,000 orders are fed. Then,
with the workers still running, the registry stops and ``kafka down`` stops every node;
``kafka up`` on the same directory (no ``--fresh``) brings the cluster back and the
registry starts again on the same port from its ``_schemas`` topic. Another 2,000 orders
follow and the pipeline must finish them.

What a user cares about (issue 21 found ``kafka up`` formatting the directory: every
topic, ``_schemas`` and the committed offsets gone): the cluster id is the same, every
record the brokers had acknowledged is still there (end offsets of every topic of the
pipeline no lower than before ``down``), so are the registry's subjects with the same ids
and the stages' committed offsets, the same ``run`` resumes on its own, and in the end
every acknowledged order is out once with the right totals.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiokafka import TopicPartition

from streamworks.ops.kafka._process import free_port_block
from streamworks.schemas.registry_client import RegistryClient
from streamworks.testing import KafkaEndpoint, unique_name
from streamworks.testing.registry import RegistryThread
from tests.chaos.harness import Chaos, Feed, chaos_copy, committed, end_offsets, orders, record
from tests.chaos.outside import RunProcess, caught_up_under, cli

ORDERS = 2_000
"""Orders fed before ``down``, and again after ``up``."""
RATE = 400
POOLS = {"tag": 1, "totals": 1}
OUTPUTS = ("in", "tagged", "totals")


@dataclass(frozen=True)
class Snapshot:
    """What the cluster holds for the pipeline at one moment."""

    ends: dict[TopicPartition, int]
    """End offsets of the pipeline's topics."""
    offsets: dict[TopicPartition, int]
    """The stages' committed offsets."""
    schemas: dict[str, int]
    """Registry subject -> id of its latest schema."""


class Cluster:
    """A local cluster run through the CLI in a directory of its own, with a registry."""

    def __init__(self, directory: Path, nodes: int) -> None:
        self.directory = directory
        self.nodes = nodes
        port = free_port_block(2 * nodes)
        self.bootstrap = ",".join(f"127.0.0.1:{port + i}" for i in range(nodes))
        self.registry_port = free_port_block(1)
        self.schemas_topic = unique_name("_schemas")
        self.registry: RegistryThread | None = None
        self.first_up = ("--nodes", str(nodes), "--port", str(port), "--heap", "256m")

    def kafka(self, *args: str, codes: tuple[int, ...] = (0,)) -> str:
        return cli("kafka", *args, "--dir", str(self.directory), codes=codes)

    def up(self, *args: str) -> str:
        """``kafka up``, then the registry on its port and topic; returns up's output."""
        said = self.kafka("up", *args)
        self.registry = RegistryThread(
            self.bootstrap, topic=self.schemas_topic, port=self.registry_port
        ).start()
        return said

    def down(self) -> str:
        """The registry, then ``kafka down``; returns down's output."""
        if self.registry is not None:
            self.registry.stop()
            self.registry = None
        return self.kafka("down")

    @property
    def registry_url(self) -> str:
        return f"http://127.0.0.1:{self.registry_port}"

    def status(self) -> dict[str, Any]:
        # exit 1 says the cluster is not (wholly) running; the document says the rest
        found: dict[str, Any] = json.loads(self.kafka("status", "--json", codes=(0, 1)))
        return found

    def schemas(self) -> dict[str, int]:
        client = RegistryClient(self.registry_url)
        return {subject: client.latest(subject).schema_id for subject in client.subjects()}

    async def snapshot(self, chaos: Chaos) -> Snapshot:
        ends: dict[TopicPartition, int] = {}
        for suffix in OUTPUTS:
            ends.update(
                await end_offsets(chaos.settings, f"{chaos.name}.{suffix}", chaos.partitions)
            )
        offsets = {
            tp: offset
            for stage in ("tag", "totals")
            for tp, offset in (await committed(chaos.settings, chaos.group(stage))).items()
        }
        return Snapshot(ends, offsets, self.schemas())


@pytest.fixture(params=[1, 3], ids=["one-node", "three-nodes"])
def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    made = Cluster(tmp_path / "kafka", nodes=request.param)
    try:
        made.up(*made.first_up)
        yield made
    finally:
        made.down()


def _behind(before: dict[TopicPartition, int], after: dict[TopicPartition, int]) -> list[str]:
    """Partitions missing after, or lower than before."""
    return [f"{tp.topic}[{tp.partition}]" for tp, n in before.items() if after.get(tp, -1) < n]


@pytest.mark.timeout(420)
async def test_kafka_down_and_up_keep_records_schemas_and_offsets(
    cluster: Cluster, tmp_path: Path
) -> None:
    endpoint = KafkaEndpoint(cluster.bootstrap, "local", cluster.nodes)
    chaos = await chaos_copy(endpoint, cluster.registry_url, "exactly-once")
    cluster_id = cluster.status()["cluster_id"]
    feed = Feed(chaos, RATE)
    began = time.monotonic()
    run = RunProcess(chaos, POOLS, tmp_path / "state", chaos.logs / "run.log")
    try:
        await run.started()
        await feed.run(orders(ORDERS))
        before = await cluster.snapshot(chaos)
        stopping = time.monotonic()
        cluster.down()
        down_s = time.monotonic() - stopping
        assert not any(n["running"] for n in cluster.status()["nodes"])
        starting = time.monotonic()
        said = cluster.up()
        up_s = time.monotonic() - starting
        after = await cluster.snapshot(chaos)
        await feed.run(orders(ORDERS, start=ORDERS))
        await caught_up_under(chaos, run, within_s=180)
        resumed_s = time.monotonic() - starting
        code = await run.stop()
    finally:
        run.kill()
    figures = await chaos.check(feed)
    exits = run.output().count("exited with")
    lost = {
        "records": _behind(before.ends, after.ends),
        "offsets": _behind(before.offsets, after.offsets),
        "schemas": sorted(s for s, id_ in before.schemas.items() if after.schemas.get(s) != id_),
    }
    record(
        f"cluster-restart-{cluster.nodes}",
        {
            **figures.as_report(),
            "scenario": f"d. kafka down/up, {cluster.nodes} node" + "s" * (cluster.nodes > 1),
            "guarantee": chaos.guarantee,
            "detail": f"down {down_s:.1f} s, up {up_s:.1f} s; kept {len(before.ends)} partitions' "
            f"end offsets ({sum(before.ends.values()):,} in all), {len(before.schemas)} subjects, "
            f"{len(before.offsets)} committed offsets; caught up {resumed_s:.1f} s after up, "
            f"{exits} worker exits",
            "kept": {name: not missing for name, missing in lost.items()},
            "missing": lost,
            "down_s": round(down_s, 1),
            "up_s": round(up_s, 1),
            "worker_exits": exits,
            "caught_up_after_up_s": round(resumed_s, 1),
            "seconds": round(time.monotonic() - began, 1),
        },
    )
    assert f"resumed cluster {cluster_id}" in said
    assert cluster.status()["cluster_id"] == cluster_id
    assert before.schemas and before.offsets
    assert lost == {"records": [], "offsets": [], "schemas": []}
    assert code == 0, run.output()
    assert figures.events_in == 2 * ORDERS
    assert figures.damage(exactly=True) == {}
