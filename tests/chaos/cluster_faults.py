"""Broker faults on a local three-node cluster, for chaos scenario 5.

- :class:`Brokers`: per-node process control of a :class:`~streamworks.ops.kafka.LocalCluster`
  (kill -9, SIGSTOP/SIGCONT, restart on the node's existing data) and what the cluster
  says about itself (partition leaders, transaction coordinators, replicas in sync);
- :class:`RefusingFeed`: a steady feed whose sends may fail: unlike ``harness.Feed``
  it keeps the acknowledged, refused and undecided orders apart;
- :func:`stable_offsets` and :func:`output_resumed`: read_committed progress of a topic,
  asked only of the brokers that can answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import shutil
import signal
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaClient, AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.client import CoordinationType
from aiokafka.errors import KafkaError

from schemas.records import EnrichedOrder
from streamworks.kafka import clients
from streamworks.ops.kafka import LocalCluster, ensure_jars
from streamworks.ops.kafka._files import NodeLayout
from streamworks.ops.kafka.launcher import _CHILDREN
from streamworks.ops.supervisor import Supervisor
from streamworks.schemas.codec import AvroCodec
from streamworks.schemas.registry_client import RegistryClient
from streamworks.schemas.typed import RecordCodec
from tests.chaos.harness import Chaos, orders

__all__ = ["Ack", "Brokers", "RefusingFeed", "babysat", "output_resumed", "stable_offsets"]

_PROBE_S = 4.0
"""How long one question to the cluster may take before it counts as unanswered."""
_UNANSWERED = (KafkaError, OSError, TimeoutError)


@dataclass
class Brokers:
    """The nodes of one local cluster, which the test kills, pauses and restarts."""

    cluster: LocalCluster
    down: set[int] = field(default_factory=set)
    """Nodes killed and not restarted yet."""
    paused: set[int] = field(default_factory=set)
    """Nodes stopped with SIGSTOP (their sockets accept but never answer)."""

    def node(self, node_id: int) -> NodeLayout:
        return next(n for n in self.cluster.nodes if n.node_id == node_id)

    @property
    def ids(self) -> list[int]:
        return [n.node_id for n in self.cluster.nodes]

    def live_bootstrap(self) -> str:
        """The nodes that answer: a paused one would hold a new client up for its timeout."""
        gone = self.down | self.paused
        return ",".join(
            f"127.0.0.1:{n.broker_port}" for n in self.cluster.nodes if n.node_id not in gone
        )

    def _pid(self, node_id: int) -> int:
        [state] = [s for s in self.cluster.status() if s.node.node_id == node_id]
        assert state.running and state.pid is not None, f"node {node_id} is not running"
        return state.pid

    def kill(self, node_id: int) -> None:
        """kill -9 the node's JVM (the pid ``status()`` checked is this node's) and reap it."""
        pid = self._pid(node_id)
        os.kill(pid, signal.SIGKILL)
        child = _CHILDREN.pop(pid, None)  # the launcher keeps its children to reap them
        if child is not None:
            child.wait(timeout=30)
        self.down.add(node_id)

    def restart(self, node_id: int) -> None:
        """Start the node again on its data. ``LocalCluster.start`` refuses a cluster with
        live nodes (and would format fresh storage), so this launches the one node the
        way it does."""
        node = self.node(node_id)
        assert not any(s.running for s in self.cluster.status() if s.node.node_id == node_id), (
            f"node {node_id} still runs"
        )
        java = shutil.which("java")
        assert java is not None
        self.cluster._launch(java, ensure_jars(), node)
        self.down.discard(node_id)

    def pause(self, node_id: int) -> None:
        os.kill(self._pid(node_id), signal.SIGSTOP)
        self.paused.add(node_id)

    def resume(self, node_id: int) -> None:
        os.kill(self._pid(node_id), signal.SIGCONT)
        self.paused.discard(node_id)

    def release(self) -> None:
        """SIGCONT every paused node, so the cluster can be stopped."""
        for node_id in list(self.paused):
            with contextlib.suppress(AssertionError, ProcessLookupError):
                self.resume(node_id)

    @asynccontextmanager
    async def _admin(self) -> AsyncIterator[AIOKafkaAdminClient]:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=self.live_bootstrap(), request_timeout_ms=int(_PROBE_S * 1000)
        )
        try:
            await admin.start()
            yield admin
        finally:
            await admin.close()

    async def leader(self, topic: str, partition: int) -> int:
        """The node that leads ``topic``'s ``partition`` now."""
        async with asyncio.timeout(_PROBE_S * 2), self._admin() as admin:
            [found] = await admin.describe_topics([topic])
        leader: int = next(p["leader"] for p in found["partitions"] if p["partition"] == partition)
        assert leader in self.ids, f"{topic}[{partition}] has no leader"
        return leader

    async def coordinator(self, transactional_id: str) -> int:
        """The node coordinating ``transactional_id``'s transactions (FindCoordinator)."""
        client = AIOKafkaClient(bootstrap_servers=self.live_bootstrap())
        try:
            async with asyncio.timeout(_PROBE_S * 2):
                await client.bootstrap()
                node: int = await client.coordinator_lookup(
                    CoordinationType.TRANSACTION, transactional_id
                )
            return node
        finally:
            await client.close()

    async def _out_of_sync(self) -> list[str]:
        """What keeps the cluster from being whole: missing brokers, partitions short of
        in-sync replicas (every replica of every topic, internal ones included)."""
        async with asyncio.timeout(_PROBE_S * 2), self._admin() as admin:
            brokers = (await admin.describe_cluster())["brokers"]
            topics = await admin.describe_topics()
        short = [
            f"{t['topic']}[{p['partition']}]"
            for t in topics
            for p in t["partitions"]
            if p["leader"] < 0 or len(p["isr"]) < len(p["replicas"])
        ]
        missing = len(self.cluster.nodes) - len(brokers)
        return ([f"{missing} broker(s)"] if missing else []) + short

    async def whole(self, within_s: float) -> float:
        """Wait until every broker is back and every replica in sync; return the seconds."""
        began = time.monotonic()
        problems = ["not asked yet"]
        while time.monotonic() - began < within_s:
            with contextlib.suppress(*_UNANSWERED):
                problems = await self._out_of_sync()
                if not problems:
                    return time.monotonic() - began
            await asyncio.sleep(0.5)
        raise AssertionError(f"cluster not whole after {within_s:.0f} s: {problems[:8]}")


