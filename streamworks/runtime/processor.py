"""The broker-independent heart of a stage: decode, call, retry, route, encode, account.

The Kafka worker and the in-memory test driver both hand batches of :class:`InMessage` to a
:class:`StageProcessor` and write what it returns, so a stage behaves the same in a unit
test and in production. For every input record exactly one of three things happens, which
is what keeps ``in = out + filtered + dead_lettered`` true.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from streamworks.core.lineage import LineageWriter
from streamworks.core.messages import Headers, InMessage, OutRecord
from streamworks.pipeline.stage import Stage, To
from streamworks.runtime.breaker import Breaker, ResultTypeError
from streamworks.runtime.crashloop import CrashLoop
from streamworks.runtime.dead_letters import DLQ_RECORD_LIMIT, LogBudget, dead_letter
from streamworks.runtime.inputs import InputDecoder
from streamworks.runtime.replies import route_replies
from streamworks.schemas.codec import MAGIC_BYTE, AvroCodec
from streamworks.schemas.errors import (
    DecodeError,
    EncodeError,
    InvalidSchemaError,
    RegistryAccessError,
    RegistryError,
    RegistryUnavailableError,
)
from streamworks.schemas.records import AvroRecord
from streamworks.schemas.typed import Format, TypedCodec, codec_for

__all__ = [
    "BatchResult",
    "Counts",
    "DeadLetters",
    "OutputTooLargeError",
    "StageProcessor",
    "check_fits",
    "is_retriable",
    "schemas_ready",
]

logger = logging.getLogger(__name__)

_FRAME = struct.Struct(">BI")
_HEADERS_ALLOWANCE = 16_384
"""Below its limit by this much, a record's headers are not worth counting."""


class OutputTooLargeError(EncodeError):
    """An output record is larger than its topic takes: its input is dead-lettered."""


def _key_bytes(key: str | bytes) -> bytes:
    return key.encode() if isinstance(key, str) else key


class DeadLetters:
    """A stage's dead letters: written to ``topic``, counted, and logged within a budget."""

    def __init__(self, stage: str, topic: str) -> None:
        self.stage = stage
        self.topic = topic
        self._budget = LogBudget()

    def add(
        self,
        message: InMessage,
        error: BaseException,
        attempts: int,
        out: list[OutRecord],
        counts: Counts,
    ) -> None:
        """Append ``message``'s dead letter to ``out`` and count it."""
        letter = dead_letter(self.stage, self.topic, message, error, attempts, budget=self._budget)
        out.append(letter)
        counts.dead_lettered += 1


def check_fits(stage: str, record: OutRecord, limits: Mapping[str, int]) -> None:
    """Refuse an output its topic would refuse (``limits``: most bytes of key, value and
    headers by topic; others take the broker default), so it is dead-lettered instead of
    the produce failing the whole batch (and the worker, on every restart)."""
    limit = limits.get(record.topic, DLQ_RECORD_LIMIT)
    size = len(record.value or b"") + len(record.key or b"")
    if size + _HEADERS_ALLOWANCE <= limit:
        return  # the common case: far below the limit, headers not counted
    size += sum(len(name) + len(value) for name, value in record.headers)
    if size > limit:
        raise OutputTooLargeError(
            f"stage {stage} wrote a record of {size:,} bytes (key, value and "
            f"headers) for {record.topic}, which takes at most {limit:,}"
        )


def is_retriable(error: BaseException) -> bool:
    """True for errors worth retrying: flagged retriable, timeouts and lost connections."""
    return bool(getattr(error, "retriable", False)) or isinstance(
        error, TimeoutError | ConnectionError
    )


@dataclass
class Counts:
    """Per-stage accounting: every input is exactly one of out, filtered, dead-lettered."""

    records_in: int = 0
    """Input records handled."""
    out: int = 0
    """Inputs that produced at least one output; for an aggregation, inputs folded into
    state (``status`` calls it ``produced`` or ``folded``; its ``out`` is
    ``records_written``)."""
    filtered: int = 0
    """Inputs the function filtered out (returned None or nothing)."""
    dead_lettered: int = 0
    """Inputs sent to the dead-letter topic."""
    records_written: int = 0
    """Output records written (a flat-map may write several per input; an aggregation's
    results emitted)."""
    retries: int = 0
    """Extra attempts made for retriable errors."""
    late: int = 0
    """Inputs of an aggregation that arrived after their windows closed (see its late topic)."""

    def add(self, other: Counts) -> None:
        """Add ``other``'s figures to these."""
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def balanced(self) -> bool:
        """True when ``in = out + filtered + dead_lettered + late``."""
        return self.records_in == self.out + self.filtered + self.dead_lettered + self.late


