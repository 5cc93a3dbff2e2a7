"""``streamworks produce``: check every record first, then produce all of them or none.

Nothing is sent while any record is rejected, unless the caller skips the bad ones; the
good ones then go with the platform's safe producer (acks=all, idempotent), and the
call returns only once every one is acknowledged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from streamworks.core.settings import Settings
from streamworks.kafka import clients
from streamworks.kafka.errors import unreachable
from streamworks.ops.records.encoding import ValueEncoder, encoder_for
from streamworks.ops.records.errors import RecordToolError
from streamworks.ops.records.input import InputRecord, Reject, key_of
from streamworks.pipeline.graph import TopicSpec

__all__ = ["ProduceReport", "produce_records"]


@dataclass
class ProduceReport:
    """What became of the records given."""

    produced: int = 0
    """Records acknowledged by the broker."""
    rejects: list[Reject] = field(default_factory=list)
    """Records not produced, in line order (with the lines that were not records)."""
    contract: str = ""
    """What the records were checked against."""


async def produce_records(
    settings: Settings,
    topic: str,
    records: list[InputRecord],
    *,
    spec: TopicSpec | None,
    key_field: str | None = None,
    rejects: list[Reject] | None = None,
    skip_bad: bool = False,
    on_sent: Callable[[int], None] | None = None,
) -> ProduceReport:
    """Encode ``records`` for ``topic`` and produce them, unless one is rejected.

    ``rejects`` are the input's own (lines that are not objects); with any reject nothing
    is produced unless ``skip_bad``. ``on_sent`` is told how many records were acknowledged
    after each batch of them.
    """
    report = ProduceReport(rejects=list(rejects or ()))
    producer = clients.producer(settings)
    try:
        await producer.start()
        await _check_topic(producer, settings, topic)
        encoder = await encoder_for(settings, topic, spec)
        report.contract = encoder.contract
        ready = await _encode(encoder, records, key_field, report.rejects)
        report.rejects.sort(key=lambda reject: reject.line)
        if report.rejects and not skip_bad:
            return report
        report.produced = await _send(producer, topic, ready, on_sent)
    except KafkaError as error:
        down = unreachable(error, settings.bootstrap_servers)
        if down is not None:
            raise down from None
        raise RecordToolError(
            f"cannot produce to {topic} on {settings.bootstrap_servers}: {error}; "
            "check --bootstrap or STREAMWORKS_BOOTSTRAP_SERVERS",
            topic=topic,
        ) from error
    finally:
        await producer.stop()
    return report


async def _check_topic(producer: AIOKafkaProducer, settings: Settings, topic: str) -> None:
    """Fail when ``topic`` does not exist, rather than let the broker create it."""
    metadata = await producer.client.fetch_all_metadata()
    if topic not in metadata.topics():
        raise RecordToolError(
            f"topic {topic} does not exist on {settings.bootstrap_servers}; create it "
            "first (streamworks topics apply, or run the pipeline that declares it)",
            topic=topic,
        )


async def _encode(
    encoder: ValueEncoder,
    records: list[InputRecord],
    key_field: str | None,
    rejects: list[Reject],
) -> list[tuple[bytes | None, bytes]]:
    """Each record's key and value, in input order; the records that have none go to
    ``rejects`` (with every reason, one line)."""
    ready: list[tuple[bytes | None, bytes]] = []
    for record in records:
        reasons: list[str] = []
        key: bytes | None = None
        if key_field is not None:
            try:
                key = key_of(record, key_field)
            except ValueError as error:
                reasons.append(str(error))
        value = await encoder.encode(record)
        if isinstance(value, Reject):
            reasons.insert(0, value.reason)
        if reasons:
            rejects.append(Reject(record.line, "; ".join(reasons)))
        elif isinstance(value, bytes):
            ready.append((key, value))
    return ready


_BATCH = 1_000


async def _send(
    producer: AIOKafkaProducer,
    topic: str,
    ready: list[tuple[bytes | None, bytes]],
    on_sent: Callable[[int], None] | None,
) -> int:
    """Send ``ready`` in order, a batch at a time; return once all are acknowledged."""
    for start in range(0, len(ready), _BATCH):
        batch = ready[start : start + _BATCH]
        await asyncio.gather(*[await producer.send(topic, value, key=key) for key, value in batch])
        if on_sent is not None:
            on_sent(len(batch))
    return len(ready)
