"""What the table-recovery scenario does to a table and how it reads one back.

Faults: a worker's local store is tampered with while the worker is stopped (a phantom key,
a checkpoint that lies), the changelog loses its first records (DeleteRecords), or gets
an aborted transaction of bogus values. Readings: the restores a worker logged, the table
as a downstream consumer sees it (last running total per customer), as the stores hold
it, and as the changelog holds it; each is compared with the batch truth.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from schemas.records import CustomerTotals, EnrichedOrder
from streamworks.aggregate.processor import META
from streamworks.core.settings import Settings
from streamworks.kafka import clients
from streamworks.ops.supervisor import Supervisor
from streamworks.schemas.codec import AvroCodec
from streamworks.schemas.registry_client import RegistryClient
from streamworks.schemas.typed import RecordCodec
from streamworks.state.store import Store
from streamworks.testing import unique_name
from tests.chaos.checker import drain

__all__ = [
    "Restore",
    "Totals",
    "aborted_records",
    "changelog_table",
    "checkpoint",
    "delete_below",
    "last_offsets",
    "open_transaction",
    "partition_of",
    "restored",
    "stored",
    "table",
    "tamper",
    "truth",
    "write_aborted",
]

Totals = tuple[int, int]
"""A customer's (orders, revenue in cents)."""

_RESTORED = re.compile(
    r" INFO streamworks\.state\.changelog: \S+\[(?P<partition>\d+)\] restored: (?P<records>\d+) "
    r"records \(offsets (?P<start>\d+)\.\.(?P<end>\d+)\) in (?P<seconds>[\d.]+) s$"
)
_WIPED = re.compile(
    r" WARNING streamworks\.state\.changelog: \S+\[(?P<partition>\d+)\]: "
    r"(?P<reason>.*); rebuilding it$"
)


@dataclass(frozen=True)
class Restore:
    """One restore of one task, as its worker logged it."""

    partition: int
    """The task (changelog partition)."""
    records: int
    """Changelog records applied."""
    start: int
    """The offset the replay started from."""
    end: int
    """The last stable offset it replayed to."""
    seconds: float
    """How long it took."""
    wiped: str | None
    """Why the worker threw its local store away first, if it did."""


def _restores(log: Path) -> dict[int, Restore]:
    """The restores ``log`` reports, by partition."""
    text = log.read_text(errors="replace") if log.exists() else ""
    wiped: dict[int, str] = {}
    found: dict[int, Restore] = {}
    for line in text.splitlines():
        if match := _WIPED.search(line):
            wiped[int(match["partition"])] = match["reason"]
        elif match := _RESTORED.search(line):
            p = int(match["partition"])
            found[p] = Restore(
                p,
                int(match["records"]),
                int(match["start"]),
                int(match["end"]),
                float(match["seconds"]),
                wiped.pop(p, None),
            )
    return found


async def restored(
    log: Path, partitions: int, supervisors: list[Supervisor], *, within_s: float
) -> dict[int, Restore]:
    """Wait until the worker writing ``log`` restored all ``partitions`` tasks.

    Not done within ``within_s`` of the call (process start and group join included) is
    a hang, the failure faust's recovery is known for.
    """
    deadline = time.monotonic() + within_s
    while True:
        for supervisor in supervisors:
            supervisor.poll()
        found = _restores(log)
        if len(found) == partitions:
            return found
        missing = sorted(set(range(partitions)) - set(found))
        assert time.monotonic() < deadline, (
            f"tasks {missing} not restored within {within_s:.0f} s (see {log})"
        )
        await asyncio.sleep(0.2)


def partition_of(customer: str, partitions: int) -> int:
    """The partition a customer's orders (and its table entry) live in."""
    every = list(range(partitions))
    return clients.key_partitioner(customer.encode(), every, every)


def truth(sent: list[EnrichedOrder]) -> dict[str, Totals]:
    """The batch recomputation: (orders, revenue) per customer over acknowledged orders."""
    found: dict[str, Totals] = defaultdict(lambda: (0, 0))
    for order in sent:
        count, revenue = found[order.customer_id]
        found[order.customer_id] = (count + 1, revenue + order.amount_cents)
    return dict(found)


async def table(bootstrap: str, registry: str, name: str) -> dict[str, Totals]:
    """The table as a downstream consumer sees it: the last running total per customer."""
    topic = f"{name}.totals"
    records = (await drain(bootstrap, [topic]))[topic]
    codec = RecordCodec(CustomerTotals, AvroCodec(RegistryClient(registry)), register=False)
    totals = [codec.decode(r.value) for r in records]
    # one customer is one partition, read in offset order: the last one read is the latest
    return {t.customer_id: (t.order_count, t.revenue_cents) for t in totals}


def _totals(value: Any) -> Totals:
    """(orders, revenue) of a stored Combine(orders, revenue, last) state."""
    return int(value[0]), int(value[1])


def stored(directory: Path, partitions: int) -> dict[str, Totals]:
    """The table as the (stopped) worker's RocksDB stores hold it, every key but metadata."""
    found: dict[str, Totals] = {}
    for p in range(partitions):
        store = Store(directory / str(p))
        try:
            found.update((k, _totals(v)) for k, v in store.items() if k != META)
        finally:
            store.close()
    return found


