"""What a chaos run did to the data, counted the way Kafka's EOS tests and Jepsen count it.

The checker reads every output from the start with ``read_committed`` (what a downstream
consumer may see) and compares it with what the producer had acknowledged:

- **lost**: acknowledged orders never read from ``<name>.tagged``;
- **duplicated**: extra copies read there;
- **order violations**: per customer, an order whose first copy comes after the first copy
  of a later order (one customer is one partition, so order must hold);
- **wrong aggregates**: customers whose last running total on ``<name>.totals`` differs
  from the batch recomputation over the acknowledged orders, and, under exactly-once,
  running totals emitted twice or skipped (each customer's counts must read 1, 2, ... n);
- **hanging transactions**: partitions whose last stable offset stays below the end
  offset after the run (a transaction left open that blocks every read_committed reader).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from schemas.records import CustomerTotals, EnrichedOrder
from streamworks.core.lineage import lineage_of
from tests.integration.workers import decode_all

__all__ = ["Figures", "check", "drain", "open_transactions"]


@dataclass
class Figures:
    """One run's counts; ``as_report()`` is what the JSON report and the table hold."""

    events_in: int
    events_out: int
    lost: int
    duplicated: int
    order_violations: int
    wrong_aggregates: int
    duplicated_aggregates: int
    """Running totals repeated or skipped (exactly-once only; at-least-once may repeat)."""
    hanging_transactions: int
    duplicate_examples: list[str] = field(default_factory=list)
    """A few duplicates as ``partition: offsets of the copies``, to tell where they came from."""

    def as_report(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def damage(self, *, exactly: bool) -> dict[str, int]:
        """The figures that must be 0 and are not (an empty dict when all is well).

        Always: lost, order violations, hanging transactions. With ``exactly`` (exactly-once,
        or a fault that must repeat nothing) also duplicates and wrong or repeated totals.
        """
        names = ["lost", "order_violations", "hanging_transactions"]
        if exactly:
            names += ["duplicated", "wrong_aggregates", "duplicated_aggregates"]
        return {name: getattr(self, name) for name in names if getattr(self, name)}


async def drain(
    bootstrap: str, topics: list[str], *, within_s: float = 120.0
) -> dict[str, list[ConsumerRecord[bytes, bytes]]]:
    """Every committed record of ``topics``, read up to the end offsets of the moment."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    await consumer.start()
    try:
        partitions = [
            TopicPartition(t, p) for t in topics for p in sorted(await _partitions(consumer, t))
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)  # the last stable offsets
        found: dict[str, list[ConsumerRecord[bytes, bytes]]] = {t: [] for t in topics}
        deadline = time.monotonic() + within_s
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            if time.monotonic() > deadline:
                raise AssertionError(f"could not read {topics} to their ends in {within_s:.0f} s")
            for tp, batch in (await consumer.getmany(timeout_ms=500)).items():
                found[tp.topic].extend(batch)
        return found
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    for _ in range(40):
        partitions = consumer.partitions_for_topic(topic)
        if partitions:
            return set(partitions)
        await consumer._client.force_metadata_update()
        await asyncio.sleep(0.25)
    raise AssertionError(f"topic {topic} has no partitions")


async def open_transactions(bootstrap: str, topics: list[str], *, settle_s: float = 30.0) -> int:
    """Partitions whose last stable offset is below the end offset after ``settle_s``.

    A transaction a killed worker left open is aborted when its successor starts (same
    transactional id) or when it times out; one still open after that hangs readers.
    """
    ends: dict[str, dict[TopicPartition, int]] = {}
    deadline = time.monotonic() + settle_s
    while True:
        for isolation in ("read_committed", "read_uncommitted"):
            consumer = AIOKafkaConsumer(
                bootstrap_servers=bootstrap, group_id=None, isolation_level=isolation
            )
            await consumer.start()
            try:
                partitions = [
                    TopicPartition(t, p) for t in topics for p in await _partitions(consumer, t)
                ]
                ends[isolation] = await consumer.end_offsets(partitions)
            finally:
                await consumer.stop()
        hanging = sum(
            1 for tp, end in ends["read_uncommitted"].items() if ends["read_committed"][tp] < end
        )
        if hanging == 0 or time.monotonic() > deadline:
            return hanging
        await asyncio.sleep(1)


async def check(
    bootstrap: str, registry: str, name: str, sent: list[EnrichedOrder], *, exactly_once: bool
) -> Figures:
    """Drain ``<name>.tagged`` and ``<name>.totals`` and count against ``sent``."""
    topics = [f"{name}.tagged", f"{name}.totals"]
    hanging = await open_transactions(bootstrap, topics)
    read = await drain(bootstrap, topics)
    tagged: list[EnrichedOrder] = decode_all(registry, EnrichedOrder, read[topics[0]])
    totals: list[CustomerTotals] = decode_all(registry, CustomerTotals, read[topics[1]])

    copies = Counter(str(o.order_id) for o in tagged)
    where: dict[str, list[str]] = defaultdict(list)
    for record, order in zip(read[topics[0]], tagged, strict=True):
        if copies[str(order.order_id)] > 1:
            lineage = lineage_of(record.headers)
            origin = str(lineage.offset) if lineage is not None else "?"
            written = time.strftime("%H:%M:%S", time.localtime(record.timestamp / 1000))
            where[str(order.order_id)].append(
                f"{record.partition}@{record.offset} (input offset {origin}, at {written})"
            )
    expected = {str(o.order_id) for o in sent}
    return Figures(
        events_in=len(sent),
        events_out=len(tagged),
        lost=len(expected - set(copies)),
        duplicated=sum(n - 1 for n in copies.values()),
        order_violations=_order_violations(tagged),
        wrong_aggregates=_wrong_totals(sent, totals),
        duplicated_aggregates=_repeated_counts(totals) if exactly_once else 0,
        hanging_transactions=hanging,
        duplicate_examples=[" / ".join(w) for w in list(where.values())[:8]],
    )


def _order_violations(tagged: list[EnrichedOrder]) -> int:
    """First copies, per customer, that come after the first copy of a later order."""
    seen: set[str] = set()
    last: dict[str, float] = {}
    violations = 0
    for order in tagged:  # per partition in offset order; one customer is one partition
        if str(order.order_id) in seen:
            continue
        seen.add(str(order.order_id))
        moment = order.ordered_at.timestamp()
        if moment < last.get(order.customer_id, float("-inf")):
            violations += 1
        last[order.customer_id] = max(moment, last.get(order.customer_id, moment))
    return violations


def _wrong_totals(sent: list[EnrichedOrder], totals: list[CustomerTotals]) -> int:
    """Customers whose highest running total is not (orders, revenue) of the batch."""
    truth: dict[str, tuple[int, int]] = defaultdict(lambda: (0, 0))
    for order in sent:
        count, revenue = truth[order.customer_id]
        truth[order.customer_id] = (count + 1, revenue + order.amount_cents)
    latest: dict[str, tuple[int, int]] = {}
    for total in totals:
        current = latest.get(total.customer_id, (0, 0))
        latest[total.customer_id] = max(current, (total.order_count, total.revenue_cents))
    return sum(1 for customer, figures in truth.items() if latest.get(customer) != figures)


def _repeated_counts(totals: list[CustomerTotals]) -> int:
    """Running totals emitted twice or skipped: exactly-once emits counts 1, 2, ... n."""
    counts: dict[str, list[int]] = defaultdict(list)
    for total in totals:
        counts[total.customer_id].append(total.order_count)
    repeated = sum(len(c) - len(set(c)) for c in counts.values())
    skipped = sum(max(c) - len(set(c)) for c in counts.values())
    return repeated + skipped
