"""Committed offsets a deleted topic left behind are not where its re-created namesake starts.

The broker forgets a group's offsets when a topic is deleted, but a commit racing the
deletion (the worker's last batch, or the settle of the rebalance the deletion causes) can
land afterwards. Once the topic is applied again, the group would start each partition at
that old offset: past the new log's end, so every record written before the log reaches it
would be skipped. :class:`FreshStarts` wraps a worker's
:class:`~streamworks.runtime.membership.Owner`: when partitions are assigned, an offset past
its partition's end (never a valid position) is replaced by the partition's beginning
before the member starts from the committed offsets.
"""

from __future__ import annotations

import logging

from aiokafka import AIOKafkaConsumer, TopicPartition

from streamworks.kafka.rdkafka import RdConsumer
from streamworks.runtime.membership import Owner

__all__ = ["FreshStarts"]

logger = logging.getLogger(__name__)


class FreshStarts:
    """``owner``, whose new partitions start at their beginning when the committed offset is
    past their end (a re-created topic's stale offset)."""

    def __init__(self, owner: Owner, consumer: AIOKafkaConsumer | RdConsumer, group: str) -> None:
        self._owner = owner
        self._consumer = consumer
        self._group = group

    async def take(self, assigned: set[TopicPartition]) -> None:
        """Set up ``assigned`` as the owner does, then replace stale committed offsets."""
        await self._owner.take(assigned)
        if not assigned:
            return
        ends = await self._consumer.end_offsets(sorted(assigned))
        stale: dict[TopicPartition, int] = {}
        for tp in sorted(assigned):
            committed = await self._consumer.committed(tp)
            if committed is not None and committed > ends[tp]:
                stale[tp] = committed
        if not stale:
            return
        starts = await self._consumer.beginning_offsets(sorted(stale))
        for tp, offset in stale.items():
            logger.warning(
                "%s: committed offset %d of %s[%d] is past its end %d (the topic was "
                "re-created); starting from its beginning, %d",
                self._group,
                offset,
                tp.topic,
                tp.partition,
                ends[tp],
                starts[tp],
            )
        await self._consumer.commit(starts)

    async def release(self, revoked: set[TopicPartition]) -> None:
        """As the owner does."""
        await self._owner.release(revoked)

    def ready(self, tp: TopicPartition) -> bool:
        """As the owner says."""
        return self._owner.ready(tp)
