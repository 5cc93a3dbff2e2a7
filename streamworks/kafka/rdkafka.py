"""A stage worker's consumer and producer on librdkafka (confluent-kafka), for asyncio.

aiokafka does its network I/O, record parsing and batching in Python on the event loop: on
this project's benchmark that is about half of a stage's CPU per record, and at a moderate
rate each fetch-and-produce cycle costs far more than its records. librdkafka does the same
work in C threads. These two classes put it under the stage worker with the interface the
worker already uses:

* :class:`RdConsumer` answers the calls :class:`~streamworks.runtime.membership.GroupMember`
  makes of an aiokafka consumer (``getmany``, ``seek``, ``commit``, ``committed``, the
  rebalance listener...), but its records are already
  :class:`~streamworks.core.messages.InMessage`. A lost commit raises aiokafka's
  ``CommitFailedError``, as aiokafka's consumer does, so the member treats both alike.
* :class:`RdSender` sends a list of :class:`~streamworks.core.messages.OutRecord` and returns
  one future that resolves when every record is acknowledged (or fails with the first error),
  as :class:`~streamworks.kafka.sending.BatchSender` does.

Records are read by a thread of the consumer's own and handed out from buffers on the
event loop; delivery reports are served on the loop's thread. librdkafka runs rebalance
callbacks in the reader thread. A revocation hands the listener's coroutine to the event
loop and waits for it, so a rebalance still settles the batches in flight before partitions
move. New partitions are assigned paused, the listener runs (it looks committed offsets up,
which librdkafka answers only after the callback returned) and seeks them, then they
resume. Keyed records are partitioned by
murmur2 (``murmur2_random``), as the Java client and aiokafka's path do: both clients put a
key on the same partition.

Only at-least-once stage workers use these: exactly-once keeps one aiokafka transactional
producer per input partition (see :mod:`streamworks.runtime.transactions`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import confluent_kafka
from aiokafka import ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError
from confluent_kafka import KafkaError, KafkaException

from streamworks.core.errors import StreamworksError
from streamworks.core.messages import InMessage, OutRecord
from streamworks.core.settings import Settings
from streamworks.kafka.clients import sasl_login
from streamworks.kafka.errors import KafkaUnavailableError

__all__ = ["KafkaClientError", "RdConsumer", "RdSender", "rdkafka_config"]

logger = logging.getLogger(__name__)
_client_log = logging.getLogger("streamworks.librdkafka")

_TIMEOUT_S = 30.0
_START_TIMEOUT_S = 10.0
_SERVE_EVERY_S = 0.001
_FETCH_MIN_BYTES = 64 * 1024
_READ_WAIT_S = 0.1
# a commit the group refused because it moved on: the records are re-read by their new owner
_LOST_COMMIT = {
    KafkaError.REBALANCE_IN_PROGRESS,
    KafkaError.ILLEGAL_GENERATION,
    KafkaError.UNKNOWN_MEMBER_ID,
    KafkaError._ASSIGNMENT_LOST,
    KafkaError._STATE,
    KafkaError.UNKNOWN_TOPIC_OR_PART,  # the topic was deleted: its offsets have no use
}


# the broker (or librdkafka, before sending) refusing one record's content
_RECORD_REFUSED = {
    KafkaError.MSG_SIZE_TOO_LARGE,
    KafkaError.INVALID_MSG_SIZE,
    KafkaError.RECORD_LIST_TOO_LARGE,
    KafkaError.INVALID_RECORD,
    KafkaError.INVALID_TIMESTAMP,
}


class KafkaClientError(StreamworksError):
    """librdkafka refused an operation (``error``); retriable when librdkafka says so."""

    def __init__(self, what: str, error: KafkaError) -> None:
        super().__init__(f"{what} failed: {error.str()} ({error.name()})")
        self.retriable = bool(error.retriable())
        self.code = error.code()
        self.refuses_record = self.code in _RECORD_REFUSED
        """True when the broker refused one record's content (not an outage)."""