@dataclass
class BatchResult:
    """What to write for one batch, in order, and the batch's accounting."""

    by_message: list[list[OutRecord]] = field(default_factory=list)
    """Outputs and dead letters of each input message, aligned with the batch."""
    counts: Counts = field(default_factory=Counts)
    """This batch's figures."""

    @property
    def records(self) -> list[OutRecord]:
        """Every output and dead letter, in input order (per-key order is preserved)."""
        return [record for records in self.by_message for record in records]


async def schemas_ready(
    codec: AvroCodec,
    messages: Sequence[InMessage],
    stage: Stage[Any],
    *,
    avro: frozenset[str] | None = None,
) -> int:
    """Fetch the writer schema of every record in ``messages``, waiting out an unreachable
    registry with the stage's backoff; return how many fetches were tried again.

    An outage says nothing about the records, so none may be dead-lettered for it: the
    batch waits (the stage's lag shows it) until the registry answers. Ids the registry
    does not have are left to the decoder, which dead-letters their records. ``avro``
    limits this to the records of those topics (None: every topic is Avro); a JSON topic's
    records need no registry, not even an Avro-framed one, which the decoder refuses.
    """
    ids = set()
    last = b""  # a batch's records mostly share one schema: unpack each frame only once
    for m in messages:
        value = m.value
        if not value or value[: _FRAME.size] == last or (avro is not None and m.topic not in avro):
            continue
        last = value[: _FRAME.size]
        if len(last) == _FRAME.size and last[0] == MAGIC_BYTE:
            ids.add(_FRAME.unpack(last)[1])
    retries = 0
    for schema_id in ids:
        for attempt in itertools.count(1):
            try:
                codec.writer_schema(schema_id)
            except RegistryUnavailableError as error:
                retries += 1
                wait = stage.retry.backoff(attempt)
                logger.warning("stage %s: %s; asking again in %.1f s", stage.name, error, wait)
                await asyncio.sleep(wait)
                continue
            except (RegistryError, InvalidSchemaError):
                pass  # not there, or not Avro: the decoder dead-letters these records
            break
    return retries


