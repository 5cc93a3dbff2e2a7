"""``streamworks consume``: a topic's records from a starting point, without a group.

The consumer is assigned its partitions by hand (the dead-letter tools' reader, which
serves any topic), so consuming never joins a consumer group or commits an offset: it
cannot disturb a stage's worker pool, and two people can read the same topic at once. It
reads committed records only (``read_committed``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from streamworks.core.settings import Settings
from streamworks.ops.dlq.reading import start_reader
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
    reader = await start_reader(settings, topic, missing_ok=True)
    if reader is None:
        raise RecordToolError(
            f"topic {topic} does not exist on {settings.bootstrap_servers}; check its name "
            "(and --bootstrap or STREAMWORKS_BOOTSTRAP_SERVERS)",
            topic=topic,
        )
    consumer, tps = reader
    seen = 0
    try:
        tps = _only(consumer, tps, partition)
        await _seek(consumer, tps, start)
        ends = None if follow or start == "end" else await consumer.end_offsets(tps)
        while count is None or seen < count:
            if ends is not None and all([await consumer.position(tp) >= ends[tp] for tp in tps]):
                break
            for tp, records in (await consumer.getmany(*tps, timeout_ms=500)).items():
                for record in records[: None if count is None else count - seen]:
                    if ends is None or record.offset < ends[tp]:
                        on_record(record)
                        seen += 1
    except KafkaError as error:
        raise RecordToolError(
            f"cannot read {topic} from {settings.bootstrap_servers}: {error}", topic=topic
        ) from error
    finally:
        await consumer.stop()
    return seen


def _only(
    consumer: AIOKafkaConsumer, tps: list[TopicPartition], partition: int | None
) -> list[TopicPartition]:
    """``tps``, or only ``partition`` of them, with the others paused (assigning anew
    would race the fetches already under way for the first assignment)."""
    if partition is None:
        return tps
    chosen = [tp for tp in tps if tp.partition == partition]
    if not chosen:
        raise RecordToolError(
            f"topic {tps[0].topic} has no partition {partition}; its partitions are "
            f"0 to {len(tps) - 1}",
            topic=tps[0].topic,
        )
    consumer.pause(*[tp for tp in tps if tp.partition != partition])
    return chosen


async def _seek(consumer: AIOKafkaConsumer, tps: list[TopicPartition], start: Start) -> None:
    """Put every partition at ``start``: an offset is kept inside what the partition
    holds, and a time after its last record means its end.

    The reader starts at the beginning (``auto_offset_reset=earliest``, no group); its
    first positions are awaited before any seek, so that reset cannot land after ours.
    """
    for tp in tps:
        await consumer.position(tp)
    if start == "beginning":
        return
    ends = await consumer.end_offsets(tps)
    targets = dict(ends)
    if isinstance(start, datetime):
        moment = int(start.timestamp() * 1000)
        found = await consumer.offsets_for_times({tp: moment for tp in tps})
        targets.update({tp: at.offset for tp, at in found.items() if at is not None})
    elif isinstance(start, int):
        firsts = await consumer.beginning_offsets(tps)
        targets = {tp: min(max(start, firsts[tp]), ends[tp]) for tp in tps}
    for tp in tps:
        consumer.seek(tp, targets[tp])
