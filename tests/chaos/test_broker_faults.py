"""Scenario 5: broker faults on a three-node cluster (replication 3, min in-sync 2, acks=all).

The chaos pipeline runs exactly-once on a cluster of its own while a feed offers orders at
a steady rate. In turn: kill -9 the leader of input partition 0 (restarted a few seconds
later), again for its new leader, kill -9 the transaction coordinator of a ``tag``
worker's transactional id, SIGSTOP a broker for 15 s, and kill two of the three brokers
(no partition can then have two replicas in sync, nor the controllers a quorum). Each
fault is timed until committed output grows again on every partition; before the next
one, every replica is back in sync. Kafka's own replication tests (kafkatest
``replication_test``, ``transactions_test``) do the same with their default broker
timeouts, and so does this test: ``broker.session.timeout.ms`` stays at 9 s.

What a user cares about: every acknowledged order is read exactly once, the totals are
right, no transaction hangs, and while too few replicas are in sync writes are refused
(the feed's sends fail, nothing refused is ever written), then resume.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from schemas.records import EnrichedOrder
from streamworks.ops.kafka import LocalCluster
from streamworks.ops.kafka._process import free_port_block
from streamworks.ops.supervisor import Supervisor
from streamworks.schemas.codec import AvroCodec
from streamworks.schemas.registry_client import RegistryClient
from streamworks.schemas.typed import RecordCodec
from streamworks.testing import KafkaEndpoint
from streamworks.testing.registry import RegistryThread
from tests.chaos.checker import check, drain
from tests.chaos.cluster_faults import (
    Brokers,
    RefusingFeed,
    babysat,
    output_resumed,
    stable_offsets,
)
from tests.chaos.harness import Chaos, caught_up, chaos_copy, record, running, started

RATE = 250
"""Orders offered per second."""
POOLS = {"tag": 2, "totals": 2}
INPUT = {"tag": "in", "totals": "tagged"}
DEAD_S = 4.0
"""How long a killed leader or coordinator stays down."""
PAUSE_S = 15.0
OUTAGE_S = 10.0
"""How long two of three brokers stay down: longer than the feed's 5 s send timeout."""
BROKER_LOGS = Path(".cache/reports/chaos/logs/broker-faults")
"""Where the last run's broker logs are kept."""
RESUME_WITHIN_S = 120.0
"""A fault the pipeline has not recovered from by then hangs (a platform bug)."""


@dataclass
class Fault:
    """One fault as it happened."""

    label: str
    since: float
    """When it was injected (monotonic seconds)."""
    restored: float
    """When the nodes were restarted or continued."""
    resume_s: float
    """Seconds from the injection until committed output grew on every partition."""
    whole_s: float
    """Seconds from the output's resumption (or the restoration, if later) until every
    replica was back in sync."""


@pytest.fixture
def brokers(tmp_path: Path) -> Iterator[Brokers]:
    """A three-node cluster of this test's own, which it may break at will."""
    cluster = LocalCluster.plan(tmp_path / "kafka", nodes=3, port=free_port_block(6))
    cluster.start()
    nodes = Brokers(cluster)
    try:
        yield nodes
    finally:
        nodes.release()
        cluster.stop(grace_seconds=10)
        BROKER_LOGS.mkdir(parents=True, exist_ok=True)
        for node in cluster.nodes:  # tmp_path is soon recycled; the logs explain a failure
            if node.log_path.exists():
                shutil.copyfile(node.log_path, BROKER_LOGS / f"node-{node.node_id}.log")


@pytest.fixture
def cluster_registry(brokers: Brokers) -> Iterator[str]:
    with RegistryThread(brokers.cluster.bootstrap_servers) as registry:
        yield registry.url


async def _kill_for(brokers: Brokers, nodes: list[int], dead_s: float) -> float:
    """Kill ``nodes``, restart them ``dead_s`` later; return when they were restarted."""
    for node in nodes:
        brokers.kill(node)
    await asyncio.sleep(dead_s)  # the fault's length, not a wait for a condition
    for node in nodes:
        brokers.restart(node)
    return time.monotonic()


async def _pause_for(brokers: Brokers, node: int, pause_s: float) -> float:
    """SIGSTOP ``node``, SIGCONT it ``pause_s`` later; return when it was continued."""
    brokers.pause(node)
    try:
        await asyncio.sleep(pause_s)  # the fault's length
    finally:
        brokers.resume(node)
    return time.monotonic()


