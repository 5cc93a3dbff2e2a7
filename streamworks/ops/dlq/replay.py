"""Replaying dead letters into their origin topics, each at most once, ever.

Never twice: every replayed record is produced in one Kafka transaction together with a
marker keyed ``<partition>:<offset>`` in the compacted ``<dlq>.replayed`` topic and the
replay group's offsets. A replay reads the markers (read_committed) before it starts and
skips what they list, so a crash mid-replay aborts the open transaction: its records and
markers vanish together and the next run does them again. The transactional id is fixed
per dead-letter topic, so a second replay started meanwhile fences the first before it
reads the markers. The group offset only moves past a contiguous run of replayed letters:
letters left out by ``--error``, without an origin, or whose origin topic is gone hold it
back, so a later replay still reaches them; it just saves re-reading the settled prefix.
Records go back keyed as they were, so the platform's partitioner picks their partition.
If a dead-letter topic is deleted and made again, its offsets restart: delete its
``.replayed`` topic and its ``-replay`` group with it, or new letters look replayed.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from streamworks.core.settings import Settings
from streamworks.kafka import clients
from streamworks.kafka.errors import unreachable_message
from streamworks.ops.dlq.errors import DeadLetterToolError
from streamworks.ops.dlq.marks import marker_key, marker_topic, replay_headers, replay_id
from streamworks.ops.dlq.reading import letters_until_end, read_markers, start_reader
from streamworks.ops.dlq.sorting import Batch, ReplayReport, Sorter

__all__ = ["replay"]

logger = logging.getLogger(__name__)


async def replay(
    settings: Settings,
    topic: str,
    *,
    error: str | None = None,
    dry_run: bool = False,
    limit: int | None = None,
    batch: int = 500,
    on_batch: Callable[[int], None] | None = None,
) -> ReplayReport:
    """Replay the dead letters of ``topic``, up to ``batch`` per transaction.

    ``on_batch`` hears how many letters each committed transaction replayed.
    """
    producer: AIOKafkaProducer | None = None
    if not dry_run:
        producer = clients.producer(settings, transactional_id=replay_id(topic))
        await _start(producer, topic, settings)  # fences any replay of this topic still running
    try:
        reader = await start_reader(settings, topic, group_id=replay_id(topic), batch=batch)
        assert reader is not None  # noqa: S101 - start_reader raises unless missing_ok
        consumer, tps = reader
        try:
            if producer is not None:
                await _ensure_marker_topic(settings, topic)
            sorter = Sorter(
                done=await read_markers(settings, marker_topic(topic)),
                existing=await consumer.topics(),
                error=error,
                limit=limit,
            )
            return await _run(consumer, tps, producer, sorter, on_batch)
        finally:
            await consumer.stop()
    finally:
        if producer is not None:
            await producer.stop()


async def _start(producer: AIOKafkaProducer, topic: str, settings: Settings) -> None:
    try:
        await producer.start()
    except KafkaError as error:
        await producer.stop()
        raise DeadLetterToolError(
            unreachable_message(error, settings.bootstrap_servers)
            or f"cannot start the replay producer for {topic}: {error}",
            topic=topic,
        ) from error


async def _run(
    consumer: AIOKafkaConsumer,
    tps: list[TopicPartition],
    producer: AIOKafkaProducer | None,
    sorter: Sorter,
    on_batch: Callable[[int], None] | None,
) -> ReplayReport:
    for tp in tps:
        committed = await consumer.committed(tp)
        if committed is None:
            await consumer.seek_to_beginning(tp)
        else:
            consumer.seek(tp, committed)
    async for letters in letters_until_end(consumer, tps):
        batch = sorter.sort(letters)
        if producer is not None and (batch.sends or batch.offsets):
            await _commit(producer, tps[0].topic, batch)
            if on_batch is not None:
                on_batch(len(batch.sends))
        if batch.last:
            break
    return sorter.report


async def _commit(producer: AIOKafkaProducer, topic: str, plan: Batch) -> None:
    """The batch's records, their markers and the group's offsets: all or nothing."""
    markers = marker_topic(topic)
    now_ms = int(time.time() * 1000)
    try:
        async with producer.transaction():
            for letter in plan.sends:
                assert letter.origin_topic is not None  # noqa: S101 - checked by _run
                headers = replay_headers(
                    letter.headers, topic, letter.partition, letter.offset, now_ms
                )
                await producer.send(
                    letter.origin_topic, letter.value, key=letter.key, headers=list(headers)
                )
                mark = {"origin": letter.origin_topic, "at": now_ms}
                await producer.send(
                    markers,
                    json.dumps(mark).encode(),
                    key=marker_key(letter.partition, letter.offset),
                )
            if plan.offsets:
                offsets = {TopicPartition(topic, p): o for p, o in plan.offsets.items()}
                await producer.send_offsets_to_transaction(offsets, replay_id(topic))
    except KafkaError as error:
        raise DeadLetterToolError(
            f"replay of {topic} failed and its last batch was rolled back: {error}; "
            "run it again, nothing is replayed twice",
            topic=topic,
        ) from error
    logger.info("replayed %d dead letter(s) of %s", len(plan.sends), topic)


async def _ensure_marker_topic(settings: Settings, topic: str) -> None:
    """Create ``<dlq>.replayed`` (compacted, replicated like the dead-letter topic)."""
    admin = clients.admin_client(settings)
    await admin.start()
    try:
        if marker_topic(topic) in await admin.list_topics():
            return
        described = await admin.describe_topics([topic])
        partitions = described[0].get("partitions", []) if described else []
        replication = len(partitions[0]["replicas"]) if partitions else 1
        response = await admin.create_topics(
            [
                NewTopic(
                    marker_topic(topic),
                    num_partitions=1,
                    replication_factor=replication,
                    topic_configs={"cleanup.policy": "compact"},
                )
            ]
        )
    except KafkaError as error:
        raise DeadLetterToolError(
            f"cannot create {marker_topic(topic)}, where replays are recorded: {error}",
            topic=topic,
        ) from error
    finally:
        await admin.close()
    for name, code, *_ in response.topic_errors:
        if code not in (0, TopicAlreadyExistsError.errno):
            raise DeadLetterToolError(
                f"cannot create {name}, where replays are recorded: Kafka error code {code}",
                topic=topic,
            )
