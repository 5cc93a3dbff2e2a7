"""The Kafka side of status: group members, offsets and the records at the groups' positions.

aiokafka's exceptions stop here; callers see :class:`~streamworks.ops.status.errors.StatusError`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import defaultdict
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from streamworks.core.settings import Settings
from streamworks.kafka import clients
from streamworks.ops.status._groups import group_members
from streamworks.ops.status.rates import WorkerHistory, WorkerSample
from streamworks.runtime.stats import STATS_TOPIC

__all__ = ["ClusterReader"]

logger = logging.getLogger(__name__)
_NO_ERROR = 0
_HEAD_TIMEOUT_S = 5.0  # how long to wait for the records at the groups' positions


class ClusterReader:
    """An admin client and two group-less consumers, kept open between samples.

    One consumer reads the records at the groups' positions (with the pipeline's isolation
    level, so offsets and records agree with what its workers see); the other follows the
    stats topic incrementally, so a ``--watch`` refresh reads only what is new.
    """

    def __init__(self, settings: Settings) -> None:
        self._admin: AIOKafkaAdminClient = clients.admin_client(settings)
        self._heads: AIOKafkaConsumer = clients.consumer(
            settings=settings, group_id=None, client_id=f"{settings.client_id}-status"
        )
        self._stats: AIOKafkaConsumer = clients.consumer(
            settings=settings,
            group_id=None,
            client_id=f"{settings.client_id}-status-stats",
            isolation_level="read_uncommitted",
        )
        self._stats_partitions: list[TopicPartition] = []

    async def start(self) -> None:
        """Connect all three clients."""
        await self._admin.start()
        await self._heads.start()
        await self._stats.start()

    async def close(self) -> None:
        """Disconnect; safe after a failed start."""
        await self._stats.stop()
        await self._heads.stop()
        await self._admin.close()

    async def members(self, groups: Iterable[str]) -> dict[str, int]:
        """Members of each group (0 for an empty or unknown group)."""
        return await group_members(self._admin, groups)

    async def partitions(self, topics: Iterable[str]) -> dict[str, list[int]]:
        """Partition ids of each topic; an empty list for a topic that does not exist."""
        wanted = sorted(set(topics))
        found: dict[str, list[int]] = {topic: [] for topic in wanted}
        for described in await self._admin.describe_topics(wanted):
            if described["error_code"] == _NO_ERROR and described["topic"] in found:
                found[described["topic"]] = sorted(p["partition"] for p in described["partitions"])
        return found

    async def committed(self, group: str, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        """``group``'s committed offset of each of ``tps`` that has one."""
        if not tps:
            return {}
        found = await self._admin.list_consumer_group_offsets(group, partitions=tps)
        return {tp: meta.offset for tp, meta in found.items()}

    async def offsets(
        self, tps: list[TopicPartition]
    ) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
        """Beginning and end offsets of ``tps``, asked for all at once (each call of the
        consumer's offset lookups may wait for a metadata refresh)."""
        if not tps:
            return {}, {}
        return await self._heads.beginning_offsets(tps), await self._heads.end_offsets(tps)

    async def head_timestamps(
        self, wanted: Iterable[tuple[TopicPartition, int]]
    ) -> dict[tuple[TopicPartition, int], int]:
        """Timestamp (ms) of the first record at or after each (partition, offset), where one
        came in time. Stages sharing an input ask for several offsets of one partition: one
        round of fetches per offset of a partition."""
        pending: dict[TopicPartition, list[int]] = defaultdict(list)
        for tp, offset in sorted(set(wanted)):
            pending[tp].append(offset)
        found: dict[tuple[TopicPartition, int], int] = {}
        while pending:
            starts = {tp: offsets.pop(0) for tp, offsets in pending.items()}
            pending = {tp: offsets for tp, offsets in pending.items() if offsets}
            for tp, timestamp in (await self._first_records(starts)).items():
                found[tp, starts[tp]] = timestamp
        return found

    async def _first_records(self, starts: dict[TopicPartition, int]) -> dict[TopicPartition, int]:
        self._heads.assign(list(starts))
        for tp, offset in starts.items():
            self._heads.seek(tp, offset)
        found: dict[TopicPartition, int] = {}
        deadline = time.monotonic() + _HEAD_TIMEOUT_S
        while len(found) < len(starts) and time.monotonic() < deadline:
            for tp, records in (await self._heads.getmany(timeout_ms=200)).items():
                if records and tp not in found:
                    found[tp] = records[0].timestamp
                    self._heads.pause(tp)
        self._heads.resume(*starts)
        missing = set(starts) - set(found)
        if missing:
            logger.warning("no record came from %s within %.0f s", sorted(missing), _HEAD_TIMEOUT_S)
        return found

    async def read_stats(self, history: WorkerHistory) -> None:
        """Add every stats record written since the last call to ``history``."""
        if not self._stats_partitions:
            ids = (await self.partitions([STATS_TOPIC]))[STATS_TOPIC]
            if not ids:
                return  # no worker ever published
            self._stats_partitions = [TopicPartition(STATS_TOPIC, p) for p in ids]
            self._stats.assign(self._stats_partitions)
            await self._stats.seek_to_beginning(*self._stats_partitions)
        end = await self._stats.end_offsets(self._stats_partitions)
        while any([await self._stats.position(tp) < offset for tp, offset in end.items()]):
            for records in (await self._stats.getmany(timeout_ms=500)).values():
                for record in records:
                    if record.key is None or record.value is None:
                        continue
                    try:
                        sample = WorkerSample.parse(json.loads(record.value))
                    except ValueError:
                        sample = None
                    if sample is not None:
                        history.add(record.key, sample)
            await asyncio.sleep(0)
