"""Finding a stage's dead-letter topic and reading it, or its replay markers, to the end."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from streamworks.core.errors import ConfigurationError
from streamworks.core.settings import Settings
from streamworks.kafka import clients
from streamworks.kafka.errors import unreachable_message
from streamworks.ops.dlq.errors import DeadLetterToolError
from streamworks.ops.dlq.letters import DeadLetter
from streamworks.ops.dlq.marks import parse_marker_key
from streamworks.ops.project import load_pipeline

__all__ = ["dlq_topic", "letters_until_end", "read_markers", "start_reader"]


def dlq_topic(pipeline: str | None, stage: str | None, topic: str | None) -> str:
    """``--topic`` if given, else the dead-letter topic of ``stage`` in ``pipeline``."""
    if topic:
        return topic
    if not pipeline or not stage:
        raise ConfigurationError("name a PIPELINE and a STAGE, or a dead-letter topic with --topic")
    found = load_pipeline(pipeline)
    if stage not in found.stages:
        raise ConfigurationError(
            f"pipeline {found.name} has no stage {stage}; stages: {', '.join(found.stages)}"
        )
    return found.dead_letter_topic(stage)


async def start_reader(
    settings: Settings,
    topic: str,
    *,
    group_id: str | None = None,
    missing_ok: bool = False,
    batch: int = 500,
) -> tuple[AIOKafkaConsumer, list[TopicPartition]] | None:
    """A started read_committed consumer assigned every partition of ``topic``.

    It fetches at most ``batch`` records at a time. None when the topic does not exist and
    ``missing_ok``; otherwise that is an error.
    """
    try:
        partitions = await _partitions(settings, topic)
        if not partitions:
            if missing_ok:
                return None
            raise DeadLetterToolError(
                f"topic {topic} does not exist on {settings.bootstrap_servers}; "
                "check the pipeline, stage or --topic "
                "(and --bootstrap or STREAMWORKS_BOOTSTRAP_SERVERS)",
                topic=topic,
            )
        consumer = clients.consumer(
            settings=settings,
            group_id=group_id,
            isolation_level="read_committed",
            max_poll_records=batch,
        )
        await consumer.start()
    except KafkaError as error:
        raise DeadLetterToolError(
            unreachable_message(error, settings.bootstrap_servers)
            or f"cannot read {topic} from {settings.bootstrap_servers}: {error}",
            topic=topic,
        ) from error
    tps = [TopicPartition(topic, p) for p in sorted(partitions)]
    consumer.assign(tps)
    return consumer, tps


async def letters_until_end(
    consumer: AIOKafkaConsumer, tps: list[TopicPartition]
) -> AsyncIterator[list[DeadLetter]]:
    """Batches of dead letters from each partition's position to its end as of now."""
    end = await consumer.end_offsets(tps)
    while any([await consumer.position(tp) < end[tp] for tp in tps]):
        fetched = await consumer.getmany(*tps, timeout_ms=500)
        for tp, records in fetched.items():
            batch = [
                DeadLetter.parse(
                    r.partition,
                    r.offset,
                    key=r.key,
                    value=r.value,
                    headers=r.headers,
                    kafka_timestamp_ms=r.timestamp,
                )
                for r in records
                if r.offset < end[tp]
            ]
            if batch:
                yield batch


async def read_markers(settings: Settings, topic: str) -> set[tuple[int, int]]:
    """Every ``(partition, offset)`` a committed replay marked in ``topic`` (empty if none)."""
    reader = await start_reader(settings, topic, missing_ok=True)
    if reader is None:
        return set()
    consumer, tps = reader
    marked: set[tuple[int, int]] = set()
    try:
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        while any([await consumer.position(tp) < end[tp] for tp in tps]):
            for records in (await consumer.getmany(*tps, timeout_ms=500)).values():
                marked.update(
                    found for r in records if (found := parse_marker_key(r.key)) is not None
                )
    finally:
        await consumer.stop()
    return marked


async def _partitions(settings: Settings, topic: str) -> list[int]:
    """The partition ids of ``topic``; empty if it does not exist."""
    admin = clients.admin_client(settings)
    await admin.start()
    try:
        if topic not in await admin.list_topics():
            return []
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return [int(p["partition"]) for p in described[0].get("partitions", [])]
