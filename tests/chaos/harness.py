"""What every chaos scenario needs: a chaos pipeline of its own, a steady acknowledged feed,
output progress, recovery times, and the report.

Reports go to ``tests/chaos/results/<scenario>.json`` (committed, like the benchmarks'),
and ``python -m tests.chaos.report`` turns them into the table of ``docs/reliability.md``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from schemas.records import EnrichedOrder
from streamworks.core.settings import Settings
from streamworks.kafka import clients
from streamworks.ops.supervisor import Supervisor
from streamworks.runtime.topics import ensure_topics
from streamworks.schemas.codec import AvroCodec
from streamworks.schemas.registry_client import RegistryClient
from streamworks.schemas.typed import RecordCodec
from streamworks.testing import KafkaEndpoint, unique_name
from tests.chaos.app import chaos_pipeline
from tests.chaos.checker import Figures, check
from tests.unit.streams.aggregation_helpers import order

__all__ = [
    "INPUTS",
    "RESULTS",
    "Chaos",
    "Feed",
    "caught_up",
    "chaos_copy",
    "committed",
    "drained",
    "end_offsets",
    "orders",
    "record",
    "recovery_seconds",
    "running",
    "started",
    "starts",
]

RESULTS = Path(__file__).parent / "results"
CUSTOMERS = 100
APP = "tests.chaos.app:build"


def orders(count: int, *, start: int = 0, gap_ms: int = 10) -> list[EnrichedOrder]:
    """``count`` orders over ``CUSTOMERS`` customers, in order time, amounts 2-999 cents
    (1 cent marks the slow order, so no generated order is slow)."""
    return [
        order(n, f"c{n % CUSTOMERS:03d}", n * gap_ms, amount=2 + (n * 7919) % 998)
        for n in range(start, start + count)
    ]


INPUTS = {"tag": "in", "totals": "tagged"}
"""Each stage of the chaos pipeline and the suffix of the topic it reads."""


@dataclass
class Chaos:
    """One isolated copy of the chaos pipeline and the environment its workers get."""

    name: str
    guarantee: str
    partitions: int
    env: dict[str, str]
    settings: Settings
    logs: Path

    @property
    def exactly_once(self) -> bool:
        return self.guarantee == "exactly-once"

    def group(self, stage: str) -> str:
        return chaos_pipeline(self.name, partitions=self.partitions).group_id(stage)

    def supervisor(self, pools: dict[str, int]) -> Supervisor:
        return Supervisor(APP, pools, env=self.env, log_dir=self.logs)

    async def check(self, feed: Feed) -> Figures:
        """The checker's figures for this copy's outputs against what ``feed`` sent."""
        return await check(
            self.settings.bootstrap_servers,
            self.settings.registry_url,
            self.name,
            feed.sent,
            exactly_once=self.exactly_once,
        )


async def chaos_copy(
    kafka: KafkaEndpoint, registry_url: str, guarantee: str, *, partitions: int = 4
) -> Chaos:
    """Topics for a fresh copy of the chaos pipeline, and its workers' environment."""
    name = unique_name("chaos")
    env = {
        "STREAMWORKS_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "STREAMWORKS_REGISTRY_URL": registry_url,
        "STREAMWORKS_GUARANTEE": guarantee,
        "CHAOS_NAME": name,
        "CHAOS_PARTITIONS": str(partitions),
    }
    settings = Settings(bootstrap_servers=kafka.bootstrap_servers, registry_url=registry_url)
    await ensure_topics(chaos_pipeline(name, partitions=partitions), settings)
    logs = Path(".cache/reports/chaos/logs") / name
    return Chaos(name, guarantee, partitions, env, settings, logs)


@dataclass
class Feed:
    """Sends orders to ``<name>.in`` at a steady rate; ``sent`` holds the acknowledged ones,
    ``acked_at`` when each was acknowledged (``time.monotonic()``)."""

    chaos: Chaos
    rate: int
    sent: list[EnrichedOrder] = field(default_factory=list)
    acked_at: list[float] = field(default_factory=list)

    async def run(self, batch: list[EnrichedOrder], *, tick_s: float = 0.1) -> None:
        codec = RecordCodec(
            EnrichedOrder,
            AvroCodec(RegistryClient(self.chaos.settings.registry_url)),
            subject=f"{self.chaos.name}.in-value",
        )
        producer = clients.producer(self.chaos.settings)
        await producer.start()
        try:
            per_tick = max(1, round(self.rate * tick_s))
            started = time.monotonic()
            for tick, i in enumerate(range(0, len(batch), per_tick)):
                chunk = batch[i : i + per_tick]
                futures = [
                    await producer.send(
                        f"{self.chaos.name}.in", codec.encode(o), key=o.customer_id.encode()
                    )
                    for o in chunk
                ]
                for o, result in zip(chunk, await asyncio.gather(*futures), strict=True):
                    assert result is not None
                    self.sent.append(o)
                    self.acked_at.append(time.monotonic())
                delay = started + (tick + 1) * tick_s - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
        finally:
            await producer.stop()