def rdkafka_config(settings: Settings, client_id: str) -> dict[str, Any]:
    """librdkafka's configuration for the settings' cluster, TLS and SASL."""
    config: dict[str, Any] = {
        "bootstrap.servers": settings.bootstrap_servers,
        "client.id": client_id,
        "security.protocol": settings.security_protocol.lower(),
        # librdkafka leaves Nagle's algorithm on (asyncio and aiokafka turn it off): small
        # requests would wait for the previous one's acknowledgement, tens of milliseconds
        "socket.nagle.disable": True,
        "error_cb": _client_error,
        "logger": _client_log,
    }
    if settings.security_protocol in ("SSL", "SASL_SSL"):
        if settings.ssl_cafile is not None:
            config["ssl.ca.location"] = str(settings.ssl_cafile)
        if settings.ssl_certfile is not None:
            config["ssl.certificate.location"] = str(settings.ssl_certfile)
        if settings.ssl_keyfile is not None:
            config["ssl.key.location"] = str(settings.ssl_keyfile)
        if settings.ssl_key_password is not None:
            config["ssl.key.password"] = settings.ssl_key_password.get_secret_value()
        config["ssl.endpoint.identification.algorithm"] = (
            "https" if settings.ssl_check_hostname else "none"
        )
    if settings.security_protocol.startswith("SASL"):
        mechanism, username, password = sasl_login(settings)
        config["sasl.mechanism"] = mechanism
        config["sasl.username"] = username
        config["sasl.password"] = password
    return config


def _client_error(error: KafkaError) -> None:
    # librdkafka retries connections itself; these say why it is retrying
    if error.fatal():
        logger.error("Kafka client: %s", error.str())
    else:
        logger.debug("Kafka client: %s", error.str())


