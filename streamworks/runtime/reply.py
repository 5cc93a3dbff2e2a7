"""Request-reply over topics: send a record to a stage and await what the stage made of it.

The request is an ordinary record on the stage's input topic with two headers: a reply topic
and a correlation id. A stage that receives such a record sends its outputs to the reply
topic instead of its output topics (a request asks a question; it does not feed the
pipeline), each tagged with the correlation id and the output topic it would have gone to.
A request the stage filters out gets an empty ``filtered`` reply; one it dead-letters gets
an ``error`` reply naming the error (and still goes to the dead-letter topic).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from streamworks.core.errors import StreamworksError
from streamworks.core.settings import Settings
from streamworks.kafka import clients
from streamworks.runtime.dead_letters import header
from streamworks.runtime.replies import (
    CORRELATION_ID,
    REPLY_COUNT,
    REPLY_ERROR,
    REPLY_OUTPUT,
    REPLY_STATUS,
    REPLY_TO,
    Status,
)
from streamworks.runtime.topics import ensure_topic
from streamworks.schemas.codec import AvroCodec
from streamworks.schemas.errors import ValueDecodeError
from streamworks.schemas.records import AvroRecord
from streamworks.schemas.typed import Format, TypedCodec, codec_for

__all__ = [
    "CORRELATION_ID",
    "REPLY_TO",
    "Reply",
    "RequestTimeoutError",
    "Requester",
]


class RequestTimeoutError(StreamworksError):
    """No reply arrived in time (no worker running, or it is far behind); try again later."""

    retriable = True


@dataclass(frozen=True)
class Reply:
    """What a stage made of one request."""

    status: Status
    """ok (outputs below), filtered (no output), or error (dead-lettered)."""
    outputs: list[tuple[str, Any]] = field(default_factory=list)
    """(output topic, record) pairs, typed when the caller named the type of that topic."""
    error: str | None = None
    """The error class and message when the status is error."""


class Requester:
    """Sends requests to stages and awaits their replies on its own one-partition topic.

    ``formats`` names the JSON topics among the ones requests go to and replies come from
    (``{"iot.readings": "json"}``, or ``formats_of(pipeline)``); the rest are Avro. A reply
    carries its output topic's bytes: typed when ``reply_types`` names the topic's record
    type, else a dict (Avro read with its writer schema, JSON as parsed).
    """

    def __init__(
        self,
        settings: Settings,
        codec: AvroCodec,
        *,
        reply_topic: str | None = None,
        reply_types: dict[str, type[AvroRecord]] | None = None,
        formats: Mapping[str, Format] | None = None,
    ) -> None:
        self.settings = settings
        self.reply_topic = reply_topic or f"_replies.{uuid.uuid4().hex[:12]}"
        self._codec = codec
        self._formats = dict(formats or {})
        self._typed = {
            topic: codec_for(kind, codec, format=self._format(topic), register=False)
            for topic, kind in (reply_types or {}).items()
        }
        self._generic = codec.decoder()
        self._encoders: dict[tuple[str, type[AvroRecord]], TypedCodec[Any]] = {}
        self._waiting: dict[str, asyncio.Future[Reply]] = {}
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Create the reply topic if needed and start listening on it (from its end)."""
        await ensure_topic(self.settings, self.reply_topic, replication=1)
        self._consumer = clients.consumer(settings=self.settings, group_id=None)
        await self._consumer.start()
        partition = TopicPartition(self.reply_topic, 0)
        self._consumer.assign([partition])
        await self._consumer.seek_to_end(partition)
        self._producer = clients.producer(self.settings)
        await self._producer.start()
        self._reader = asyncio.create_task(self._read())

    async def stop(self) -> None:
        """Stop listening; requests still waiting fail with RequestTimeoutError."""
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(RequestTimeoutError("the requester stopped"))
        if self._consumer is not None:
            await self._consumer.stop()
        if self._producer is not None:
            await self._producer.stop()

    async def __aenter__(self) -> Requester:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    async def request(
        self,
        topic: str,
        record: AvroRecord,
        *,
        key: str | None = None,
        timeout: float = 10.0,  # noqa: ASYNC109 - the deadline becomes a typed, retriable error
    ) -> Reply:
        """Send ``record`` to ``topic`` and wait up to ``timeout`` seconds for the reply."""
        assert self._producer is not None, "start() the requester first"  # noqa: S101
        correlation = uuid.uuid4().hex
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._waiting[correlation] = future
        encoder = self._encoders.get((topic, type(record)))
        if encoder is None:
            encoder = codec_for(
                type(record), self._codec, format=self._format(topic), subject=f"{topic}-value"
            )
            self._encoders[(topic, type(record))] = encoder
        headers = [(REPLY_TO, self.reply_topic.encode()), (CORRELATION_ID, correlation.encode())]
        try:
            await self._producer.send_and_wait(
                topic, encoder.encode(record), key=key.encode() if key else None, headers=headers
            )
            async with asyncio.timeout(timeout):
                return await future
        except TimeoutError:
            raise RequestTimeoutError(
                f"no reply to request {correlation} on {topic} within {timeout:.1f}s "
                f"(reply topic {self.reply_topic}); is a worker of that stage running?"
            ) from None
        finally:
            self._waiting.pop(correlation, None)

    def _format(self, topic: str) -> Format:
        return self._formats.get(topic, "avro")

    def _reply_value(self, output: str, value: bytes | None) -> Any:
        typed = self._typed.get(output)
        if typed is not None:
            return typed.decode(value, topic=output)
        if self._format(output) == "json":
            try:
                return orjson.loads(value or b"")
            except orjson.JSONDecodeError as error:
                raise ValueDecodeError(f"not JSON: {error}", topic=output) from error
        return self._generic.decode(value, topic=output)

    async def _read(self) -> None:
        assert self._consumer is not None  # noqa: S101
        gathered: dict[str, list[tuple[str, Any]]] = {}
        while True:
            for records in (await self._consumer.getmany(timeout_ms=200)).values():
                for r in records:
                    headers = tuple(r.headers or ())
                    correlation = header(headers, CORRELATION_ID)
                    future = self._waiting.get(correlation or "")
                    if future is None or future.done():
                        continue
                    status = header(headers, REPLY_STATUS) or "error"
                    if status == "ok":
                        output = header(headers, REPLY_OUTPUT) or ""
                        value = self._reply_value(output, r.value)
                        parts = gathered.setdefault(correlation or "", [])
                        parts.append((output, value))
                        if len(parts) >= int(header(headers, REPLY_COUNT) or "1"):
                            future.set_result(Reply("ok", gathered.pop(correlation or "", [])))
                    else:
                        future.set_result(
                            Reply(
                                "filtered" if status == "filtered" else "error",
                                error=header(headers, REPLY_ERROR),
                            )
                        )