async def _baseline(brokers: Brokers, chaos: Chaos) -> dict[int, int]:
    """Stable offsets of ``<name>.tagged`` now (the cluster is whole, so it answers)."""
    for _ in range(10):
        found = await stable_offsets(
            brokers.live_bootstrap(), f"{chaos.name}.tagged", chaos.partitions
        )
        if found is not None:
            return found
        await asyncio.sleep(0.5)
    raise AssertionError("a whole cluster did not tell its stable offsets")


async def _inject(
    label: str, fault: Callable[[], Coroutine[Any, Any, float]], brokers: Brokers, chaos: Chaos
) -> Fault:
    """Inject ``fault``, time the output's resumption, then wait until the cluster is whole."""
    before = await _baseline(brokers, chaos)
    since = time.monotonic()
    injecting = asyncio.create_task(fault())
    try:
        resume = await output_resumed(
            brokers,
            f"{chaos.name}.tagged",
            chaos.partitions,
            before=before,
            since=since,
            within_s=RESUME_WITHIN_S,
        )
    finally:
        restored = await injecting  # the nodes are restarted or continued whatever happened
    whole = await brokers.whole(within_s=120)
    return Fault(label, since, restored, resume, whole)


async def _faults(brokers: Brokers, chaos: Chaos) -> list[Fault]:
    """The five faults, one after the other."""
    faults = []
    inputs = f"{chaos.name}.in"
    for round_ in (1, 2):
        leader = await brokers.leader(inputs, 0)
        faults.append(
            await _inject(
                f"kill -9 leader of in[0] (node {leader}, round {round_}) for {DEAD_S:.0f} s",
                partial(_kill_for, brokers, [leader], DEAD_S),
                brokers,
                chaos,
            )
        )
    transactional_id = f"{chaos.group('tag')}.{inputs}.0"
    coordinator = await brokers.coordinator(transactional_id)
    faults.append(
        await _inject(
            f"kill -9 transaction coordinator of tag's in[0] producer (node {coordinator})",
            partial(_kill_for, brokers, [coordinator], DEAD_S),
            brokers,
            chaos,
        )
    )
    paused = await brokers.leader(inputs, 0)
    faults.append(
        await _inject(
            f"SIGSTOP leader of in[0] (node {paused}) for {PAUSE_S:.0f} s",
            partial(_pause_for, brokers, paused, PAUSE_S),
            brokers,
            chaos,
        )
    )
    survivor = await brokers.leader(inputs, 0)
    victims = [n for n in brokers.ids if n != survivor]
    faults.append(
        await _inject(
            f"kill -9 nodes {victims[0]} and {victims[1]} (two of three) for {OUTAGE_S:.0f} s",
            partial(_kill_for, brokers, victims, OUTAGE_S),
            brokers,
            chaos,
        )
    )
    return faults


async def _written(bootstrap: str, registry: str, topic: str) -> list[EnrichedOrder]:
    """The orders in ``topic``, partition by partition: what the brokers really hold."""
    records = (await drain(bootstrap, [topic]))[topic]
    codec = RecordCodec(EnrichedOrder, AvroCodec(RegistryClient(registry)), register=False)
    return [codec.decode(r.value) for r in records]


def _out_of_order(written: list[EnrichedOrder]) -> int:
    """Orders written after a later order of their customer (the feed keeps each
    partition's orders in order, and the idempotent producer keeps them so on retries)."""
    last: dict[str, float] = {}
    late = 0
    for order in written:
        moment = order.ordered_at.timestamp()
        late += moment < last.get(order.customer_id, moment)
        last[order.customer_id] = max(moment, last.get(order.customer_id, moment))
    return late


async def _until(condition: Callable[[], bool], within_s: float, what: str) -> None:
    deadline = time.monotonic() + within_s
    while not condition():
        assert time.monotonic() < deadline, f"{what} not within {within_s:.0f} s"
        await asyncio.sleep(0.2)


def _fault_report(
    fault: Fault, until: float, feed: RefusingFeed, partitions: int
) -> dict[str, Any]:
    acks = feed.acks_resumed(fault.since, partitions)
    return {
        "fault": fault.label,
        "resume_s": round(fault.resume_s, 1),
        "acks_resume_s": None if acks is None else round(acks, 1),
        "whole_s": round(fault.whole_s, 1),
        "refused": feed.refusals_between(fault.since, until),
    }