class RdConsumer:
    """A consumer-group member on librdkafka, with the aiokafka calls a worker makes.

    A reader thread of its own takes records from librdkafka as they arrive and buffers
    them per partition; :meth:`getmany` hands out what is buffered without leaving the event
    loop, and waits only when nothing is. Handing each fetch to a thread and waiting for it
    cost two thread switches per batch, and with stages packed in one process each switch
    waited for the interpreter's lock behind the other stages: tens of milliseconds a batch.
    librdkafka runs rebalance callbacks in that thread, where they can wait for the listener.
    Other blocking calls (commits, offset look-ups) run in a second thread, not asyncio's
    shared pool, so a commit never queues behind another stage's work.
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
                # the broker holds a fetch up to fetch_wait_ms to gather 64 KiB: at a moderate
                # rate, answering each produced batch at once is a fetch per batch (for the
                # broker as much as for us); with a backlog the bytes are there, nothing waits
                "fetch.wait.max.ms": fetch_wait_ms,
                "fetch.min.bytes": _FETCH_MIN_BYTES if fetch_wait_ms else 1,
            }
        )
        self._settings = settings
        self._client_id = client_id
        self._consumer = confluent_kafka.Consumer(config)
        self._caller = ThreadPoolExecutor(1, thread_name_prefix=f"{client_id}-calls")
        self._reader: threading.Thread | None = None
        self._max_batch = max_batch
        self._lock = threading.Lock()
        """Guards the buffers, their count, the seek epochs and ``_loop_waits``."""
        self._buffers: dict[TopicPartition, deque[InMessage]] = {}
        self._buffered = 0
        self._room = threading.Event()
        """Set while the buffers hold fewer than the reader may fill (two batches)."""
        self._room.set()
        self._epochs: dict[TopicPartition, int] = {}
        """Bumped by each :meth:`seek`: records read across one are not the sought ones."""
        self._sought: dict[TopicPartition, int] = {}
        self._arrived = asyncio.Event()
        self._loop_waits = False
        self._assignment: set[TopicPartition] = set()
        self._listener: ConsumerRebalanceListener | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._generation = 0
        """Counts assignments: a listener that finishes after the next one resumes nothing."""
        self._failure: BaseException | None = None
        self._closing = threading.Event()

    # -- joining and leaving -----------------------------------------------------------------

    def subscribe(self, topics: list[str], listener: ConsumerRebalanceListener) -> None:
        """Subscribe to ``topics``; ``listener`` is awaited on every change of assignment."""
        self._listener = listener
        self._consumer.subscribe(
            topics, on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_revoke
        )

    async def start(self) -> None:
        """Check that the cluster answers, then start reading (the group is joined then)."""
        self._loop = asyncio.get_running_loop()
        try:
            await self._call(self._consumer.list_topics, timeout=_START_TIMEOUT_S)
        except KafkaException as error:
            raise KafkaUnavailableError(self._settings.bootstrap_servers) from error
        self._reader = threading.Thread(
            target=self._read, name=f"{self._client_id}-reader", daemon=True
        )
        self._reader.start()

    async def stop(self) -> None:
        """Leave the group (the worker has committed what it settled)."""
        self._closing.set()
        self._room.set()
        try:
            if self._reader is not None:
                await asyncio.to_thread(self._reader.join)
            await self._call(self._consumer.close)
        finally:
            self._caller.shutdown(wait=False)

    async def _call(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``call`` in the consumer's own thread for calls (see the class's note)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._caller, functools.partial(call, *args, **kwargs))

    # -- reading -----------------------------------------------------------------------------

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
        reader is asked to say when some arrive."""
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
                taken[tp] = [buffered.popleft() for _ in range(count)]
                self._buffered -= count
                limit -= count
                if limit <= 0:
                    break
            if self._buffered < 2 * self._max_batch:
                self._room.set()
            self._loop_waits = wait and not taken
            if self._loop_waits:
                self._arrived.clear()
        return taken

    def _read(self) -> None:
        """The reader thread: librdkafka's records into the buffers, until stopped."""
        while not self._closing.is_set():
            if not self._room.wait(_READ_WAIT_S):
                continue
            with self._lock:
                epochs = dict(self._epochs)
            try:
                messages = self._fetch()
            except BaseException as error:  # noqa: BLE001 - raised to the worker's next fetch
                self._failure = error
                self._wake()
                return
            if messages or self._failure is not None:
                self._keep(messages, epochs)

    def _fetch(self) -> list[InMessage]:
        """The first record within the read wait, then what librdkafka has queued."""
        consumer = self._consumer
        first = consumer.poll(_READ_WAIT_S)
        if first is None:
            return []
        fetched = [first, *consumer.consume(self._max_batch - 1, 0)]
        messages = []
        for m in fetched:
            error = m.error()
            if error is not None:
                self._fetch_error(error)
                continue
            messages.append(
                InMessage(
                    m.topic(),
                    m.partition(),
                    m.offset(),
                    m.key(),
                    m.value(),
                    m.timestamp()[1],
                    tuple(m.headers() or ()),
                )
            )
        return messages

    def _keep(self, messages: list[InMessage], epochs: dict[TopicPartition, int]) -> None:
        """Buffer ``messages`` (read while the seek epochs were ``epochs``)."""
        with self._lock:
            sought: dict[TopicPartition, int] = {}
            for message in messages:
                tp = TopicPartition(message.topic, message.partition)
                if tp not in self._assignment:
                    continue
                if self._epochs.get(tp, 0) != epochs.get(tp, 0):
                    # sought while this read ran: what it read of tp may predate the seek
                    sought.setdefault(tp, self._sought[tp])
                    continue
                buffered = self._buffers.get(tp)
                if buffered is None:
                    self._buffers[tp] = deque([message])
                else:
                    buffered.append(message)
                self._buffered += 1
            for tp, offset in sought.items():  # and what followed it: read all again
                with contextlib.suppress(KafkaException):
                    self._consumer.seek(
                        confluent_kafka.TopicPartition(tp.topic, tp.partition, offset)
                    )
            if self._buffered >= 2 * self._max_batch:
                self._room.clear()
            wake = self._loop_waits
        if wake:
            self._wake()

    def _wake(self) -> None:
        """Tell a :meth:`getmany` waiting on the loop that records (or a failure) came."""
        if self._loop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                self._loop.call_soon_threadsafe(self._arrived.set)

    @staticmethod
    def _fetch_error(error: KafkaError) -> None:
        if error.fatal():
            raise KafkaClientError("fetching", error)
        # a missing topic or a partition that moved: the topic watch and librdkafka handle it
        logger.debug("fetch: %s", error.str())

    def seek(self, tp: TopicPartition, offset: int) -> None:
        """Read ``tp`` from ``offset`` next (records buffered for it are dropped)."""
        with self._lock:
            self._buffered -= len(self._buffers.pop(tp, ()))
            self._epochs[tp] = self._epochs.get(tp, 0) + 1
            self._sought[tp] = offset
        self._consumer.seek(confluent_kafka.TopicPartition(tp.topic, tp.partition, offset))

    # -- offsets -----------------------------------------------------------------------------

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        """Commit ``offsets``; ``CommitFailedError`` when the group moved on meanwhile."""
        if not offsets:
            return
        listed = [
            confluent_kafka.TopicPartition(tp.topic, tp.partition, o) for tp, o in offsets.items()
        ]
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
            [confluent_kafka.TopicPartition(tp.topic, tp.partition)],
            timeout=_TIMEOUT_S,
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
            confluent_kafka.TopicPartition(tp.topic, tp.partition),
            timeout=_TIMEOUT_S,
        )
        return int(low), int(high)

    def highwater(self, tp: TopicPartition) -> int | None:
        """``tp``'s end offset as of the last fetch, or None before any."""
        _, high = self._consumer.get_watermark_offsets(
            confluent_kafka.TopicPartition(tp.topic, tp.partition), cached=True
        )
        return int(high) if high >= 0 else None

    async def position(self, tp: TopicPartition) -> int:
        """The offset of the next record of ``tp`` the worker will be handed."""
        with self._lock:
            buffered = self._buffers.get(tp)
            if buffered:
                return buffered[0].offset
        [found] = self._consumer.position([confluent_kafka.TopicPartition(tp.topic, tp.partition)])
        return int(found.offset) if found.offset >= 0 else 0

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        """``topic``'s partitions, or None when the cluster has no such topic (may block
        briefly: librdkafka answers from its metadata cache when it can)."""
        found = self._consumer.list_topics(topic, timeout=_START_TIMEOUT_S).topics.get(topic)
        if found is None or found.error is not None:
            return None
        return set(found.partitions)

    def force_metadata_update(self) -> None:
        """Refresh the cluster's metadata now (a subscribed topic that came back is seen)."""
        threading.Thread(target=self._refresh, daemon=True).start()

    def _refresh(self) -> None:
        with contextlib.suppress(KafkaException, RuntimeError):
            self._consumer.list_topics(timeout=_TIMEOUT_S)

    # -- rebalances: librdkafka calls these inside poll(), in the reader thread --------------

    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        # Not waiting here for the listener: it looks committed offsets up, and librdkafka
        # (2.13 on) answers those only once this callback has returned. The partitions are
        # taken paused; the listener's seeks place them, and they resume once it is done.
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
        with self._lock:
            if generation != self._generation:  # the group moved on meanwhile
                return
        with contextlib.suppress(KafkaException):
            self._consumer.resume(
                [confluent_kafka.TopicPartition(tp.topic, tp.partition) for tp in assigned]
            )

    def _on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        revoked = {TopicPartition(p.topic, p.partition) for p in partitions}
        with self._lock:
            self._generation += 1
            self._assignment -= revoked
            for tp in revoked:
                self._buffered -= len(self._buffers.pop(tp, ()))
        if not self._closing.is_set():  # leaving: the worker settled and committed before it left
            self._on_loop("on_partitions_revoked", revoked)
        with contextlib.suppress(KafkaException):
            consumer.unassign()

    def _on_loop(self, callback: str, partitions: set[TopicPartition]) -> None:
        """Run the listener's ``callback`` on the event loop and wait for it to finish."""
        assert self._listener is not None and self._loop is not None  # noqa: S101 - started
        coroutine = getattr(self._listener, callback)(partitions)
        try:
            asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()
        except BaseException as error:  # raised to the worker by the fetch that ran this
            logger.exception("rebalance listener %s failed", callback)
            self._failure = error
            self._wake()