def checkpoint(path: Path) -> int | None:
    """The checkpoint of a stopped worker's store."""
    store = Store(path)
    try:
        return store.checkpoint
    finally:
        store.close()


def tamper(path: Path, values: dict[str, Any], *, moved_to: int | None = None) -> None:
    """Write ``values`` into a stopped worker's store; move its checkpoint if told to."""
    store = Store(path)
    try:
        at = moved_to if moved_to is not None else store.checkpoint
        assert at is not None, f"{path} has no checkpoint to keep"
        store.apply([(k.encode(), json.dumps(v).encode()) for k, v in values.items()], at)
    finally:
        store.close()


async def _read(
    bootstrap: str, topic: str, partitions: int, isolation: str
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of ``topic`` a reader at ``isolation`` gets, log start to end."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        isolation_level=isolation,
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        found: list[ConsumerRecord[bytes, bytes]] = []
        deadline = time.monotonic() + 60
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            assert time.monotonic() < deadline, f"could not read {topic} to its end"
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                found.extend(batch)
        return found
    finally:
        await consumer.stop()


async def changelog_table(bootstrap: str, topic: str, partitions: int) -> dict[str, Totals]:
    """The table a full replay of the changelog's committed records gives (faust's
    consistency check: rebuild the table from the changelog and diff it with the truth)."""
    latest: dict[str, bytes | None] = {}
    for record in await _read(bootstrap, topic, partitions, "read_committed"):
        assert record.key is not None
        latest[record.key.decode()] = record.value
    return {
        key: _totals(json.loads(value))
        for key, value in latest.items()
        if key != META and value is not None
    }


async def aborted_records(bootstrap: str, topic: str, partitions: int) -> int:
    """Records of aborted transactions in ``topic``: read uncommitted, not read committed."""
    everything = await _read(bootstrap, topic, partitions, "read_uncommitted")
    committed = await _read(bootstrap, topic, partitions, "read_committed")
    return len(everything) - len(committed)


async def open_transaction(bootstrap: str, topic: str, partitions: int, within_s: float) -> bool:
    """Wait until a transaction wrote to ``topic`` and is not finished yet (a partition's
    high watermark is above its last stable offset); False if none shows within ``within_s``.

    The high watermarks are read first: a transaction that commits between the two reads
    then cannot look open.
    """
    readers = [
        AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, isolation_level=isolation)
        for isolation in ("read_uncommitted", "read_committed")
    ]
    for reader in readers:
        await reader.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            written, stable = [await reader.end_offsets(tps) for reader in readers]
            if any(written[tp] > stable[tp] for tp in tps):
                return True
        return False
    finally:
        for reader in readers:
            await reader.stop()


async def last_offsets(bootstrap: str, topic: str, partitions: int) -> dict[int, dict[str, int]]:
    """Per partition, the offset of each key's latest committed record."""
    found: dict[int, dict[str, int]] = defaultdict(dict)
    for record in await _read(bootstrap, topic, partitions, "read_committed"):
        assert record.key is not None
        found[record.partition][record.key.decode()] = record.offset
    return dict(found)


async def delete_below(settings: Settings, topic: str, offsets: dict[int, int]) -> None:
    """Move the log start of ``topic``'s partitions to ``offsets`` (DeleteRecords).

    A compacted topic refuses DeleteRecords, so its policy is ``compact,delete`` meanwhile
    (as a changelog with retention would have it), then back to ``compact``.
    """
    admin = clients.admin_client(settings)
    await admin.start()
    try:
        await _set_policy(admin, topic, "compact,delete")
        await admin.delete_records(
            {TopicPartition(topic, p): RecordsToDelete(offset) for p, offset in offsets.items()}
        )
        await _set_policy(admin, topic, "compact")
    finally:
        await admin.close()


async def _set_policy(admin: AIOKafkaAdminClient, topic: str, policy: str) -> None:
    resource = ConfigResource(ConfigResourceType.TOPIC, topic, {"cleanup.policy": policy})
    for response in await admin.alter_configs([resource]):
        errors = [e for e in response.to_object()["resources"] if e["error_code"]]
        assert not errors, f"cleanup.policy={policy} refused on {topic}: {errors}"


async def write_aborted(
    settings: Settings, topic: str, records: dict[int, list[tuple[str, Any]]]
) -> int:
    """Write ``records`` (key, JSON value) to ``topic``'s partitions in one transaction and
    abort it; returns how many were written."""
    producer = clients.producer(settings, transactional_id=unique_name("aborted-writer"))
    await producer.start()
    try:
        await producer.begin_transaction()
        sent = [
            await producer.send(topic, json.dumps(value).encode(), key=key.encode(), partition=p)
            for p, pairs in records.items()
            for key, value in pairs
        ]
        await asyncio.gather(*sent)  # on the broker, inside the transaction
        await producer.abort_transaction()
        return len(sent)
    finally:
        await producer.stop()
