"""The runtime side of a source: convert, produce with acks=all, store positions.

At-least-once: records are acknowledged first, then the position record; a crash between
the two repeats that one step after a restart. Exactly-once: records, dead letters and the
position are one Kafka transaction of the producer ``connect-<name>``, so a restart resumes
exactly after the last committed step. Starting that producer fences a crashed predecessor
and aborts its open transaction before the positions are read.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from aiokafka.errors import KafkaError, ProducerFenced

from streamworks.connectors.base._metrics import ConnectorMetrics
from streamworks.connectors.base.config import SourceConfig
from streamworks.connectors.base.convert import TopicConverter
from streamworks.connectors.base.documents import to_json
from streamworks.connectors.base.errors import (
    ConnectorConfigError,
    ConnectorError,
    ConversionError,
    ProduceError,
)
from streamworks.connectors.base.positions import PositionStore
from streamworks.connectors.base.records import Position, SourceRecord
from streamworks.connectors.base.source import Sent
from streamworks.core.messages import InMessage, OutRecord
from streamworks.core.settings import Settings
from streamworks.kafka import clients
from streamworks.kafka.sending import BatchSender
from streamworks.runtime.dead_letters import DLQ_PREFIX, LINEAGE_PREFIX, dead_letter_headers
from streamworks.runtime.topics import ensure_topic
from streamworks.schemas.registry_client import RegistryClient

__all__ = ["SourceRuntime"]

logger = logging.getLogger(__name__)

_CONNECTOR_HEADER = LINEAGE_PREFIX + "connector"
_LOCATION_HEADER = LINEAGE_PREFIX + "location"


class SourceRuntime:
    """The :class:`~streamworks.connectors.base.source.SourceContext` of one running source."""

    def __init__(
        self,
        config: SourceConfig,
        settings: Settings,
        registry: RegistryClient,
        stopping: asyncio.Event,
    ) -> None:
        self.config = config
        self.produced = 0
        """Records acknowledged in their topics so far."""
        self.dead_lettered = 0
        """Records sent to the dead-letter topic so far."""
        self._metrics = ConnectorMetrics(config.name, config.kind)
        self._settings = settings
        self._stopping = stopping
        self._exactly_once = config.guarantee == "exactly-once"
        self._converter = TopicConverter(registry, key_field=config.key_field)
        self._positions = PositionStore(config.name, settings)
        overrides: dict[str, Any] = {"client_id": f"{settings.client_id}-connect-{config.name}"}
        if self._exactly_once:
            overrides["transactional_id"] = f"connect-{config.name}"
        self._producer = clients.producer(settings, **overrides)
        self._sender = BatchSender(self._producer)
        self._transaction = asyncio.Lock()
        self._pending_position: asyncio.Future[Any] | None = None

    @property
    def name(self) -> str:
        """The connector's name."""
        return self.config.name

    @property
    def stopping(self) -> asyncio.Event:
        """Set when the worker drains."""
        return self._stopping

    async def start(self) -> None:
        """Start the producer (fencing a predecessor), then read the stored positions."""
        await ensure_topic(self._settings, self.config.dlq_topic)
        await self._producer.start()
        if not await _exists(self._settings, self.config.topic):
            raise ConnectorConfigError(
                f"connector {self.name}: topic {self.config.topic} does not exist; create it "
                "first (streamworks run creates a pipeline's topics)"
            )
        await self._positions.load()

    async def stop(self) -> None:
        """Flush and close the producer (the last position is sent before it closes)."""
        try:
            if self._pending_position is not None:
                await self._pending_position
        except KafkaError as error:
            logger.warning("connector %s: its last position was not stored: %s", self.name, error)
        finally:
            await self._producer.stop()

    def position(self, partition: str) -> Position | None:
        """The last stored position of ``partition``."""
        return self._positions.get(partition)

    async def convert(self, record: SourceRecord) -> OutRecord:
        """``record`` as framed Avro with the source's lineage headers."""
        out = await self._converter.convert(record)
        lineage = [(_CONNECTOR_HEADER, self.name.encode())]
        if record.location:
            lineage.append((_LOCATION_HEADER, record.location.encode()))
        return OutRecord(out.topic, out.key, out.value, (*lineage, *out.headers))

    async def produce(
        self,
        records: Sequence[OutRecord],
        *,
        partition: str | None = None,
        position: Position | None = None,
    ) -> None:
        """Produce ``records`` and store the position, durably (see the module docstring)."""
        await self._write(list(records), [], partition, position)

    async def dead_letter(self, record: SourceRecord, error: BaseException) -> None:
        """Write ``record`` to the dead-letter topic, explained by headers."""
        await self._write([], [self._dead_letter(record, error)], None, None)

    async def send(
        self,
        records: Sequence[SourceRecord],
        *,
        partition: str | None = None,
        position: Position | None = None,
        failed: Sequence[tuple[SourceRecord, BaseException]] = (),
    ) -> Sent:
        """Convert each record; produce the good ones and dead-letter the rest, together."""
        good: list[OutRecord] = []
        bad = [self._dead_letter(record, error) for record, error in failed]
        reasons = [str(error) for _, error in failed]
        for record in records:
            try:
                good.append(await self.convert(record))
            except ConversionError as error:
                bad.append(self._dead_letter(record, error))
                reasons.append(str(error))
        await self._write(good, bad, partition, position)
        return Sent(produced=len(good), dead_lettered=len(bad), reasons=tuple(reasons))

    def _dead_letter(self, record: SourceRecord, error: BaseException) -> OutRecord:
        logger.warning("connector %s: dead-lettering %s", self.name, error)
        body = to_json(record.value).encode()
        origin = InMessage(record.topic, -1, -1, None, body, 0, record.headers)
        headers = (
            *dead_letter_headers(self.name, origin, error, 1),
            (DLQ_PREFIX + "origin.location", record.location.encode()),
        )
        key = record.key.encode() if record.key is not None else None
        return OutRecord(self.config.dlq_topic, key, body, headers)

    async def _write(
        self,
        good: list[OutRecord],
        bad: list[OutRecord],
        partition: str | None,
        position: Position | None,
    ) -> None:
        marker = (
            [self._positions.record(partition, position)]
            if partition is not None and position is not None
            else []
        )
        if not (good or bad or marker):
            return
        try:
            if self._exactly_once:
                async with self._transaction, self._producer.transaction():
                    await self._sender.send(good + bad + marker)
            else:
                await self._acknowledged(good + bad)
                if marker:  # only after the records it covers are safe
                    await self._store_position(marker)
        except ProducerFenced as error:
            raise ConnectorError(
                f"connector {self.name}: another worker took over its transactional id "
                f"connect-{self.name}; this one stops"
            ) from error
        except KafkaError as error:
            raise ProduceError(
                f"connector {self.name}: Kafka did not acknowledge {len(good) + len(bad)} "
                f"records ({type(error).__name__}: {error}); nothing was stored as done"
            ) from error
        if marker and partition is not None and position is not None:
            self._positions.remember(partition, position)
        self.produced += len(good)
        self.dead_lettered += len(bad)
        self._metrics.produced(len(good), len(bad))

    async def _store_position(self, marker: list[OutRecord]) -> None:
        """Send a position without waiting for its acknowledgement (at-least-once).

        The records it covers are already safe; if the position is lost in a crash, the
        restarted source repeats that step, which at-least-once allows. Not waiting halves
        a step's latency. A refused position surfaces at the next step, before anything
        else is taken as stored.
        """
        if self._pending_position is not None and self._pending_position.done():
            self._pending_position.result()  # raises the previous position's failure
        futures = await self._sender.send(marker)
        self._pending_position = asyncio.ensure_future(asyncio.gather(*futures))

    async def _acknowledged(self, records: list[OutRecord]) -> None:
        if records:
            await asyncio.gather(*await self._sender.send(records))


async def _exists(settings: Settings, topic: str) -> bool:
    admin = clients.admin_client(settings)
    await admin.start()
    try:
        return topic in await admin.list_topics()
    finally:
        await admin.close()
