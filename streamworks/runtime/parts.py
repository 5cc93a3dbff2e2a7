"""What every worker of a stage is made of, whatever it does with its records.

A stage worker (:mod:`streamworks.runtime.worker`) and an aggregation worker
(:mod:`streamworks.aggregate.worker`) differ in what a batch does and in what they set up for
a partition. They share, through :class:`WorkerParts`:

* their identity and figures: the group, the worker id, its counts and Prometheus metrics;
* their place in the consumer group (:class:`~streamworks.runtime.membership.GroupMember`);
* how they write: :class:`~streamworks.runtime.transactions.Transactions` under exactly-once,
  :class:`~streamworks.runtime.commits.AtLeastOnce` otherwise (exactly one of the two is set);
* the life cycle: start, run until stopped, commit what is settled, leave, close;
* a watch on the topics it uses (:mod:`streamworks.runtime.topic_watch`): a missing one is
  logged every 10 s with the fix, and its return refreshes the consumer's metadata; a
  committed offset a deleted topic left behind is not where its re-created namesake starts
  (:mod:`streamworks.runtime.recreated`).
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from aiokafka import AIOKafkaConsumer

from streamworks.core.settings import Settings
from streamworks.kafka import clients
from streamworks.kafka.missing_topics import refresh_metadata
from streamworks.kafka.offsets import stable_committed
from streamworks.kafka.rdkafka import RdConsumer
from streamworks.pipeline.graph import Pipeline
from streamworks.runtime.breaker import StageStopped
from streamworks.runtime.commits import AtLeastOnce
from streamworks.runtime.crash_ledger import crash_directory
from streamworks.runtime.crashloop import CrashGuard
from streamworks.runtime.membership import Batches, GroupMember, Owner
from streamworks.runtime.metrics import StageMetrics
from streamworks.runtime.processor import Counts
from streamworks.runtime.recreated import FreshStarts
from streamworks.runtime.topic_watch import MissingTopics, TopicWatch, roles_of
from streamworks.runtime.transactions import Transactions

__all__ = ["WorkerParts"]

K = TypeVar("K")


class WorkerParts(Generic[K]):
    """The shared parts of one worker of ``stage``; ``K`` is its unit of transactions.

    ``assignor`` is how the group spreads partitions over its members. With ``rdkafka``
    an at-least-once worker reads and writes through librdkafka
    (:mod:`streamworks.kafka.rdkafka`, round-robin assignment) instead of aiokafka.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        stage: str,
        settings: Settings,
        assignor: type,
        *,
        max_batch: int,
        poll_timeout_ms: int,
        commit_interval_s: float,
        worker_id: str | None,
        rdkafka: bool = False,
    ) -> None:
        self.group_id = pipeline.group_id(stage)
        self.worker_id = worker_id or uuid.uuid4().hex[:12]
        """The id the worker publishes its stats and metrics under."""
        self.counts = Counts()
        """The worker's accounting since it started: records counted once committed."""
        self.metrics = StageMetrics(pipeline.name, stage, self.worker_id)
        """Its Prometheus figures (served by
        :class:`~streamworks.runtime.metrics.MetricsServer`)."""
        rdkafka = rdkafka and pipeline.guarantee == "at-least-once"
        consumer: AIOKafkaConsumer | RdConsumer
        if rdkafka:
            consumer = RdConsumer(
                settings,
                group_id=self.group_id,
                client_id=f"{self.group_id}-consumer",
                max_batch=max_batch,
                fetch_wait_ms=settings.fetch_wait_ms,
                read_committed=True,
            )
        else:
            consumer = clients.consumer(
                settings=settings.model_copy(
                    update={"guarantee": pipeline.guarantee, "client_id": self.group_id}
                ),
                group_id=self.group_id,
                max_poll_records=max_batch,
                isolation_level="read_committed",
                partition_assignment_strategy=(assignor,),
                # the broker answers as soon as a record is there, and holds a fetch with
                # nothing to answer up to fetch_wait_ms (an idle worker is not polling)
                fetch_max_wait_ms=settings.fetch_wait_ms,
                fetch_min_bytes=1,
            )
        self.guard = CrashGuard(
            crash_directory(settings.state_dir, self.group_id),
            self.worker_id,
            after=settings.crash_loop_after,
            pipelined=pipeline.guarantee != "exactly-once",
        )
        """Its side of the crash-loop quarantine (:mod:`streamworks.runtime.crashloop`)."""
        self.member = GroupMember(
            consumer,
            self.group_id,
            self.metrics,
            max_batch=max_batch,
            poll_timeout_ms=poll_timeout_ms,
            stable_committed=(
                functools.partial(stable_committed, settings, self.group_id)
                if pipeline.guarantee == "exactly-once"
                else None
            ),
            guard=self.guard,
        )
        """Its place in the stage's consumer group."""
        self.transactions: Transactions[K] | None = None
        self.at_least_once: AtLeastOnce | None = None
        if pipeline.guarantee == "exactly-once":
            self.transactions = Transactions(settings, self.group_id, self.metrics)
        else:
            self.at_least_once = AtLeastOnce(
                settings,
                self.member,
                self.metrics,
                self.count,
                interval_s=commit_interval_s,
                rdkafka=rdkafka,
            )
        self.topic_watch = TopicWatch(
            settings,
            MissingTopics(roles_of(pipeline, stage), pipeline.name),
            worker=self.worker_id,
            on_change=lambda _: refresh_metadata(self.member.consumer),
        )
        """Says when a topic the worker uses is missing, and when it is back."""
        self._stopping = asyncio.Event()

    def count(self, counts: Counts) -> None:
        """Count records as done: in the stats and in the metrics."""
        self.counts.add(counts)
        self.metrics.counted(counts)

    def stop(self) -> None:
        """Ask :meth:`run` to finish the batch in flight and return."""
        self._stopping.set()

    async def start(self, inputs: list[str], owner: Owner) -> None:
        """Start the writer and the topic watch, then join the group on ``inputs``."""
        if self.at_least_once is not None:
            await self.at_least_once.start()
        self.topic_watch.start()
        await self.member.start(inputs, FreshStarts(owner, self.member.consumer, self.group_id))

    async def run(
        self, handle: Callable[[Batches], Awaitable[None]], idle: Callable[[], Awaitable[Any]]
    ) -> None:
        """Fetch and ``handle`` until stopped; then commit everything settled.

        A stage that stops itself (:class:`~streamworks.runtime.breaker.StageStopped`) still
        commits the batches before the one that tripped it: those are fully processed.
        """
        settle_now = functools.partial(self.settle, commit_now=True)
        try:
            try:
                await self.member.run(handle, idle, self._stopping, settle_now)
            except StageStopped:
                async with self.member.lock:
                    await self.settle(commit_now=True)
                raise
            async with self.member.lock:
                await self.settle(commit_now=True)
        except BaseException as error:
            self.guard.failed(error)  # an end that may be a record's doing leaves its marker
            raise
        self.guard.close()

    async def settle(self, *, commit_now: bool = False) -> None:
        """At-least-once: wait for the batch in flight; commit what is settled when due."""
        if self.at_least_once is not None:
            await self.at_least_once.settle(commit_now=commit_now)

    async def close(self) -> None:
        """Leave the group (its partitions move on at once) and stop the producers."""
        await self.topic_watch.stop()
        await self.member.stop()
        if self.at_least_once is not None:
            await self.at_least_once.stop()
        if self.transactions is not None:
            await self.transactions.close_all()
        self.metrics.forget()
