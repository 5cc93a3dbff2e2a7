"""``streamworks consume``: a topic's records from a starting point, without a group.

The consumer is assigned its partitions by hand, so consuming never joins a consumer
group or commits an offset: it cannot disturb a stage's worker pool, and two people can
read the same topic at once. It reads committed records only (``read_committed``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from streamworks.core.settings import Settings
from streamworks.kafka import clients
from streamworks.ops.records.errors import RecordToolError

__all__ = ["Start", "consume_records", "parse_start"]

Start = Literal["beginning", "end"] | int | datetime
"""Where reading starts: the first record, only new records, an offset (in every
partition read), or the first record at or after a time."""


def parse_start(text: str) -> Start:
    """``beginning``, ``end``, an offset (digits) or an ISO 8601 time (UTC unless it says)."""
    if text in ("beginning", "end"):
        return "beginning" if text == "beginning" else "end"
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is not beginning, end, an offset or an ISO 8601 time (2026-05-01T10:00:00Z)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def consume_records(
    settings: Settings,
    topic: str,
    on_record: Callable[[ConsumerRecord[bytes, bytes]], None],
    *,
    start: Start = "beginning",
    count: int | None = None,
    follow: bool = False,
    partition: int | None = None,
) -> int:
    """Hand ``topic``'s records to ``on_record`` in offset order per partition; return how
    many.

    Without ``follow`` it stops at the end each partition had when it began (``end``
    starts there, so it always follows); ``count`` stops it after that many records.
    """
    consumer = clients.consumer(settings=settings, group_id=None, isolation_level="read_committed")
    try:
        await consumer.start()
        tps = await _assign(consumer, settings, topic, partition)
        await _seek(consumer, tps, start)
        ends = None if follow or start == "end" else await consumer.end_offsets(tps)
        seen = 0
        while count is None or seen < count:
            if ends is not None and all([await consumer.position(tp) >= ends[tp] for tp in tps]):
                break
            for tp, records in (await consumer.getmany(*tps, timeout_ms=500)).items():
                for record in records:
                    if (ends is None or record.offset < ends[tp]) and (
                        count is None or seen < count
                    ):
                        on_record(record)
                        seen += 1
    except KafkaError as error:
        raise RecordToolError(
            f"cannot read {topic} from {settings.bootstrap_servers}: {error}; "
            "check STREAMWORKS_BOOTSTRAP_SERVERS",
            topic=topic,
        ) from error
    finally:
        await consumer.stop()
    return seen


async def _assign(
    consumer: AIOKafkaConsumer, settings: Settings, topic: str, partition: int | None
) -> list[TopicPartition]:
    """Assign ``partition`` of ``topic``, or all its partitions; fail when there are none."""
    await consumer.topics()  # fetches every topic's metadata; asks for no topic's creation
    partitions = consumer.partitions_for_topic(topic)
    if not partitions:
        raise RecordToolError(
            f"topic {topic} does not exist on {settings.bootstrap_servers}; check its name "
            "(and STREAMWORKS_BOOTSTRAP_SERVERS)",
            topic=topic,
        )
    if partition is not None and partition not in partitions:
        raise RecordToolError(
            f"topic {topic} has no partition {partition}; its partitions are "
            f"0 to {max(partitions)}",
            topic=topic,
        )
    tps = [TopicPartition(topic, p) for p in sorted(partitions) if partition in (None, p)]
    consumer.assign(tps)
    return tps


async def _seek(consumer: AIOKafkaConsumer, tps: list[TopicPartition], start: Start) -> None:
    """Put every partition at ``start``: an offset is kept inside what the partition
    holds, and a time after its last record means its end."""
    if start == "beginning":
        await consumer.seek_to_beginning(*tps)
        return
    ends = await consumer.end_offsets(tps)
    if start == "end" or isinstance(start, datetime):
        found = {}
        if isinstance(start, datetime):
            moment = int(start.timestamp() * 1000)
            found = await consumer.offsets_for_times({tp: moment for tp in tps})
        for tp in tps:
            at = found.get(tp)
            consumer.seek(tp, at.offset if at is not None else ends[tp])
        return
    firsts = await consumer.beginning_offsets(tps)
    for tp in tps:
        consumer.seek(tp, min(max(start, firsts[tp]), ends[tp]))
