"""A stage worker's consumer and producer on librdkafka (confluent-kafka), for asyncio.

aiokafka does its network I/O, record parsing and batching in Python on the event loop: on
this project's benchmark that is about half of a stage's CPU per record, and at a moderate
rate each fetch-and-produce cycle costs far more than its records. librdkafka does the same
work in C threads. These classes put it under the stage worker with the interface the
worker already uses:

* :class:`RdConsumer` (:mod:`streamworks.kafka.rd_consumer`) answers the calls
  :class:`~streamworks.runtime.membership.GroupMember` makes of an aiokafka consumer; one
  thread owns it, and the worker takes its records on the event loop.
* :class:`RdSender` sends a list of :class:`~streamworks.core.messages.OutRecord` and returns
  one future that resolves when every record is acknowledged (or fails with the first error),
  as :class:`~streamworks.kafka.sending.BatchSender` does. Keyed records are partitioned by
  murmur2 (``murmur2_random``), as the Java client and aiokafka's path do: both clients put a
  key on the same partition.

Only at-least-once stage workers use these: exactly-once keeps one aiokafka transactional
producer per input partition (see :mod:`streamworks.runtime.transactions`).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import confluent_kafka
from confluent_kafka import KafkaError, KafkaException

from streamworks.core.messages import OutRecord
from streamworks.core.settings import Settings
from streamworks.kafka.rd_config import CALL_TIMEOUT_S, KafkaClientError, rdkafka_config
from streamworks.kafka.rd_consumer import RdConsumer

__all__ = ["KafkaClientError", "RdConsumer", "RdSender", "rdkafka_config"]

_SERVE_EVERY_S = 0.001
"""How often delivery reports are looked for while the queue is full, or while closing."""


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
    each batch and then every ``linger_ms`` (at least 1 ms) while any is outstanding: an
    acknowledgement cannot come sooner than a linger after its send, and a worker does not
    wait for one until four batches are out (:mod:`streamworks.runtime.commits`). Looking
    every millisecond (the default linger) costs the event loop's thread about 2% of a core
    at 2,000 records/s.
    A thread of its own waiting on them would take the interpreter's lock once per record,
    and a busy loop holds that lock for up to 5 ms at a time: with stages packed in one
    process that was tens of milliseconds per batch.
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
        self._serve_every_s = max(settings.linger_ms, 1) / 1000

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
            self._serving = loop.call_later(self._serve_every_s, self._serve, loop)
        return [pending.future]

    def _serve(self, loop: asyncio.AbstractEventLoop) -> None:
        """Serve the delivery reports that have arrived; look again soon while any is due."""
        self._producer.poll(0)
        outstanding = len(self._producer)  # records, or their reports, not served yet
        self._serving = (
            loop.call_later(self._serve_every_s, self._serve, loop) if outstanding else None
        )

    async def close(self, *, timeout_s: float = CALL_TIMEOUT_S) -> None:
        """Send what is queued (for up to ``timeout_s``), then stop."""
        if self._serving is not None:
            self._serving.cancel()
            self._serving = None
        deadline = time.monotonic() + timeout_s
        while len(self._producer) and time.monotonic() < deadline:
            self._producer.poll(0)
            await asyncio.sleep(_SERVE_EVERY_S)
        self._producer.poll(0)