@dataclass(frozen=True)
class Ack:
    """One acknowledged send."""

    partition: int
    """The input partition it went to."""
    sent_at: float
    """When the feed offered it (monotonic seconds)."""
    acked_at: float
    """When the acknowledgement came back."""


@dataclass
class RefusingFeed:
    """Offers orders to ``<name>.in`` at a steady rate until stopped, never waiting on acks.

    Each partition has its own queue and sender, so a partition without a leader holds
    up neither the others nor the schedule, and each partition's orders reach the producer
    (the platform's: acks=all, idempotent) in the order they were offered. An order the
    producer has not taken within ``deadline_s`` of its offer (its partition's buffer
    stayed full) is *refused*: it was never handed over, so it can never be written. An
    order whose acknowledgement failed after it was handed over is *undecided* (it may or
    may not be in the log), as Jepsen counts an indefinite write.
    """

    chaos: Chaos
    rate: int
    deadline_s: float = 5.0
    acked: list[EnrichedOrder] = field(default_factory=list)
    acks: list[Ack] = field(default_factory=list)
    refused: list[EnrichedOrder] = field(default_factory=list)
    refused_at: list[float] = field(default_factory=list)
    undecided: list[EnrichedOrder] = field(default_factory=list)
    offered: int = 0
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)

    def stop(self) -> None:
        self._stopping.set()

    async def run(self, *, tick_s: float = 0.1, settle_s: float = 120.0) -> None:
        """Offer ``rate`` orders a second until :meth:`stop`; then wait for every answer."""
        codec = RecordCodec(
            EnrichedOrder,
            AvroCodec(RegistryClient(self.chaos.settings.registry_url)),
            subject=f"{self.chaos.name}.in-value",
        )
        producer = clients.producer(
            self.chaos.settings,
            request_timeout_ms=int(self.deadline_s * 1000),
            client_id=f"{self.chaos.name}-feed",
        )
        await producer.start()
        partitions = list(range(self.chaos.partitions))
        queues: list[asyncio.Queue[_Offer | None]] = [asyncio.Queue() for _ in partitions]
        senders = [asyncio.create_task(self._sender(producer, p, q)) for p, q in enumerate(queues)]
        try:
            per_tick = max(1, round(self.rate * tick_s))
            started = time.monotonic()
            tick = 0
            while not self._stopping.is_set():
                for order in orders(per_tick, start=self.offered):
                    key = order.customer_id.encode()
                    offer = _Offer(order, key, codec.encode(order), time.monotonic())
                    queues[clients.key_partitioner(key, partitions, partitions)].put_nowait(offer)
                self.offered += per_tick
                tick += 1
                await asyncio.sleep(max(0.0, started + tick * tick_s - time.monotonic()))
            for queue in queues:
                queue.put_nowait(None)
            async with asyncio.timeout(settle_s):
                await asyncio.gather(*senders)
        finally:
            for sender in senders:
                sender.cancel()
            await producer.stop()

    async def _sender(
        self, producer: AIOKafkaProducer, partition: int, queue: asyncio.Queue[_Offer | None]
    ) -> None:
        """Hand one partition's offers to the producer in order; then await their acks."""
        handed: list[asyncio.Future[Any]] = []
        while (offer := await queue.get()) is not None:
            future = await self._hand_over(producer, partition, offer)
            if future is None:
                self.refused.append(offer.order)
                self.refused_at.append(time.monotonic())
                continue
            future.add_done_callback(functools.partial(self._answered, offer))
            handed.append(future)
        if handed:
            await asyncio.wait(handed)

    async def _hand_over(
        self, producer: AIOKafkaProducer, partition: int, offer: _Offer
    ) -> asyncio.Future[Any] | None:
        """The send's future, or None when the producer did not take it by the deadline."""
        left = offer.offered_at + self.deadline_s - time.monotonic()
        if left <= 0:
            return None
        try:
            # send() waits only before it appends, so a timeout never leaves it half done
            async with asyncio.timeout(left):
                future: asyncio.Future[Any] = await producer.send(
                    f"{self.chaos.name}.in", offer.value, key=offer.key, partition=partition
                )
        except (KafkaError, TimeoutError):
            return None
        return future

    def _answered(self, offer: _Offer, future: asyncio.Future[Any]) -> None:
        if future.cancelled() or future.exception() is not None:
            self.undecided.append(offer.order)
            return
        self.acked.append(offer.order)
        self.acks.append(Ack(future.result().partition, offer.offered_at, time.monotonic()))

    def acks_resumed(self, since: float, partitions: int) -> float | None:
        """Seconds from ``since`` until every partition acknowledged an order offered after
        it, or None when one never did."""
        first: dict[int, float] = {}
        for ack in self.acks:
            if ack.sent_at >= since:
                first[ack.partition] = min(first.get(ack.partition, ack.acked_at), ack.acked_at)
        if len(first) < partitions:
            return None
        return max(first.values()) - since

    def refusals_between(self, start: float, end: float) -> int:
        return sum(1 for t in self.refused_at if start <= t < end)


