"""Where sources got to, kept in a compacted Kafka topic.

Each position is one record keyed by ``["<connector>", "<source partition>"]`` (JSON text)
whose value is the position as JSON. Compaction keeps the newest per key, so the topic
stays as small as the number of files or shards ever read. A source's positions are read
with read_committed at start: under exactly-once a position is written in the same
transaction as the records it covers, so a crash can never leave one without the other.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aiokafka import TopicPartition

from streamworks.connectors.base.records import Position
from streamworks.core.messages import OutRecord
from streamworks.core.settings import Settings
from streamworks.kafka import clients
from streamworks.runtime.topics import ensure_topic

__all__ = ["POSITIONS_TOPIC", "PositionStore"]

logger = logging.getLogger(__name__)

POSITIONS_TOPIC = "streamworks.connect.positions"
_PARTITIONS = 3
_POLL_MS = 200


class PositionStore:
    """The positions of one connector: loaded once, then updated by the records it writes."""

    def __init__(self, connector: str, settings: Settings, topic: str = POSITIONS_TOPIC) -> None:
        self.connector = connector
        self.topic = topic
        self._settings = settings
        self._positions: dict[str, Position] = {}

    def get(self, partition: str) -> Position | None:
        """The last stored position of ``partition``, or None if it was never stored."""
        found = self._positions.get(partition)
        return dict(found) if found is not None else None

    def all(self) -> dict[str, Position]:
        """Every known position of this connector, by source partition."""
        return {k: dict(v) for k, v in self._positions.items()}

    def record(self, partition: str, position: Position) -> OutRecord:
        """The record that stores ``position``; it counts once it is acknowledged."""
        key = json.dumps([self.connector, partition], separators=(",", ":"))
        value = json.dumps(position, separators=(",", ":"), sort_keys=True)
        return OutRecord(self.topic, key.encode(), value.encode())

    def remember(self, partition: str, position: Position) -> None:
        """Take ``position`` as stored (call once its record is acknowledged or committed)."""
        self._positions[partition] = dict(position)

    async def create_topic(self) -> None:
        """Create the positions topic unless it exists."""
        await ensure_topic(
            self._settings,
            self.topic,
            partitions=_PARTITIONS,
            config={"cleanup.policy": "compact", "min.compaction.lag.ms": "0"},
        )

    async def load(self) -> None:
        """Create the topic if needed and read this connector's latest positions."""
        await self.create_topic()
        consumer = clients.consumer(
            settings=self._settings,
            isolation_level="read_committed",
            group_id=None,
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            partitions = [
                TopicPartition(self.topic, p)
                for p in sorted(consumer.partitions_for_topic(self.topic) or range(_PARTITIONS))
            ]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
            remaining = {tp for tp in partitions if ends[tp] > 0}
            while remaining:
                batches = await consumer.getmany(*remaining, timeout_ms=_POLL_MS)
                for records in batches.values():
                    for message in records:
                        self._apply(message.key, message.value)
                for tp in list(remaining):
                    if await consumer.position(tp) >= ends[tp]:
                        remaining.discard(tp)
        finally:
            await consumer.stop()
        logger.info("connector %s: %d stored positions", self.connector, len(self._positions))

    def _apply(self, key: bytes | None, value: bytes | None) -> None:
        try:
            owner, partition = json.loads(key or b"null")
        except (TypeError, ValueError):
            logger.warning("ignoring a malformed key in %s: %r", self.topic, key)
            return
        if owner != self.connector:
            return
        if value is None:
            self._positions.pop(str(partition), None)
            return
        try:
            position: Any = json.loads(value)
        except ValueError:
            logger.warning("ignoring a malformed position of %s in %s", partition, self.topic)
            return
        if isinstance(position, dict):
            self._positions[str(partition)] = position