async def _run(
    brokers: Brokers, chaos: Chaos, supervisor: Supervisor, feed: RefusingFeed
) -> list[Fault]:
    """Run the pipeline and the feed through the faults, until every stage caught up."""
    with running(supervisor):
        async with babysat(supervisor):
            await started(supervisor, chaos.logs, within_s=120)
            feeding = asyncio.create_task(feed.run())
            try:
                await output_resumed(
                    brokers,
                    f"{chaos.name}.tagged",
                    chaos.partitions,
                    before=dict.fromkeys(range(chaos.partitions), 0),
                    since=time.monotonic(),
                    within_s=120,
                )
                await brokers.whole(within_s=120)
                faults = await _faults(brokers, chaos)
                restored = faults[-1].restored
                await _until(
                    lambda: feed.acks_resumed(restored, chaos.partitions) is not None,
                    60,
                    "acks on every partition after the last restart",
                )
                feed.stop()
                await feeding
            finally:
                if not feeding.done():  # a failure: stop offering at once
                    feeding.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await feeding
            await caught_up(chaos, supervisor, INPUT, within_s=180)
    return faults


def _input_figures(
    feed: RefusingFeed, inputs: list[EnrichedOrder], outage: Fault
) -> dict[str, int]:
    """What the brokers did with the feed's writes, read back from ``<name>.in``."""
    written = Counter(str(o.order_id) for o in inputs)
    return {
        "acked_not_written": sum(1 for o in feed.acked if str(o.order_id) not in written),
        "refused_written": sum(1 for o in feed.refused if str(o.order_id) in written),
        "written_twice": sum(n - 1 for n in written.values()),
        "written_out_of_order": _out_of_order(inputs),
        # offered well after both were killed, acknowledged before they were back
        "acked_during_outage": sum(
            1 for a in feed.acks if a.sent_at > outage.since + 1 and a.acked_at < outage.restored
        ),
    }


@pytest.mark.timeout(600)
async def test_broker_faults_on_three_nodes(brokers: Brokers, cluster_registry: str) -> None:
    bootstrap = brokers.cluster.bootstrap_servers
    endpoint = KafkaEndpoint(bootstrap, "local", len(brokers.ids))
    chaos = await chaos_copy(endpoint, cluster_registry, "exactly-once")
    supervisor = chaos.supervisor(POOLS)
    feed = RefusingFeed(chaos, RATE)
    began = time.monotonic()
    faults = await _run(brokers, chaos, supervisor, feed)
    inputs = await _written(bootstrap, cluster_registry, f"{chaos.name}.in")
    ids = {str(o.order_id) for o in inputs}
    landed = [o for o in feed.undecided if str(o.order_id) in ids]
    figures = await check(
        bootstrap, cluster_registry, chaos.name, feed.acked + landed, exactly_once=True
    )
    ends = [f.since for f in faults[1:]] + [time.monotonic()]
    reports = [
        _fault_report(f, end, feed, chaos.partitions) for f, end in zip(faults, ends, strict=True)
    ]
    brokered = _input_figures(feed, inputs, faults[-1])
    record(
        "broker-faults",
        {
            **figures.as_report(),
            **brokered,
            "scenario": "5. broker faults (3 nodes)",
            "guarantee": chaos.guarantee,
            "detail": "resume "
            + " / ".join(f"{r['resume_s']:.1f}" for r in reports)
            + f" s; {len(feed.refused):,} writes refused"
            + f" ({brokered['refused_written']} written); {supervisor.restarts} worker restarts",
            "faults": reports,
            "offered": feed.offered,
            "refused": len(feed.refused),
            "undecided": len(feed.undecided),
            "undecided_written": len(landed),
            "restarts": supervisor.restarts,
            "rate": RATE,
            "seconds": round(time.monotonic() - began, 1),
        },
    )
    assert brokered["acked_not_written"] == 0, "the brokers lost acknowledged writes"
    assert brokered["written_twice"] == 0, "the idempotent feed wrote an order twice"
    assert brokered["written_out_of_order"] == 0, "the feed's orders were written out of order"
    assert brokered["refused_written"] == 0, "a refused write was written after all"
    assert brokered["acked_during_outage"] == 0, "acks=all writes acked without two replicas"
    assert reports[-1]["refused"] > 0, "writes were not refused while two brokers were down"
    assert figures.damage(exactly=True) == {}
