"""Stage benchmark: one stage's work done by raw aiokafka, faust, Quix Streams and streamworks.

Run with ``make bench`` or ``python -m tests.benchmarks.stage``. One local broker, one
registry, one input topic of pre-loaded Avro raw orders (2 partitions). Each contender runs
in its own process, three times, interleaved; the table reports medians and ratios to the
raw aiokafka loop. A second run measures end-to-end latency of the 4-stage order pipeline
at a fixed offered load.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from schemas.records import EnrichedOrder, RawOrder
from streams.orders import OrderGenerator
from streams.orders.app import build
from streamworks.core.settings import Settings
from streamworks.ops.supervisor import Supervisor
from streamworks.runtime.topics import ensure_topics
from streamworks.schemas.codec import AvroCodec
from streamworks.schemas.registry_client import RegistryClient
from streamworks.schemas.typed import RecordCodec
from streamworks.testing.helpers import produce, unique_name
from tests.benchmarks._report import (
    broker_and_registry,
    interleaved,
    machine,
    medians,
    run_contender,
    write,
)

CONTENDERS = ("raw-aiokafka", "faust", "quixstreams", "streamworks")
EVENTS = int(os.environ.get("STREAMWORKS_BENCH_EVENTS", "200000"))
ROUNDS = int(os.environ.get("STREAMWORKS_BENCH_ROUNDS", "3"))
LATENCY_RATE = 2_000
LATENCY_SECONDS = 15
LATENCY_STAGES = ("clean", "format", "validate", "enrich")
"""The 4-stage path the latency target is about (raw send -> enriched written)."""


async def _create(bootstrap: str, *names: str, partitions: int = 2) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, partitions, 1) for n in names])
    finally:
        await admin.close()


async def _preload(bootstrap: str, registry: str, topic: str, count: int) -> None:
    codec = RecordCodec(RawOrder, AvroCodec(RegistryClient(registry)), subject=f"{topic}-value")
    generator = OrderGenerator(seed=99)
    chunk = 20_000
    for start in range(0, count, chunk):
        orders = generator.orders(min(chunk, count - start))
        await produce(bootstrap, topic, [(o.order_id.encode(), codec.encode(o)) for o in orders])


def throughput(bootstrap: str, registry: str) -> dict[str, dict[str, Any]]:
    """Median figures of each contender over ROUNDS interleaved rounds."""
    source = unique_name("bench-raw")
    asyncio.run(_create(bootstrap, source))
    asyncio.run(_preload(bootstrap, registry, source, EVENTS))
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in CONTENDERS}
    for round_, name in interleaved(CONTENDERS, ROUNDS):
        output = unique_name(f"bench-{name}-out")
        asyncio.run(_create(bootstrap, output))
        options = {
            "input": source,
            "output": output,
            "group": unique_name(f"bench-{name}"),
            "bootstrap": bootstrap,
            "registry": registry,
            "count": str(EVENTS),
        }
        result = run_contender("tests.benchmarks._contenders", name, options)
        sys.stderr.write(f"round {round_ + 1} {name}: {result}\n")
        runs[name].append(result)
    figures = medians(runs)
    ceiling = figures["raw-aiokafka"]["events_per_s"]
    for values in figures.values():
        values["vs_raw_aiokafka"] = round(values["events_per_s"] / ceiling, 3)
    return figures


async def _paced_load(bootstrap: str, registry: str, prefix: str) -> dict[str, float]:
    """Send LATENCY_RATE orders/s for LATENCY_SECONDS; return order id -> send time (ms)."""
    codec = RecordCodec(
        RawOrder, AvroCodec(RegistryClient(registry)), subject=f"{prefix}.raw-value"
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    sent: dict[str, float] = {}
    orders = OrderGenerator(seed=5).orders(LATENCY_RATE * LATENCY_SECONDS)
    tick = 0.01
    per_tick = int(LATENCY_RATE * tick)
    started = time.perf_counter()
    try:
        for n, order in enumerate(orders):
            if n % per_tick == 0:
                target = started + (n // per_tick) * tick
                await asyncio.sleep(max(0.0, target - time.perf_counter()))
            sent[order.order_id.strip().lower()] = time.time() * 1000
            await producer.send(f"{prefix}.raw", codec.encode(order), key=order.order_id.encode())
        await producer.flush()
    finally:
        await producer.stop()
    return sent


async def _arrivals(
    bootstrap: str, registry: str, topic: str, expect: int, until: float
) -> dict[str, int]:
    codec = RecordCodec(EnrichedOrder, AvroCodec(RegistryClient(registry)), register=False)
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    seen: dict[str, int] = {}
    try:
        while len(seen) < expect and time.monotonic() < until:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for r in records:
                    seen[str(codec.decode(r.value).order_id)] = r.timestamp
    finally:
        await consumer.stop()
    return seen


async def _warm_up(bootstrap: str, registry: str, prefix: str) -> None:
    """Send a few orders through and wait for them: every worker has joined and fetches."""
    codec = RecordCodec(
        RawOrder, AvroCodec(RegistryClient(registry)), subject=f"{prefix}.raw-value"
    )
    orders = [o for o in OrderGenerator(seed=1).orders(200)]
    await produce(
        bootstrap, f"{prefix}.raw", [(o.order_id.encode(), codec.encode(o)) for o in orders]
    )
    deadline = time.monotonic() + 90
    arrived = await _arrivals(bootstrap, registry, f"{prefix}.enriched", 150, deadline)
    if len(arrived) < 150:
        raise RuntimeError("the pipeline did not warm up in 90 s")


def latency(bootstrap: str, registry: str) -> dict[str, Any]:
    """End-to-end latency (raw send -> enriched write) of the 4-stage pipeline."""
    prefix = unique_name("bench-latency")
    env = {
        "STREAMWORKS_BOOTSTRAP_SERVERS": bootstrap,
        "STREAMWORKS_REGISTRY_URL": registry,
        "STREAMWORKS_ORDERS_PREFIX": prefix,
    }
    os.environ.update(env)
    pipeline = build()
    asyncio.run(ensure_topics(pipeline, Settings()))
    supervisor = Supervisor("orders", dict.fromkeys(LATENCY_STAGES, 1), env=env)
    supervisor.start()
    asyncio.run(_warm_up(bootstrap, registry, prefix))
    try:

        async def measure() -> tuple[dict[str, float], dict[str, int]]:
            load = asyncio.create_task(_paced_load(bootstrap, registry, prefix))
            # the valid share of the generator's mix reaches enriched
            arrivals = asyncio.create_task(
                _arrivals(
                    bootstrap,
                    registry,
                    f"{prefix}.enriched",
                    10**9,
                    time.monotonic() + LATENCY_SECONDS + 10,
                )
            )
            return await load, await arrivals

        sent, arrived = asyncio.run(measure())
    finally:
        supervisor.stop()
    samples = sorted(arrived[i] - sent[i] for i in arrived if i in sent)

    def pick(q: float) -> float:
        return float(samples[min(len(samples) - 1, int(len(samples) * q))])

    return {
        "offered_orders_per_s": LATENCY_RATE,
        "seconds": LATENCY_SECONDS,
        "enriched": len(samples),
        "p50_ms": pick(0.5),
        "p99_ms": pick(0.99),
        "p999_ms": pick(0.999),
        "max_ms": float(samples[-1]),
    }


def main() -> int:
    with broker_and_registry() as (bootstrap, registry):
        contenders = throughput(bootstrap, registry)
        delays = latency(bootstrap, registry)
    lines = [
        f"| contender | events/s (median of {ROUNDS}) | CPU s | peak RSS MB | vs raw aiokafka |",
        "|---|---:|---:|---:|---:|",
        *(
            f"| {n} | {f['events_per_s']:,.0f} | {f['cpu_s']:.1f} | {f['rss_mb']:.0f} | "
            f"{f['vs_raw_aiokafka']:.2f} |"
            for n, f in contenders.items()
        ),
        "",
        f"4-stage pipeline at {delays['offered_orders_per_s']:,} orders/s "
        f"for {delays['seconds']} s: "
        f"end-to-end p50 {delays['p50_ms']:.0f} ms, p99 {delays['p99_ms']:.0f} ms, "
        f"p99.9 {delays['p999_ms']:.0f} ms ({delays['enriched']:,} enriched orders)",
    ]
    table = "\n".join(lines)
    data = {
        "benchmark": f"decode -> clean -> encode of {EVENTS:,} Avro orders, 2 partitions",
        "machine": machine(),
        "contenders": contenders,
        "latency": delays,
    }
    path = write("stage", data, table)
    sys.stdout.write(table + f"\n\nwritten to {path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
