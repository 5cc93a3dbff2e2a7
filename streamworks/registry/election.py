"""Choosing the primary: a Kafka consumer group over the one-partition ``_schemas`` topic.

Every instance joins the group ``<topic>-registry`` subscribed to the topic; Kafka gives
its only partition to exactly one member at a time, and that member is the primary. The
group consumer reads nothing (its partition stays paused; the log reader reads the topic
on its own, without a group) and commits nothing: it exists for the assignment.

Why this is safe: membership alone could leave two instances briefly believing they are
primary (a member that lost its session does not know it yet). Writes therefore go through
a transactional producer with one ``transactional.id`` per topic (see
:class:`streamworks.registry.log.LogWriter`): the newly elected primary starts its producer,
which fences every older one, so a deposed primary's write fails with ``ProducerFenced``
instead of landing. Readers use ``read_committed`` and never see aborted writes.

When the primary stops, it leaves the group and another member is assigned the partition
within a rebalance; when it dies, within the session timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import KafkaError

from streamworks.core.settings import Settings
from streamworks.kafka import clients
from streamworks.registry.errors import BackendError

__all__ = ["Election", "group_id"]

logger = logging.getLogger(__name__)

Callback = Callable[[], Awaitable[None]]


def group_id(topic: str) -> str:
    """The consumer group whose partition owner is the primary of ``topic``."""
    return f"{topic}-registry"


class Election:
    """Calls ``elected`` when this instance becomes primary and ``deposed`` when it stops."""

    def __init__(
        self,
        settings: Settings,
        topic: str,
        *,
        elected: Callback,
        deposed: Callback,
        session_timeout_ms: int = 10_000,
    ) -> None:
        self.topic = topic
        self._partition = TopicPartition(topic, 0)
        self._elected = elected
        self._deposed = deposed
        self.leader = False
        """True while this instance holds the partition."""
        self._consumer: AIOKafkaConsumer = clients.consumer(
            settings=settings,
            group_id=group_id(topic),
            session_timeout_ms=session_timeout_ms,
            heartbeat_interval_ms=max(100, session_timeout_ms // 10),
            max_poll_interval_ms=60_000,
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Join the group; the callbacks fire as the assignment comes and goes."""
        self._consumer.subscribe([self.topic], listener=_Listener(self))
        try:
            await self._consumer.start()
        except KafkaError as error:
            raise BackendError(f"cannot join group {group_id(self.topic)}: {error}") from error
        self._task = asyncio.create_task(self._run(), name=f"registry-election-{self.topic}")

    async def stop(self) -> None:
        """Leave the group (another member is elected at once) and depose this one."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(KafkaError):
            await self._consumer.stop()
        await self._lost()

    async def _run(self) -> None:
        # Polling keeps the member within max.poll.interval.ms; the partition is paused,
        # so nothing is fetched.
        while True:
            try:
                await self._consumer.getmany(timeout_ms=1000)
            except KafkaError as error:
                logger.warning("election group %s: %s", group_id(self.topic), error)
                await asyncio.sleep(1.0)

    def fenced(self) -> None:
        """The primary's writer was fenced: forget leadership until the next assignment."""
        self.leader = False

    async def _assigned(self, assigned: set[TopicPartition]) -> None:
        # Revocation is not acted upon: with the eager protocol every rebalance revokes
        # everything, and the owner usually gets the partition back. Until a new owner's
        # writer fences ours, our writes are still the only ones.
        if self._partition not in assigned:
            await self._lost()
            return
        self._consumer.pause(self._partition)
        if not self.leader:
            self.leader = True
            logger.info("elected primary of %s", self.topic)
            await self._elected()

    async def _lost(self) -> None:
        if self.leader:
            self.leader = False
            logger.info("no longer primary of %s", self.topic)
            await self._deposed()


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, election: Election) -> None:
        self._election = election

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        """Nothing to do: see :meth:`Election._assigned`."""

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._election._assigned(set(assigned))