class StageProcessor:
    """Turns input messages of one stage into output records and dead letters.

    ``formats`` are the formats of the stage's topics by name (``"avro"`` when not given;
    :func:`~streamworks.runtime.topics.formats_of` reads them from the pipeline): each input
    is decoded and each output encoded as its topic says.
    """

    def __init__(
        self,
        stage: Stage[Any],
        codec: AvroCodec,
        dead_letter_topic: str,
        *,
        formats: Mapping[str, Format] | None = None,
    ) -> None:
        self.stage = stage
        self.dead_letter_topic = dead_letter_topic
        self._codec = codec
        formats = formats or {}
        self._inputs = InputDecoder(stage, codec, formats)
        self._decode = self._inputs.decode
        self._outputs: dict[str, TypedCodec[Any]] = {
            topic: codec_for(
                kind, codec, format=formats.get(topic, "avro"), subject=f"{topic}-value"
            )
            for topic, kind in stage.outputs.items()
        }
        self._slots = asyncio.Semaphore(stage.concurrency)
        # record type -> output topic, for types that appear on exactly one output
        kinds = list(stage.outputs.values())
        self._routes = {
            kind: topic for topic, kind in stage.outputs.items() if kinds.count(kind) == 1
        }
        self._lineage = LineageWriter(stage.name)
        self._breaker = Breaker(stage)
        self._letters = DeadLetters(stage.name, dead_letter_topic)
        self.record_limits: dict[str, int] = {}
        """Output topic -> most bytes of key, value and headers a record may have (the
        worker reads each topic's ``max.message.bytes``); others take the broker default."""

    async def process(self, messages: Sequence[InMessage]) -> BatchResult:
        """Process a batch; same-key messages run in order, others up to ``concurrency``."""
        slots: list[list[OutRecord]] = [[] for _ in messages]
        counts = Counts()  # one for the batch: increments never straddle an await
        counts.retries += await schemas_ready(
            self._codec, messages, self.stage, avro=self._inputs.avro
        )
        if self.stage.batch:
            await self._process_batch(messages, slots, counts)
        elif self.stage.concurrency == 1:
            await self._in_order(messages, slots, counts)
        else:
            lanes: dict[object, list[int]] = {}
            for index, message in enumerate(messages):
                lane = (
                    message.key if message.key is not None else (message.topic, message.partition)
                )
                lanes.setdefault(lane, []).append(index)
            await asyncio.gather(
                *(self._lane(messages, indexes, slots, counts) for indexes in lanes.values())
            )
        route_replies(messages, slots)
        return BatchResult(by_message=slots, counts=counts)

    async def _lane(
        self,
        messages: Sequence[InMessage],
        indexes: list[int],
        slots: list[list[OutRecord]],
        counts: Counts,
    ) -> None:
        for index in indexes:
            async with self._slots:
                await self._one(messages[index], slots[index], counts)

    async def _in_order(
        self, messages: Sequence[InMessage], slots: list[list[OutRecord]], counts: Counts
    ) -> None:
        """One record at a time, in order (``concurrency`` 1): the usual stage's hot path.

        The same steps as :meth:`_one`, without its per-record coroutine and retry loop: a
        record whose call fails goes on to :meth:`_attempts`, and the breaker hears of
        successes once per run of them rather than once per record.
        """
        decode, emit, function = self._decode, self._emit, self.stage.function
        counts.records_in += len(messages)
        succeeded = False  # since the breaker last heard
        for message, out in zip(messages, slots, strict=True):
            try:
                record = decode(message)
            except DecodeError as error:
                self._letters.add(message, error, 0, out, counts)
                continue
            try:
                emit(message, record, await function(record), out, counts)
            except RegistryAccessError:
                raise  # a refused login or an untrusted registry: no record's fault, stop
            except Exception as error:  # noqa: BLE001 - any failure is retried or dead-lettered
                if succeeded:
                    self._breaker.succeeded()
                    succeeded = False
                await self._attempts(message, record, out, counts, failed=error)
            else:
                succeeded = True
        if succeeded:
            self._breaker.succeeded()

    async def _one(self, message: InMessage, out: list[OutRecord], counts: Counts) -> None:
        counts.records_in += 1
        try:
            record = self._decode(message)
        except DecodeError as error:
            self._letters.add(message, error, 0, out, counts)
            return
        await self._attempts(message, record, out, counts)

    async def _attempts(
        self,
        message: InMessage,
        record: AvroRecord,
        out: list[OutRecord],
        counts: Counts,
        *,
        failed: Exception | None = None,
    ) -> None:
        """Call the function on ``record`` (its first try already ``failed``, if given)
        until it succeeds, its failure is final (dead letter) or the breaker stops the stage."""
        attempt, error = (0, None) if failed is None else (1, failed)
        while True:
            if error is not None:
                if not (is_retriable(error) and attempt < self.stage.retry.attempts):
                    self._breaker.failed(error, message)  # raises when the stage must stop
                    self._letters.add(message, error, attempt, out, counts)
                    return
                counts.retries += 1
                await asyncio.sleep(self.stage.retry.backoff(attempt))
            attempt += 1
            try:
                self._emit(message, record, await self._call_one(record), out, counts)
            except RegistryAccessError:
                raise  # a refused login or an untrusted registry: no record's fault, stop
            except Exception as caught:  # noqa: BLE001 - any failure is retried or dead-lettered
                error = caught
                continue
            self._breaker.succeeded()
            return

    async def _process_batch(
        self, messages: Sequence[InMessage], slots: list[list[OutRecord]], counts: Counts
    ) -> None:
        """Call the function once for the whole batch; isolate failures record by record."""
        decoded: list[tuple[int, AvroRecord]] = []
        for index, message in enumerate(messages):
            try:
                decoded.append((index, self._decode(message)))
            except DecodeError as error:
                counts.records_in += 1
                self._letters.add(message, error, 0, slots[index], counts)
        if not decoded:
            return
        try:
            results = await self._call_batch([record for _, record in decoded])
        except Exception:  # noqa: BLE001 - fall back to one record at a time to find the culprit
            logger.warning(
                "stage %s: batch call failed, retrying record by record", self.stage.name
            )
            for index, _ in decoded:
                await self._one(messages[index], slots[index], counts)
            return
        for (index, record), result in zip(decoded, results, strict=True):
            counts.records_in += 1
            try:
                self._emit(messages[index], record, result, slots[index], counts)
            except RegistryAccessError:
                raise  # a refused login or an untrusted registry: no record's fault, stop
            except Exception as error:  # noqa: BLE001 - a bad output dead-letters its input
                self._breaker.failed(error, messages[index])
                self._letters.add(messages[index], error, 1, slots[index], counts)
            else:
                self._breaker.succeeded()

    async def _call_one(self, record: AvroRecord) -> Any:
        if self.stage.batch:  # a batch function called with a batch of one
            [result] = await self.stage.function([record])
            return result
        return await self.stage.function(record)

    async def _call_batch(self, records: list[AvroRecord]) -> list[Any]:
        attempt = 0
        while True:
            attempt += 1
            try:
                results = list(await self.stage.function(records))
            except Exception as error:
                if is_retriable(error) and attempt < self.stage.retry.attempts:
                    await asyncio.sleep(self.stage.retry.backoff(attempt))
                    continue
                raise
            if len(results) != len(records):
                raise ValueError(
                    f"batch stage {self.stage.name} returned {len(results)} results "
                    f"for {len(records)} records"
                )
            return results

    def _emit(
        self,
        message: InMessage,
        record: AvroRecord,
        result: Any,
        out: list[OutRecord],
        counts: Counts,
    ) -> None:
        """Encode every output of one input; all of them or (on error) none are kept."""
        if isinstance(result, AvroRecord):  # the common case: one record, routed by type
            topic = self._routes.get(type(result)) or self.stage.output_for(result)
            key = message.key if self.stage.key is None else _key_bytes(self.stage.key(result))
            output = OutRecord(
                topic, key, self._outputs[topic].encode(result), self._headers(message)
            )
            self._fits(output)
            out.append(output)
            counts.out += 1
            counts.records_written += 1
            return
        encoded = self._encode_many(message, result)
        if encoded:
            for output in encoded:
                self._fits(output)
            out.extend(encoded)
            counts.out += 1
            counts.records_written += len(encoded)
        else:
            counts.filtered += 1

    def _fits(self, record: OutRecord) -> None:
        check_fits(self.stage.name, record, self.record_limits)

    def _encode_many(self, message: InMessage, result: Any) -> list[OutRecord]:
        items: Iterable[Any]
        if result is None:
            items = ()
        elif isinstance(result, To):
            items = (result,)
        elif isinstance(result, str | bytes | Mapping) or not isinstance(result, Iterable):
            raise self._wrong_result(result)
        else:
            items = result
        lineage = self._headers(message)
        encoded: list[OutRecord] = []
        for item in items:
            if not isinstance(item, AvroRecord | To):
                raise self._wrong_result(item, inside=type(result).__name__)
            target = item if isinstance(item, To) else To(self.stage.output_for(item), item)
            codec = self._outputs.get(target.topic)
            if codec is None:
                raise EncodeError(
                    f"stage {self.stage.name} wrote to {target.topic}, not one of its outputs"
                )
            encoded.append(
                OutRecord(
                    target.topic, self._key(message, target), codec.encode(target.record), lineage
                )
            )
        return encoded

    def _wrong_result(self, result: object, inside: str = "") -> ResultTypeError:
        what = type(result).__name__ + (f" in a {inside}" if inside else "")
        outputs = ", ".join(sorted({kind.__name__ for kind in self.stage.outputs.values()}))
        return ResultTypeError(
            f"stage {self.stage.name} returned a {what}; return a record ({outputs}), "
            "a list of them, To(topic, record) or None"
        )

    def _headers(self, message: InMessage) -> Headers:
        """An output's headers: its lineage (:mod:`streamworks.core.lineage`)."""
        return (self._lineage.header(message.topic, message.partition, message.offset),)

    def _key(self, message: InMessage, target: To) -> bytes | None:
        key = target.key
        if key is None and self.stage.key is not None:
            key = self.stage.key(target.record)
        if key is None:
            return message.key
        return _key_bytes(key)

    def quarantine(self, message: InMessage, error: CrashLoop) -> BatchResult:
        """``message`` alone, dead-lettered without calling the stage: its workers kept
        dying while it was in their batch (:mod:`streamworks.runtime.crashloop`)."""
        letter = dead_letter(
            self.stage.name,
            self.dead_letter_topic,
            message,
            error,
            0,
            error_class="CrashLoop",
        )
        return BatchResult([[letter]], Counts(records_in=1, dead_lettered=1))