@dataclass(frozen=True)
class _Offer:
    order: EnrichedOrder
    key: bytes
    value: bytes
    offered_at: float


async def stable_offsets(bootstrap: str, topic: str, partitions: int) -> dict[int, int] | None:
    """Each partition's last stable offset (what read_committed readers see the end at),
    or None when the cluster could not say within a few seconds."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        isolation_level="read_committed",
        request_timeout_ms=int(_PROBE_S * 1000),
    )
    try:
        async with asyncio.timeout(_PROBE_S * 1.5):
            await consumer.start()
            ends = await consumer.end_offsets([TopicPartition(topic, p) for p in range(partitions)])
    except _UNANSWERED:
        return None
    finally:
        await consumer.stop()
    return {tp.partition: offset for tp, offset in ends.items()}


async def output_resumed(
    brokers: Brokers,
    topic: str,
    partitions: int,
    *,
    before: dict[int, int],
    since: float,
    within_s: float,
) -> float:
    """Seconds from ``since`` until every partition of ``topic`` committed output past
    ``before`` (its stable offsets when the fault began)."""
    stalled = sorted(before)
    while time.monotonic() - since < within_s:
        now = await stable_offsets(brokers.live_bootstrap(), topic, partitions)
        if now is not None:
            stalled = [p for p, offset in before.items() if now[p] <= offset]
            if not stalled:
                return time.monotonic() - since
        await asyncio.sleep(0.5)
    raise AssertionError(f"{topic}: partitions {stalled} made no progress in {within_s:.0f} s")


@asynccontextmanager
async def babysat(supervisor: Supervisor, every_s: float = 0.25) -> AsyncIterator[Supervisor]:
    """Restart crashed workers in the background while the block runs."""

    async def watch() -> None:
        while True:
            supervisor.poll()
            await asyncio.sleep(every_s)

    watcher = asyncio.create_task(watch())
    try:
        yield supervisor
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