async def committed(settings: Settings, group: str) -> dict[TopicPartition, int]:
    """The group's committed offsets."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:
        found = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {tp: meta.offset for tp, meta in found.items() if meta.offset >= 0}


async def end_offsets(settings: Settings, topic: str, partitions: int) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers, group_id=None)
    await consumer.start()
    try:
        ends: dict[TopicPartition, int] = await consumer.end_offsets(
            [TopicPartition(topic, p) for p in range(partitions)]
        )
        return ends
    finally:
        await consumer.stop()


async def recovery_seconds(
    chaos: Chaos, stage: str, topic: str, *, since: float, supervisor: Supervisor, within_s: float
) -> float:
    """Seconds from ``since`` until every partition of ``topic`` is progressing again for
    ``stage``: its committed offset moved past where it stood, or it has nothing left."""
    group = chaos.group(stage)
    before = await committed(chaos.settings, group)
    deadline = since + within_s
    while True:
        supervisor.poll()
        now = await committed(chaos.settings, group)
        ends = await end_offsets(chaos.settings, topic, chaos.partitions)
        stalled = [
            tp
            for tp, end in ends.items()
            if now.get(tp, -1) <= before.get(tp, -1) and end - now.get(tp, 0) > 1
        ]
        if not stalled:
            return time.monotonic() - since
        assert time.monotonic() < deadline, f"{stage}: {stalled} stalled {within_s:.0f} s"
        await asyncio.sleep(0.25)


async def drained(
    chaos: Chaos, supervisor: Supervisor, feeding: asyncio.Task[None], within_s: float = 120
) -> None:
    """Wait for the feed to finish and both stages to commit all of their input."""
    await feeding
    await caught_up(chaos, supervisor, INPUTS, within_s=within_s)


async def started(
    supervisor: Supervisor,
    logs: Path,
    at_least: dict[str, int] | None = None,
    within_s: float = 60.0,
) -> None:
    """Wait until the workers' logs say ``worker of <stage> started`` (first assignment done)
    ``at_least[stage]`` times, by default once per worker of every pool."""
    wanted = at_least or dict(supervisor.pools)
    deadline = time.monotonic() + within_s
    while True:
        supervisor.poll()
        ready = starts(logs, wanted)
        if all(ready[stage] >= count for stage, count in wanted.items()):
            return
        assert time.monotonic() < deadline, f"workers not started in {within_s:.0f} s: {ready}"
        await asyncio.sleep(0.2)


def starts(logs: Path, stages: Iterable[str]) -> dict[str, int]:
    """How many workers of each stage have logged their start so far."""
    texts = [p.read_text(errors="replace") for p in logs.glob("*.log")]
    return {stage: sum(f"worker of {stage} started" in t for t in texts) for stage in stages}


async def caught_up(
    chaos: Chaos, supervisor: Supervisor, inputs: dict[str, str], within_s: float
) -> None:
    """Wait until every stage (name -> input topic suffix) committed its whole input.

    A transactional input ends with a commit marker no consumer reads, so one offset of
    slack is allowed under exactly-once.
    """
    slack = 1 if chaos.exactly_once else 0
    deadline = time.monotonic() + within_s
    while True:
        supervisor.poll()
        behind = {}
        for stage, suffix in inputs.items():
            done = await committed(chaos.settings, chaos.group(stage))
            ends = await end_offsets(chaos.settings, f"{chaos.name}.{suffix}", chaos.partitions)
            lag = sum(max(0, end - done.get(tp, 0) - slack) for tp, end in ends.items())
            if lag:
                behind[stage] = lag
        if not behind:
            return
        assert time.monotonic() < deadline, f"not caught up in {within_s:.0f} s: lag {behind}"
        await asyncio.sleep(0.5)


def record(scenario: str, figures: dict[str, Any]) -> None:
    """Write one scenario's figures (replacing the last run's) to the results folder."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{scenario}.json"
    path.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")


@contextmanager
def running(supervisor: Supervisor) -> Iterator[Supervisor]:
    supervisor.start()
    try:
        yield supervisor
    finally:
        supervisor.stop()
