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

Blocking calls run in threads. librdkafka runs rebalance callbacks inside ``consume``; the
callback hands the listener's coroutine to the event loop and waits for it, so a rebalance
still settles the batch in flight before partitions move. Keyed records are partitioned by
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
_NO_OFFSET = confluent_kafka.OFFSET_INVALID
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

    Its blocking calls run in two threads of its own, not asyncio's shared pool: one waits
    for records (up to the poll timeout), the other commits and looks offsets up. Several
    stages packed in one process would otherwise fill the shared pool with waiting fetches,
    and a stage's commit would queue behind another stage's idle wait.
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
            }
        )
        self._settings = settings
        self._consumer = confluent_kafka.Consumer(config)
        self._fetcher = ThreadPoolExecutor(1, thread_name_prefix=f"{client_id}-fetch")
        self._caller = ThreadPoolExecutor(1, thread_name_prefix=f"{client_id}-calls")
        self._max_batch = max_batch
        self._gather_s = fetch_wait_ms / 1000
        self._buffers: dict[TopicPartition, deque[InMessage]] = {}
        self._assignment: set[TopicPartition] = set()
        self._listener: ConsumerRebalanceListener | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._starts: dict[TopicPartition, int] | None = None
        """While the listener takes new partitions: where :meth:`seek` asked each to start."""
        self._failure: BaseException | None = None
        self._closing = False
        self._drained = False
        """The last look without waiting found nothing more queued (see :meth:`getmany`)."""

    # -- joining and leaving -----------------------------------------------------------------

    def subscribe(self, topics: list[str], listener: ConsumerRebalanceListener) -> None:
        """Subscribe to ``topics``; ``listener`` is awaited on every change of assignment."""
        self._listener = listener
        self._consumer.subscribe(
            topics, on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_revoke
        )

    async def start(self) -> None:
        """Check that the cluster answers (the group is joined by the first fetch)."""
        self._loop = asyncio.get_running_loop()
        try:
            await self._call(self._consumer.list_topics, timeout=_START_TIMEOUT_S)
        except KafkaException as error:
            raise KafkaUnavailableError(self._settings.bootstrap_servers) from error

    async def stop(self) -> None:
        """Leave the group (the worker has committed what it settled)."""
        self._closing = True
        try:
            await self._call(self._consumer.close)
        finally:
            self._fetcher.shutdown(wait=False)
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
        """Up to ``max_records`` buffered records of ``partitions`` (all when none is named).

        When none is buffered, fetched records are gathered first: waiting up to
        ``timeout_ms`` for one, then up to the fetch wait for more.
        """
        limit = max_records or self._max_batch
        wanted = partitions or tuple(self._buffers)
        if not any(self._buffers.get(tp) for tp in wanted):
            # a look without waiting is skipped when the last one found librdkafka's queue
            # empty: a worker asks once per partition, and each look is a thread's round trip
            if timeout_ms > 0 or not self._drained:
                await self._gather(timeout_ms / 1000)
            wanted = partitions or tuple(self._buffers)
        taken: dict[TopicPartition, list[InMessage]] = {}
        for tp in wanted:
            buffered = self._buffers.get(tp)
            if not buffered:
                continue
            count = min(limit, len(buffered))
            taken[tp] = [buffered.popleft() for _ in range(count)]
            limit -= count
            if limit <= 0:
                break
        return taken

    async def _gather(self, timeout_s: float) -> None:
        loop = asyncio.get_running_loop()
        messages = await loop.run_in_executor(self._fetcher, self._fetch, timeout_s)
        self._drained = timeout_s <= 0 and len(messages) < self._max_batch
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure
        for message in messages:
            tp = TopicPartition(message.topic, message.partition)
            if tp in self._assignment:
                buffered = self._buffers.get(tp)
                if buffered is None:
                    self._buffers[tp] = deque([message])
                else:
                    buffered.append(message)

    def _fetch(self, timeout_s: float) -> list[InMessage]:
        """In a thread: the first record within ``timeout_s``, then more for the fetch wait
        (with no ``timeout_s``: what librdkafka has queued, at once)."""
        consumer = self._consumer
        if timeout_s <= 0:
            fetched = consumer.consume(self._max_batch, 0)
        else:
            first = consumer.poll(timeout_s)
            fetched = [] if first is None else [first]
            if first is not None:
                fetched += consumer.consume(self._max_batch - 1, self._gather_s)
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

    @staticmethod
    def _fetch_error(error: KafkaError) -> None:
        if error.fatal():
            raise KafkaClientError("fetching", error)
        # a missing topic or a partition that moved: the topic watch and librdkafka handle it
        logger.debug("fetch: %s", error.str())

    def seek(self, tp: TopicPartition, offset: int) -> None:
        """Read ``tp`` from ``offset`` next (records buffered for it are dropped)."""
        self._buffers.pop(tp, None)
        if self._starts is not None:  # inside the listener: the assignment starts there
            self._starts[tp] = offset
            return
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

    # -- rebalances: librdkafka calls these inside consume(), in the fetching thread --------

    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        assigned = {TopicPartition(p.topic, p.partition) for p in partitions}
        self._starts = {}
        try:
            self._on_loop("on_partitions_assigned", assigned)
            starts = self._starts
        finally:
            self._starts = None
        consumer.assign(
            [
                confluent_kafka.TopicPartition(tp.topic, tp.partition, starts.get(tp, _NO_OFFSET))
                for tp in sorted(assigned)
            ]
        )
        self._assignment = assigned

    def _on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        revoked = {TopicPartition(p.topic, p.partition) for p in partitions}
        self._assignment -= revoked
        for tp in revoked:
            self._buffers.pop(tp, None)
        if not self._closing:  # leaving: the worker settled and committed before it left
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


class _Pending:
    """The delivery reports of one batch: the future resolves when the last one arrives."""

    __slots__ = ("error", "future", "left", "lock", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop, count: int) -> None:
        self.loop = loop
        self.future: asyncio.Future[None] = loop.create_future()
        self.left = count
        self.error: KafkaError | None = None
        self.lock = threading.Lock()

    def report(self, error: KafkaError | None, _message: Any) -> None:
        # in the producer's polling thread (or the loop's, for a record refused at once)
        with self.lock:
            if error is not None and self.error is None:
                self.error = error
            self.left -= 1
            last = self.left == 0
        if last:
            self.loop.call_soon_threadsafe(self._finish)

    def _finish(self) -> None:
        if self.future.done():
            return
        if self.error is None:
            self.future.set_result(None)
        else:
            self.future.set_exception(KafkaClientError("producing", self.error))


class RdSender:
    """An idempotent, acks=all librdkafka producer sending lists of :class:`OutRecord`."""

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
        self._stopping = threading.Event()
        self._poller = threading.Thread(target=self._poll, name=f"{client_id}-acks", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        while not self._stopping.is_set():
            self._producer.poll(0.1)

    async def send(self, records: list[OutRecord]) -> list[asyncio.Future[None]]:
        """Queue ``records``; the future resolves once all are acknowledged."""
        if not records:
            return []
        pending = _Pending(asyncio.get_running_loop(), len(records))
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
                    await asyncio.sleep(0.005)
                except KafkaException as error:
                    # a record refused before sending (too large): the batch fails with it
                    pending.report(error.args[0], None)
                    break
        return [pending.future]

    async def close(self, *, timeout_s: float = _TIMEOUT_S) -> None:
        """Send what is queued (for up to ``timeout_s``), then stop."""
        await asyncio.to_thread(self._producer.flush, timeout_s)
        self._stopping.set()
        await asyncio.to_thread(self._poller.join)
