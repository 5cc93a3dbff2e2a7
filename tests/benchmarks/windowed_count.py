"""Windowed-count benchmark: a count per key in 10 s tumbling windows, four ways.

Run with ``python -m tests.benchmarks.windowed_count``. One local broker, one registry, one
input topic of pre-loaded Avro enriched orders (2 partitions) keyed by 10,000 customer ids,
whose ``ordered_at`` advances through many windows with jitter inside the grace period.
Each contender (raw aiokafka with a dict as the ceiling; faust and Quix Streams with
RocksDB state and changelogs; the streamworks aggregation) runs in its own process, in
interleaved rounds; the table reports medians and ratios. After every run the harness reads
the contender's output and checks that its counts add up to the records of the closed
windows, once per (key, window).
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas.records import EnrichedOrder, Tier, WindowCount
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
from tests.benchmarks._windowed_contenders import WINDOW_MS, closes, window_start
from tests.benchmarks.stage import ROUNDS, _create

CONTENDERS = ("raw-aiokafka", "faust", "quixstreams", "streamworks")
KEYS = 10_000
PARTITIONS = 2
EVENTS = int(os.environ.get("STREAMWORKS_BENCH_EVENTS", "200000"))
EVENTS_PER_SECOND = 2_000
"""Event-time rate of the input: 20,000 records a window, about 2 per key."""
JITTER_MS = 2_000
"""Records are up to this much older than their place in the stream (less than the grace)."""


@dataclass(frozen=True, slots=True)
class Expected:
    """What a correct contender emits for the pre-loaded input."""

    records: int
    """Input records that fall into windows closed by the end of the input."""
    windows: int
    """Distinct (key, window) pairs among them: one WindowCount each."""


def orders(count: int, seed: int = 7) -> tuple[dict[int, list[EnrichedOrder]], Expected]:
    """``count`` orders by partition (key ``c<n>`` goes to partition n % 2), and the answer.

    Event time starts mid-window and ends a little before now: for any count that is a
    multiple of 20,000 the input ends mid-window, far from a window's end plus grace, and
    output records (stamped with window times by some contenders) are recent for retention.
    """
    rng = random.Random(seed)
    now = datetime.now(UTC)
    span = count * 1000 // EVENTS_PER_SECOND
    begin = window_start(round(now.timestamp() * 1000) - span - WINDOW_MS) + WINDOW_MS // 2
    by_partition: dict[int, list[EnrichedOrder]] = {p: [] for p in range(PARTITIONS)}
    times: dict[int, list[tuple[str, int]]] = {p: [] for p in range(PARTITIONS)}
    for n in range(count):
        customer = rng.randrange(KEYS)
        at = begin + n * 1000 // EVENTS_PER_SECOND - rng.randrange(JITTER_MS)
        order = EnrichedOrder(
            order_id=uuid.UUID(int=rng.getrandbits(128), version=4),
            customer_id=f"c{customer:05d}",
            sku=f"SKU-{rng.randrange(500):04d}",
            quantity=rng.randint(1, 5),
            amount_cents=rng.randint(100, 50_000),
            currency="EUR",
            ordered_at=datetime.fromtimestamp(at / 1000, UTC),
            received_at=now,
            enriched_at=now,
            customer_tier=Tier.SILVER,
            region="EU",
        )
        by_partition[customer % PARTITIONS].append(order)
        times[customer % PARTITIONS].append((order.customer_id, at))
    closed = []
    for stamps in times.values():
        watermark = max((at for _, at in stamps), default=0)
        closed += [
            (key, window_start(at)) for key, at in stamps if closes(window_start(at), watermark)
        ]
    return by_partition, Expected(records=len(closed), windows=len(set(closed)))


async def _preload(
    bootstrap: str, registry: str, topic: str, by_partition: dict[int, list[EnrichedOrder]]
) -> None:
    codec = RecordCodec(
        EnrichedOrder, AvroCodec(RegistryClient(registry)), subject=f"{topic}-value"
    )
    chunk = 20_000
    for partition, items in by_partition.items():
        for start in range(0, len(items), chunk):
            records = [
                (o.customer_id.encode(), codec.encode(o)) for o in items[start : start + chunk]
            ]
            await produce(bootstrap, topic, records, partition=partition)


async def _emitted(bootstrap: str, registry: str, topic: str) -> dict[str, int]:
    """Sum of the counts in ``topic``, its (key, window) pairs, and how many came twice."""
    codec = RecordCodec(WindowCount, AvroCodec(RegistryClient(registry)), register=False)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    await consumer.start()
    total, repeated, pairs = 0, 0, set()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for r in records:
                    count = codec.decode(r.value)
                    pair = (count.key, count.window_start)
                    repeated += pair in pairs
                    pairs.add(pair)
                    total += count.count
    finally:
        await consumer.stop()
    return {"records": total, "windows": len(pairs), "repeated": repeated}


def throughput(bootstrap: str, registry: str) -> tuple[dict[str, Any], Expected]:
    """Median figures of each contender and the expected output."""
    source = unique_name("bench-orders")
    asyncio.run(_create(bootstrap, source, partitions=PARTITIONS))
    by_partition, expected = orders(EVENTS)
    asyncio.run(_preload(bootstrap, registry, source, by_partition))
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in CONTENDERS}
    for round_, name in interleaved(CONTENDERS, ROUNDS):
        output = unique_name(f"bench-wc-{name}-out")
        asyncio.run(_create(bootstrap, output, partitions=PARTITIONS))
        options = {
            "input": source,
            "output": output,
            "group": unique_name(f"bench-wc-{name}"),
            "bootstrap": bootstrap,
            "registry": registry,
            "count": str(EVENTS),
            "partitions": str(PARTITIONS),
        }
        result = run_contender("tests.benchmarks._windowed_contenders", name, options)
        emitted = asyncio.run(_emitted(bootstrap, registry, output))
        result["correct"] = (
            emitted["records"] == expected.records
            and emitted["windows"] == expected.windows
            and emitted["repeated"] == 0
        )
        if not result["correct"]:
            sys.stdout.write(f"WRONG TOTALS from {name}: {emitted}, expected {expected}\n")
        sys.stderr.write(f"round {round_ + 1} {name}: {result} {emitted}\n")
        runs[name].append(result)
    figures = medians(runs)
    for name, values in figures.items():
        values["correct"] = all(r["correct"] for r in runs[name])
        for peer in ("raw-aiokafka", "faust", "quixstreams"):
            peer_rate = figures.get(peer, {}).get("events_per_s")
            if peer_rate:
                ratio = round(values["events_per_s"] / peer_rate, 3)
                values[f"vs_{peer.replace('-', '_')}"] = ratio
    return figures, expected


def table(figures: dict[str, Any]) -> str:
    """The Markdown table of the medians."""
    lines = [
        f"| contender | events/s (median of {ROUNDS}) | CPU s | peak RSS MB | vs raw aiokafka "
        "| vs faust | vs Quix Streams | totals |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name in CONTENDERS:
        if name in figures:
            f = figures[name]
            ratios = " | ".join(
                f"{f[key]:.2f}" if key in f else "-"
                for key in ("vs_raw_aiokafka", "vs_faust", "vs_quixstreams")
            )
            lines.append(
                f"| {name} | {f['events_per_s']:,.0f} | {f['cpu_s']:.1f} | {f['rss_mb']:.0f} "
                f"| {ratios} | {'right' if f['correct'] else '**WRONG**'} |"
            )
    return "\n".join(lines)


def main() -> int:
    with broker_and_registry() as (bootstrap, registry):
        figures, expected = throughput(bootstrap, registry)
    text = table(figures) + (
        f"\n\n{EVENTS:,} Avro enriched orders, {KEYS:,} keys, 2 partitions; "
        f"{expected.records:,} of them in closed windows, {expected.windows:,} window counts"
    )
    data = {
        "benchmark": (
            f"count per key in 10 s tumbling windows of {EVENTS:,} Avro orders, "
            f"{KEYS:,} keys, 2 partitions"
        ),
        "machine": machine(),
        "contenders": figures,
        "expected": {"records": expected.records, "windows": expected.windows},
    }
    path = write("windowed_count", data, text)
    sys.stdout.write(text + f"\n\nwritten to {path}\n")
    return 0 if all(f["correct"] for f in figures.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
