"""A stage worker's consumer on librdkafka: one thread owns it, the worker stays on its loop.

confluent-kafka (from 2.13) lets one thread at a time into a consumer: a commit made from a
second thread while the first waits for records waits until that thread stops polling,
which a reader never does. So one thread, the consumer's *owner*, makes every call: it
polls for records and buffers them per partition, between two polls it runs the calls the
event loop queued (commit, offset look-ups, seek), and in the end it closes the consumer. A
call waits at most one poll (``_POLL_S``); records flow without any thread switch on the
worker's side.

librdkafka runs rebalance callbacks inside the owner's poll. A revocation hands the
listener's coroutine to the event loop and waits for it while running the calls it makes
(the commit of what is settled), so a rebalance still settles the batches in flight before
the partitions move. New partitions are assigned paused; the listener runs on the loop (its
committed-offset look-ups are calls the owner runs once the callback has returned), seeks
them, and they resume.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

import confluent_kafka
from aiokafka import ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError
from confluent_kafka import KafkaError, KafkaException

from streamworks.core.messages import InMessage
from streamworks.core.settings import Settings
from streamworks.kafka.errors import KafkaUnavailableError
from streamworks.kafka.rd_config import (
    CALL_TIMEOUT_S,
    START_TIMEOUT_S,
    KafkaClientError,
    rdkafka_config,
)

__all__ = ["RdConsumer"]

logger = logging.getLogger("streamworks.kafka.rdkafka")

_POLL_S = 0.02
"""How long the owner waits for records before it runs queued calls again."""
_HIGHWATER_EVERY_S = 0.5
# a commit the group refused because it moved on: the records are re-read by their new owner
_LOST_COMMIT = {
    KafkaError.REBALANCE_IN_PROGRESS,
    KafkaError.ILLEGAL_GENERATION,
    KafkaError.UNKNOWN_MEMBER_ID,
    KafkaError._ASSIGNMENT_LOST,
    KafkaError._STATE,
    KafkaError.UNKNOWN_TOPIC_OR_PART,  # the topic was deleted: its offsets have no use
}

_Call = tuple[Callable[[], Any], "concurrent.futures.Future[Any] | None"]


class RdConsumer:
    """A consumer-group member on librdkafka, with the aiokafka calls a worker makes.

    It answers the calls :class:`~streamworks.runtime.membership.GroupMember` makes of an
    aiokafka consumer (``getmany``, ``seek``, ``commit``, ``committed``, the rebalance
    listener...), but its records are already :class:`~streamworks.core.messages.InMessage`.
    A lost commit raises aiokafka's ``CommitFailedError``, as aiokafka's consumer does.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        group_id: str,
        client_id: str,
        max_batch: int,
        fetch_wait_ms: int,
        read_committed: bool,
    ) -> None:
        config = rdkafka_config(settings, client_id)
        config.update(
            {
                "group.id": group_id,
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest",
                "isolation.level": "read_committed" if read_committed else "read_uncommitted",
                "partition.assignment.strategy": "roundrobin",
                # aiokafka's timings, so a dead member's partitions move as soon as with it
                "session.timeout.ms": 10_000,
                "heartbeat.interval.ms": 3_000,
                "queued.max.messages.kbytes": 16_384,
                # the broker answers as soon as a record is there, and holds a fetch with
                # nothing to answer up to fetch_wait_ms (an idle worker is not polling)
                "fetch.wait.max.ms": fetch_wait_ms,
                "fetch.min.bytes": 1,
            }
        )
        self._settings = settings
        self._client_id = client_id
        self._consumer = confluent_kafka.Consumer(config)
        self._owner: threading.Thread | None = None
        self._calls: deque[_Call] = deque()
        self._nudge = threading.Event()
        """Set when the owner has something to do: a call queued, room freed in the buffers,
        or a listener it waits for done."""
        self._max_batch = max_batch
        self._lock = threading.Lock()
        """Guards the buffers, their count, the seek epochs and ``_loop_waits``."""
        self._buffers: dict[TopicPartition, deque[InMessage]] = {}
        self._buffered = 0
        """Records in the buffers: the owner stops reading at two batches' worth."""
        self._epochs: dict[TopicPartition, int] = {}
        """Bumped by each :meth:`seek`: records read across one are not the sought ones."""
        self._arrived = asyncio.Event()
        self._loop_waits = False
        self._assignment: set[TopicPartition] = set()
        self._highwater: dict[TopicPartition, int] = {}
        self._highwater_at = 0.0
        self._listener: ConsumerRebalanceListener | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._generation = 0
        """Counts assignments: a listener that finishes after the next one resumes nothing."""
        self._failure: BaseException | None = None
        self._failed = False
        self._closing = False
        self._stop: concurrent.futures.Future[None] | None = None
        """Set by :meth:`stop`: the owner closes the consumer and ends."""

    # -- joining and leaving -----------------------------------------------------------------

    def subscribe(self, topics: list[str], listener: ConsumerRebalanceListener) -> None:
        """Subscribe to ``topics``; ``listener`` is awaited on every change of assignment."""
        self._listener = listener
        self._consumer.subscribe(
            topics, on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_revoke
        )

    async def start(self) -> None:
        """Start the owner and check that the cluster answers (the group is joined then)."""
        self._loop = asyncio.get_running_loop()
        self._owner = threading.Thread(
            target=self._own, name=f"{self._client_id}-owner", daemon=True
        )
        self._owner.start()
        try:
            await self._call(self._consumer.list_topics, timeout=START_TIMEOUT_S)
        except KafkaException as error:
            await self.stop()
            raise KafkaUnavailableError(self._settings.bootstrap_servers) from error

    async def stop(self) -> None:
        """Leave the group (the worker has committed what it settled)."""
        if self._owner is None or not self._owner.is_alive():
            return
        # not a queued call: calls also run inside a revocation, and closing there would
        # close the consumer inside its own callback
        self._stop = concurrent.futures.Future()
        self._nudge.set()
        with contextlib.suppress(KafkaException, RuntimeError):
            await asyncio.wrap_future(self._stop)
        await asyncio.to_thread(self._owner.join)

    def _close(self, stop: concurrent.futures.Future[None]) -> None:
        self._closing = True
        try:
            self._consumer.close()
        except BaseException as error:  # noqa: BLE001 - handed to stop()
            stop.set_exception(error)
        else:
            stop.set_result(None)

    async def _call(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``call(*args, **kwargs)`` run by the owner; its result, or its exception."""
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._queue(lambda: call(*args, **kwargs), future)
        return await asyncio.wrap_future(future)

    def _queue(
        self, call: Callable[[], Any], future: concurrent.futures.Future[Any] | None = None
    ) -> None:
        if self._owner is None or not self._owner.is_alive():
            raise RuntimeError(f"consumer {self._client_id} is not running")
        self._calls.append((call, future))
        self._nudge.set()

    # -- the owner thread ----------------------------------------------------------------------

    def _own(self) -> None:
        """Until closed: run queued calls, then wait up to a poll for records."""
        while not self._closing:
            self._nudge.clear()
            self._run_calls()
            if self._stop is not None:
                self._close(self._stop)
                break
            with self._lock:
                full = self._buffered >= 2 * self._max_batch
                epochs = dict(self._epochs)
            if full or self._failed:  # the worker is behind (or reading failed): wait
                self._nudge.wait(_POLL_S)
                continue
            try:
                runs = self._fetch()
            except BaseException as error:  # noqa: BLE001 - raised to the worker's next fetch
                self._failure = error  # and the owner stays, running calls until closed
                self._failed = True
                self._wake()
                continue
            if runs:
                self._keep(runs, epochs)
            self._note_highwater()
        self._run_calls()  # a call queued as it closed gets its answer (an error, closed)

    def _run_calls(self) -> None:
        while self._calls:
            call, future = self._calls.popleft()
            if future is not None and not future.set_running_or_notify_cancel():
                continue
            try:
                result = call()
            except BaseException as error:  # noqa: BLE001 - handed to whoever asked
                if future is not None:
                    future.set_exception(error)
                else:
                    logger.warning("consumer %s: %s", self._client_id, error)
            else:
                if future is not None:
                    future.set_result(result)

    def _fetch(self) -> list[tuple[TopicPartition, list[InMessage]]]:
        """The first record within a poll, then what librdkafka has queued: in runs of one
        partition's records (librdkafka hands them out a fetched batch at a time)."""
        consumer = self._consumer
        first = consumer.poll(_POLL_S)
        if first is None:
            return []
        runs: list[tuple[TopicPartition, list[InMessage]]] = []
        run: list[InMessage] = []
        topic, partition = "", -1
        for m in (first, *consumer.consume(self._max_batch - 1, 0)):
            error = m.error()
            if error is not None:
                if error.fatal():
                    raise KafkaClientError("fetching", error)
                # a missing topic or a moved partition: the topic watch and librdkafka see to it
                logger.debug("fetch: %s", error.str())
                continue
            if m.partition() != partition or m.topic() != topic:
                topic, partition, run = m.topic(), m.partition(), []
                runs.append((TopicPartition(topic, partition), run))
            headers = m.headers()
            run.append(
                InMessage(
                    topic,
                    partition,
                    m.offset(),
                    m.key(),
                    m.value(),
                    m.timestamp()[1],
                    tuple(headers) if headers else (),
                )
            )
        return runs

    def _keep(
        self,
        runs: list[tuple[TopicPartition, list[InMessage]]],
        epochs: dict[TopicPartition, int],
    ) -> None:
        """Buffer the records of ``runs`` (read while the seek epochs were ``epochs``)."""
        with self._lock:
            for tp, messages in runs:
                if tp not in self._assignment or self._epochs.get(tp, 0) != epochs.get(tp, 0):
                    continue  # revoked, or sought meanwhile: the seek (queued) reads again
                buffered = self._buffers.get(tp)
                if buffered is None:
                    self._buffers[tp] = deque(messages)
                else:
                    buffered.extend(messages)
                self._buffered += len(messages)
            wake = self._loop_waits
        if wake:
            self._wake()

    def _note_highwater(self) -> None:
        """Each assigned partition's end offset as of the last fetch, every half second."""
        now = time.monotonic()
        if now - self._highwater_at < _HIGHWATER_EVERY_S:
            return
        self._highwater_at = now
        noted = {}
        for tp in list(self._assignment):
            with contextlib.suppress(KafkaException):
                _, high = self._consumer.get_watermark_offsets(_rd(tp), cached=True)
                if high >= 0:
                    noted[tp] = int(high)
        self._highwater = noted

    def _wake(self) -> None:
        """Tell a :meth:`getmany` waiting on the loop that records (or a failure) came."""
        if self._loop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                self._loop.call_soon_threadsafe(self._arrived.set)

    # -- reading (on the event loop) -----------------------------------------------------------

    def assignment(self) -> set[TopicPartition]:
        """The partitions assigned to this member."""
        return set(self._assignment)

    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int = 0, max_records: int | None = None
    ) -> dict[TopicPartition, list[InMessage]]:
        """Up to ``max_records`` buffered records of ``partitions`` (all when none is named),
        waiting up to ``timeout_ms`` for one when none is buffered."""
        taken = self._take(partitions, max_records or self._max_batch, wait=timeout_ms > 0)
        if taken or timeout_ms <= 0:
            return taken
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._arrived.wait(), timeout_ms / 1000)
        return self._take(partitions, max_records or self._max_batch, wait=False)

    def _take(
        self, partitions: tuple[TopicPartition, ...], limit: int, *, wait: bool
    ) -> dict[TopicPartition, list[InMessage]]:
        """Buffered records (as :meth:`getmany`); with ``wait``, when there are none, the
        owner is asked to say when some arrive."""
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure
        taken: dict[TopicPartition, list[InMessage]] = {}
        with self._lock:
            for tp in partitions or tuple(self._buffers):
                buffered = self._buffers.get(tp)
                if not buffered:
                    continue
                count = min(limit, len(buffered))
                if count == len(buffered):
                    taken[tp] = list(buffered)
                    buffered.clear()
                else:
                    taken[tp] = [buffered.popleft() for _ in range(count)]
                self._buffered -= count
                limit -= count
                if limit <= 0:
                    break
            if taken and self._buffered < 2 * self._max_batch:
                self._nudge.set()  # an owner waiting for room reads again
            self._loop_waits = wait and not taken
            if self._loop_waits:
                self._arrived.clear()
        return taken

    def _drop_buffered(self, tp: TopicPartition) -> None:
        """Forget the records buffered for ``tp`` (the lock is held)."""
        self._buffered -= len(self._buffers.pop(tp, ()))

    def seek(self, tp: TopicPartition, offset: int) -> None:
        """Read ``tp`` from ``offset`` next (records buffered for it are dropped)."""
        with self._lock:
            self._drop_buffered(tp)
            self._epochs[tp] = self._epochs.get(tp, 0) + 1
        target = _rd(tp, offset)
        self._queue(lambda: self._consumer.seek(target))

    # -- offsets -----------------------------------------------------------------------------

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        """Commit ``offsets``; ``CommitFailedError`` when the group moved on meanwhile."""
        if not offsets:
            return
        listed = [_rd(tp, offset) for tp, offset in offsets.items()]
        try:
            await self._call(self._consumer.commit, offsets=listed, asynchronous=False)
        except KafkaException as error:
            kafka_error: KafkaError = error.args[0]
            if kafka_error.code() in _LOST_COMMIT:
                raise CommitFailedError(kafka_error.str()) from error
            raise KafkaClientError("committing offsets", kafka_error) from error

    async def committed(self, tp: TopicPartition) -> int | None:
        """The group's committed offset of ``tp``, or None when it has none."""
        [found] = await self._call(
            self._consumer.committed,
            [_rd(tp)],
            timeout=CALL_TIMEOUT_S,
        )
        return found.offset if found.offset >= 0 else None

    async def beginning_offsets(self, tps: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        """Each partition's first offset."""
        return {tp: (await self._watermarks(tp))[0] for tp in tps}

    async def end_offsets(self, tps: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        """Each partition's end offset (the next offset to be written)."""
        return {tp: (await self._watermarks(tp))[1] for tp in tps}

    async def _watermarks(self, tp: TopicPartition) -> tuple[int, int]:
        low, high = await self._call(
            self._consumer.get_watermark_offsets,
            _rd(tp),
            timeout=CALL_TIMEOUT_S,
        )
        return int(low), int(high)

    def highwater(self, tp: TopicPartition) -> int | None:
        """``tp``'s end offset as of a recent fetch, or None before any."""
        return self._highwater.get(tp)

    async def position(self, tp: TopicPartition) -> int:
        """The offset of the next record of ``tp`` the worker will be handed."""
        with self._lock:
            buffered = self._buffers.get(tp)
            if buffered:
                return buffered[0].offset
        [found] = await self._call(self._consumer.position, [_rd(tp)])
        return int(found.offset) if found.offset >= 0 else 0

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        """``topic``'s partitions, or None when the cluster has no such topic.

        Blocks the caller until the owner has asked the cluster (a poll and a round trip):
        the workers on this consumer never ask it; it is here for aiokafka's interface."""
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._queue(lambda: self._consumer.list_topics(topic, timeout=START_TIMEOUT_S), future)
        found = future.result(CALL_TIMEOUT_S).topics.get(topic)
        if found is None or found.error is not None:
            return None
        return set(found.partitions)

    def force_metadata_update(self) -> None:
        """Refresh the cluster's metadata soon (a subscribed topic that came back is seen)."""
        with contextlib.suppress(RuntimeError):  # stopped meanwhile: nothing to refresh
            self._queue(lambda: self._consumer.list_topics(timeout=START_TIMEOUT_S))

    # -- rebalances: librdkafka calls these inside the owner's poll ---------------------------

    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        # Not waiting here for the listener: its committed-offset look-ups are calls this
        # thread runs, after the callback. The partitions are taken paused; the listener's
        # seeks place them, and they resume once it is done.
        assigned = {TopicPartition(p.topic, p.partition) for p in partitions}
        consumer.assign(partitions)
        consumer.pause(partitions)
        with self._lock:
            self._assignment = assigned
            self._generation += 1
            generation = self._generation
        assert self._loop is not None  # noqa: S101 - started before the first poll
        asyncio.run_coroutine_threadsafe(self._take_on(assigned, generation), self._loop)

    async def _take_on(self, assigned: set[TopicPartition], generation: int) -> None:
        """Run the listener on newly ``assigned`` partitions, then let them be read."""
        assert self._listener is not None  # noqa: S101 - subscribed before started
        try:
            await self._listener.on_partitions_assigned(assigned)
        except BaseException as error:  # raised to the worker by its next fetch
            logger.exception("rebalance listener on_partitions_assigned failed")
            self._failure = error
            self._wake()
            return
        listed = [_rd(tp) for tp in assigned]

        def resume() -> None:
            if generation == self._generation:  # else the group moved on meanwhile
                self._consumer.resume(listed)

        with contextlib.suppress(RuntimeError):  # stopped meanwhile
            await self._call(resume)

    def _on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        revoked = {TopicPartition(p.topic, p.partition) for p in partitions}
        with self._lock:
            self._generation += 1
            self._assignment -= revoked
            for tp in revoked:
                self._drop_buffered(tp)
        if not self._closing:  # leaving: the worker settled and committed before it left
            self._on_loop("on_partitions_revoked", revoked)
        with contextlib.suppress(KafkaException):
            consumer.unassign()

    def _on_loop(self, callback: str, partitions: set[TopicPartition]) -> None:
        """Run the listener's ``callback`` on the loop, running its calls until it is done."""
        assert self._listener is not None and self._loop is not None  # noqa: S101 - started
        coroutine = getattr(self._listener, callback)(partitions)
        done = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        done.add_done_callback(lambda _: self._nudge.set())
        while not done.done():
            self._nudge.wait(CALL_TIMEOUT_S)
            self._nudge.clear()
            self._run_calls()
        try:
            done.result()
        except BaseException as error:  # raised to the worker by its next fetch
            logger.exception("rebalance listener %s failed", callback)
            self._failure = error
            self._wake()


def _rd(
    tp: TopicPartition, offset: int = confluent_kafka.OFFSET_INVALID
) -> confluent_kafka.TopicPartition:
    """``tp`` (at ``offset``) as librdkafka's TopicPartition."""
    return confluent_kafka.TopicPartition(tp.topic, tp.partition, offset)