class _Pending:
    """The delivery reports of one batch: the future resolves when the last one arrives."""

    __slots__ = ("error", "future", "left")

    def __init__(self, loop: asyncio.AbstractEventLoop, count: int) -> None:
        self.future: asyncio.Future[None] = loop.create_future()
        self.left = count
        self.error: KafkaError | None = None

    def report(self, error: KafkaError | None, _message: Any) -> None:
        # on the event loop's thread: the sender serves reports there (see RdSender)
        if error is not None and self.error is None:
            self.error = error
        self.left -= 1
        if self.left == 0 and not self.future.done():
            if self.error is None:
                self.future.set_result(None)
            else:
                self.future.set_exception(KafkaClientError("producing", self.error))


class RdSender:
    """An idempotent, acks=all librdkafka producer sending lists of :class:`OutRecord`.

    Delivery reports are served on the event loop's thread, by a look without waiting after
    each batch and then every millisecond while any is outstanding. A thread of its own
    waiting on them would take the interpreter's lock once per record, and a busy loop
    holds that lock for up to 5 ms at a time: with stages packed in one process that was
    tens of milliseconds per batch.
    """

    def __init__(self, settings: Settings, *, client_id: str) -> None:
        config = rdkafka_config(settings, client_id)
        config.update(
            {
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": settings.linger_ms,
                "max.in.flight.requests.per.connection": settings.max_in_flight,
                "partitioner": "murmur2_random",  # Kafka's key hashing, as the Java client
            }
        )
        self.config = {k: v for k, v in config.items() if not callable(v) and k != "logger"}
        """The producer's librdkafka settings (callbacks left out)."""
        self._producer = confluent_kafka.Producer(config)
        self._serving: asyncio.TimerHandle | None = None

    async def send(self, records: list[OutRecord]) -> list[asyncio.Future[None]]:
        """Queue ``records``; the future resolves once all are acknowledged."""
        if not records:
            return []
        loop = asyncio.get_running_loop()
        pending = _Pending(loop, len(records))
        produce = self._producer.produce
        report = pending.report
        for record in records:
            partition = record.partition if record.partition is not None else -1
            headers = list(record.headers) if record.headers else None
            while True:
                try:
                    produce(
                        record.topic,
                        record.value,
                        record.key,
                        partition=partition,
                        on_delivery=report,
                        headers=headers,
                    )
                    break
                except BufferError:  # its queue is full: let acknowledgements drain it
                    self._producer.poll(0)
                    await asyncio.sleep(_SERVE_EVERY_S)
                except KafkaException as error:
                    # a record refused before sending (too large): the batch fails with it
                    pending.report(error.args[0], None)
                    break
        self._producer.poll(0)
        if self._serving is None:
            self._serving = loop.call_later(_SERVE_EVERY_S, self._serve, loop)
        return [pending.future]

    def _serve(self, loop: asyncio.AbstractEventLoop) -> None:
        """Serve the delivery reports that have arrived; look again soon while any is due."""
        self._producer.poll(0)
        outstanding = len(self._producer)  # records, or their reports, not served yet
        self._serving = loop.call_later(_SERVE_EVERY_S, self._serve, loop) if outstanding else None

    async def close(self, *, timeout_s: float = _TIMEOUT_S) -> None:
        """Send what is queued (for up to ``timeout_s``), then stop."""
        if self._serving is not None:
            self._serving.cancel()
            self._serving = None
        deadline = time.monotonic() + timeout_s
        while len(self._producer) and time.monotonic() < deadline:
            self._producer.poll(0)
            await asyncio.sleep(_SERVE_EVERY_S)
        self._producer.poll(0)
