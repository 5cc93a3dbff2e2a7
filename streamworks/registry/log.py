"""Reading and writing the ``_schemas`` topic with aiokafka.

- :func:`ensure_topic` creates the compacted one-partition topic when it is missing.
- :class:`LogReader` reads the topic from the start (``read_committed``) into a
  :class:`RegistryState` and keeps tailing it; :meth:`LogReader.wait_position` lets a
  writer answer only once its own records are applied (read-your-writes).
- :class:`LogWriter` appends records in Kafka transactions under one fixed
  ``transactional.id`` per topic: starting a new writer fences the previous one, so a
  deposed primary gets ``ProducerFenced`` instead of writing.

aiokafka's exceptions stop here: callers see :mod:`streamworks.registry.errors` only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import (
    KafkaError,
    ProducerFenced,
)

from streamworks.core.errors import AuthorizationError, ConfigurationError
from streamworks.core.settings import Settings
from streamworks.kafka import clients
from streamworks.kafka.errors import unreachable_message
from streamworks.registry.errors import BackendError, BackendTimeoutError, NotPrimaryError
from streamworks.registry.records import LogRecord, decode, encode_all
from streamworks.registry.state import RegistryState
from streamworks.runtime import topics

__all__ = ["LogReader", "LogWriter", "ensure_topic", "transactional_id"]

logger = logging.getLogger(__name__)


def transactional_id(topic: str) -> str:
    """The one transactional.id of the writers of ``topic``: a new writer fences the old."""
    return f"{topic}-registry-writer"


async def ensure_topic(settings: Settings, topic: str) -> None:
    """Create ``topic`` (1 partition, compacted, replication min(3, brokers)) if missing."""
    try:
        await topics.ensure_topic(settings, topic, config={"cleanup.policy": "compact"})
    except AuthorizationError as error:
        raise BackendError(
            f"{error.principal} (the registry) may not create its topic {topic}; create it as "
            f"an admin (streamworks acl apply PIPELINE --registry-topic {topic})"
        ) from None
    except (ConfigurationError, KafkaError) as error:
        raise BackendError(
            unreachable_message(error, settings.bootstrap_servers)
            or f"cannot create topic {topic} on {settings.bootstrap_servers}: {error}"
        ) from error


class LogReader:
    """Applies every committed record of the topic to ``state``, in order, as it arrives."""

    def __init__(self, settings: Settings, topic: str, state: RegistryState) -> None:
        self.topic = topic
        self.state = state
        self._partition = TopicPartition(topic, 0)
        self._consumer: AIOKafkaConsumer = clients.consumer(
            settings=settings, group_id=None, isolation_level="read_committed"
        )
        self._position = 0
        self._advanced = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    @property
    def position(self) -> int:
        """The offset of the next record to apply: everything before it is in ``state``."""
        return self._position

    async def start(self, within: float) -> None:
        """Assign the partition from the beginning and return once caught up with the end."""
        try:
            await self._consumer.start()
            self._consumer.assign([self._partition])
            await self._consumer.seek_to_beginning(self._partition)
        except KafkaError as error:
            raise BackendError(f"cannot read topic {self.topic}: {error}") from error
        self._task = asyncio.create_task(self._run(), name=f"registry-reader-{self.topic}")
        await self.catch_up(within)

    async def stop(self) -> None:
        """Stop tailing and close the consumer."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._consumer.stop()

    async def end_offset(self) -> int:
        """The topic's last stable offset now (what read_committed can reach)."""
        try:
            ends = await self._consumer.end_offsets([self._partition])
        except KafkaError as error:
            raise BackendError(f"cannot read the end of topic {self.topic}: {error}") from error
        return int(ends[self._partition])

    async def catch_up(self, within: float) -> None:
        """Wait until everything committed before this call is applied."""
        await self.wait_position(await self.end_offset(), within)

    async def wait_position(self, offset: int, within: float) -> None:
        """Wait until records before ``offset`` are applied; BackendTimeoutError at the deadline."""
        deadline = time.monotonic() + within
        async with self._advanced:
            while self._position < offset:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise BackendTimeoutError(
                        f"timed out after {within:.0f}s waiting to read topic {self.topic} up "
                        f"to offset {offset} (read up to {self._position})"
                    )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._advanced.wait(), remaining)

    async def _run(self) -> None:
        while True:
            try:
                batches = await self._consumer.getmany(self._partition, timeout_ms=500)
                for message in batches.get(self._partition, []):
                    self._apply(message.key, message.value, message.offset)
                position = await self._consumer.position(self._partition)
            except KafkaError as error:
                logger.warning("reading topic %s failed, retrying: %s", self.topic, error)
                await asyncio.sleep(1.0)
                continue
            if position != self._position:
                self._position = position
                async with self._advanced:
                    self._advanced.notify_all()

    def _apply(self, key: bytes | None, value: bytes | None, offset: int) -> None:
        try:
            record = decode(key, value)
        except (ValueError, KeyError, TypeError) as error:
            logger.warning(
                "skipping malformed record at offset %d of %s: %s", offset, self.topic, error
            )
            return
        if record is not None:
            self.state.apply(record)


class LogWriter:
    """Appends records to the topic in transactions; fenced when a newer writer starts."""

    def __init__(self, settings: Settings, topic: str) -> None:
        self.topic = topic
        self._producer: AIOKafkaProducer = clients.producer(
            settings, transactional_id=transactional_id(topic), linger_ms=0
        )

    async def start(self) -> None:
        """Start the producer: registers the transactional.id, fencing any older writer."""
        try:
            await self._producer.start()
        except KafkaError as error:
            await self._producer.stop()
            raise BackendError(f"cannot start a writer for topic {self.topic}: {error}") from error

    async def stop(self) -> None:
        """Close the producer (an open transaction is aborted by the broker)."""
        # Also when start() was cancelled half-way: the producer may hold connections.
        with contextlib.suppress(KafkaError):
            await self._producer.stop()

    async def write(self, records: Sequence[LogRecord]) -> int:
        """Append ``records`` atomically; return the offset after the last one.

        Raises NotPrimaryError when fenced by a newer writer, BackendError otherwise.
        """
        try:
            async with self._producer.transaction():
                futures = []
                for record in records:
                    for key, value in encode_all(record):
                        futures.append(
                            await self._producer.send(self.topic, value=value, key=key, partition=0)
                        )
                sent = await asyncio.gather(*futures)
        except ProducerFenced as error:
            raise NotPrimaryError(
                f"this instance was fenced by a newer primary writing topic {self.topic}"
            ) from error
        except KafkaError as error:
            raise BackendError(f"cannot write topic {self.topic}: {error}") from error
        return int(sent[-1].offset) + 1
