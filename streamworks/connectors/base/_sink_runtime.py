"""The runtime side of a sink: read a batch, decode, write, flush, and only then commit.

Workers of one sink share its consumer group, so its topics' partitions are spread over
them. Offsets are committed after ``flush`` returned: a crash before that redelivers the
batch, which an idempotent sink (an upsert by key) absorbs. Sinks always read with
read_committed, so records of aborted upstream transactions never reach the outside world.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Sequence
from typing import Any

from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from streamworks.connectors.base._metrics import ConnectorMetrics
from streamworks.connectors.base.config import SinkConfig
from streamworks.connectors.base.documents import to_json
from streamworks.connectors.base.errors import ConnectorError, RejectedError, TransientError
from streamworks.connectors.base.records import SinkRecord
from streamworks.connectors.base.retry import Backoff
from streamworks.connectors.base.sink import Sink
from streamworks.core.messages import InMessage, OutRecord
from streamworks.core.settings import Settings
from streamworks.kafka import clients
from streamworks.kafka.sending import BatchSender
from streamworks.runtime.dead_letters import dead_letter
from streamworks.runtime.topics import ensure_topic
from streamworks.schemas.codec import AvroCodec, AvroDecoder
from streamworks.schemas.errors import DecodeError, RegistryUnavailableError, SchemaNotFoundError
from streamworks.schemas.registry_client import RegistryClient

__all__ = ["SinkRuntime"]

logger = logging.getLogger(__name__)


class SinkRuntime:
    """Drives one sink as a member of its consumer group (the sink's ``SinkContext``)."""

    def __init__(
        self,
        config: SinkConfig,
        sink: Sink,
        settings: Settings,
        registry: RegistryClient,
        stopping: asyncio.Event,
    ) -> None:
        self.config = config
        self.sink = sink
        self.written = 0
        """Records written and flushed so far."""
        self.dead_lettered = 0
        """Records sent to the dead-letter topic so far."""
        self._metrics = ConnectorMetrics(config.name, config.kind)
        self._settings = settings
        self._registry = registry
        self._stopping = stopping
        self._codec = AvroCodec(registry)
        self._schemas: dict[str, dict[str, Any]] = {}
        self._decoders: dict[str, AvroDecoder] = {}
        self._consumer = clients.consumer(
            *config.topics,
            settings=settings,
            group_id=config.group_id,
            client_id=f"{settings.client_id}-connect-{config.name}",
            isolation_level="read_committed",
            max_poll_records=config.batch_size,
        )
        self._producer = clients.producer(settings)
        self._sender = BatchSender(self._producer)
        self._backoff = Backoff(config.retry, stopping)

    @property
    def name(self) -> str:
        """The connector's name."""
        return self.config.name

    def value_schema(self, topic: str) -> dict[str, Any]:
        """The latest value schema of ``topic``, as fetched when the sink started."""
        found = self._schemas.get(topic)
        if found is None:
            raise ConnectorError(
                f"connector {self.name}: topic {topic} has no schema registered under "
                f"{topic}-value; register the topic's contract first"
            )
        return found

    async def start(self) -> None:
        """Fetch schemas, prepare the target, then join the consumer group."""
        for topic in self.config.topics:
            try:
                found = await asyncio.to_thread(self._registry.latest, f"{topic}-value")
            except SchemaNotFoundError:
                logger.warning("connector %s: no schema for %s yet", self.name, topic)
                continue
            self._schemas[topic] = json.loads(found.schema)
            self._decoders[topic] = self._codec.decoder(self._schemas[topic])
        await ensure_topic(self._settings, self.config.dlq_topic)
        await self._producer.start()
        await self.sink.start(self)
        await self._consumer.start()

    async def stop(self) -> None:
        """Leave the group and close the target (the last batch was committed)."""
        await self._consumer.stop()
        await self.sink.close()
        await self._producer.stop()

    async def run(self) -> None:
        """Write batches until the worker drains."""
        wait_ms = self.config.batch_wait_ms
        while not self._stopping.is_set():
            fetched = await self._consumer.getmany(
                timeout_ms=wait_ms, max_records=self.config.batch_size
            )
            messages = [m for batch in fetched.values() for m in batch]
            if messages and not await self._deliver(messages):
                return  # draining while the target was down: nothing more is committed

    async def _deliver(self, messages: list[ConsumerRecord[bytes, bytes]]) -> bool:
        while True:
            try:
                records, dead = self._decode(messages)
                break
            except RegistryUnavailableError as error:  # not the records' fault: wait for it
                logger.warning("connector %s: %s; retrying", self.name, error)
                self._metrics.retried()
                if not await self._backoff.wait():
                    return False
        while records:
            began = time.perf_counter()
            try:
                await self.sink.write(records)
                await self.sink.flush()
            except TransientError as error:
                if self._backoff.exhausted:
                    raise ConnectorError(
                        f"connector {self.name}: gave up after {self._backoff.attempts} "
                        f"attempts: {error}"
                    ) from error
                logger.warning("connector %s: %s; retrying", self.name, error)
                self._metrics.retried()
                if not await self._backoff.wait(error.retry_after):
                    return False
                continue
            except RejectedError as error:
                refused = list(error.records) if error.records is not None else records
                dead.extend(self._dead_letter(r, error) for r in refused)
                ids = {id(r) for r in refused}
                records = [r for r in records if id(r) not in ids]
                continue
            self._backoff.reset()
            self.written += len(records)
            self._metrics.wrote(len(records), time.perf_counter() - began)
            break
        await self._finish(messages, dead)
        return True

    def _decode(
        self, messages: list[ConsumerRecord[bytes, bytes]]
    ) -> tuple[list[SinkRecord], list[OutRecord]]:
        records: list[SinkRecord] = []
        dead: list[OutRecord] = []
        for m in messages:
            key = m.key.decode(errors="replace") if m.key is not None else None
            headers = tuple((k, bytes(v)) for k, v in m.headers)
            if m.value is None:
                value = None
            else:
                try:
                    value = self._decoder(m.topic).decode(
                        m.value, topic=m.topic, partition=m.partition, offset=m.offset
                    )
                except DecodeError as error:
                    dead.append(dead_letter(self.name, self.config.dlq_topic, _origin(m), error, 1))
                    continue
            records.append(
                SinkRecord(m.topic, m.partition, m.offset, key, value, m.timestamp, headers)
            )
        return records, dead

    def _decoder(self, topic: str) -> AvroDecoder:
        decoder = self._decoders.get(topic)
        if decoder is None:  # no contract known: read each record with its writer schema
            decoder = self._decoders[topic] = self._codec.decoder()
        return decoder

    def _dead_letter(self, record: SinkRecord, error: BaseException) -> OutRecord:
        origin = InMessage(
            record.topic,
            record.partition,
            record.offset,
            record.key.encode() if record.key is not None else None,
            to_json(record.value).encode() if record.value is not None else None,
            record.timestamp_ms,
            record.headers,
        )
        return dead_letter(self.name, self.config.dlq_topic, origin, error, 1)

    async def _finish(
        self, messages: Sequence[ConsumerRecord[bytes, bytes]], dead: list[OutRecord]
    ) -> None:
        if dead:
            try:
                await asyncio.gather(*await self._sender.send(dead))
            except KafkaError as error:
                raise ConnectorError(
                    f"connector {self.name}: dead letters were not acknowledged ({error}); "
                    "the batch is not committed and will be delivered again"
                ) from error
            self.dead_lettered += len(dead)
            self._metrics.dead_lettered(len(dead))
        offsets: dict[TopicPartition, int] = {}
        for m in messages:
            tp = TopicPartition(m.topic, m.partition)
            offsets[tp] = max(offsets.get(tp, 0), m.offset + 1)
        # a rebalance during the write may have moved partitions to another worker; their
        # new owner starts from the last commit and writes those records again
        owned = self._consumer.assignment()
        offsets = {tp: offset for tp, offset in offsets.items() if tp in owned}
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError):
            logger.warning("connector %s: commit refused after a rebalance", self.name)


def _origin(m: ConsumerRecord[bytes, bytes]) -> InMessage:
    headers = tuple((k, bytes(v)) for k, v in m.headers)
    return InMessage(m.topic, m.partition, m.offset, m.key, m.value, m.timestamp, headers)
