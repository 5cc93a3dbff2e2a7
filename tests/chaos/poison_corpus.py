"""Scenario 6's material: a corpus of bad input records, and a registry that can go down.

Each :class:`Poison` is one record the ``tag`` stage must dead-letter, with the words its
dead letter's ``error.message`` must contain. The bad bytes are built from real orders,
one mutation per kind, so each kind fails in exactly one place (the header, the schema id,
one field of the body, what follows it). Every poison record carries a ``poison.id``
header (``<kind>#<n>``): the dead letter keeps its input's headers, so the test matches
each dead letter to the record it came from.

:class:`RegistryProxy` stands between the workers and the schema registry and can answer
503 or refuse connections for a while: a registry outage the workers must wait out.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import struct
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from itertools import cycle
from pathlib import Path
from typing import Any, Literal

from aiokafka.record.default_records import DefaultRecordBatchBuilder

from schemas.records import CustomerTotals, EnrichedOrder, Tier
from streamworks.schemas.catalog import contract
from streamworks.schemas.codec import AvroCodec, AvroEncoder, SchemaSource
from streamworks.schemas.errors import DecodeError
from streamworks.schemas.memory_registry import InMemoryRegistry
from streamworks.schemas.typed import RecordCodec
from tests.chaos.harness import orders

__all__ = [
    "BROKER_LIMIT",
    "CLIENT_LIMIT",
    "KIND_HEADER",
    "NEAR_LIMIT",
    "Mode",
    "Poison",
    "RegistryProxy",
    "SchemaIds",
    "at_size_limit",
    "corpus",
    "deeply_nested",
    "deeply_nested_outcome",
    "evolved_encoder",
    "register_schemas",
    "rss_mb",
]

KIND_HEADER = "poison.id"
"""Header naming a poison record's kind and number, ``<kind>#<n>``."""
BROKER_LIMIT = 1_048_588
"""The broker's ``message.max.bytes`` (Kafka's default): the largest record batch it takes."""
CLIENT_LIMIT = 1_048_576
"""aiokafka's ``max_request_size`` default: the largest record (as a batch) ``send`` takes."""
NEAR_LIMIT = 1_000_000
"""Size of the near-limit poison values: well inside both limits, with room for headers."""
COPIES = 9
"""Records of each kind (the near-limit kind has fewer: each is a megabyte)."""
NEAR_LIMIT_COPIES = 3
DEPTH = 1_000
"""Levels of the deeply nested poison (unterminated, so it is bad). fastavro's compiled
reader recurses on the C stack and crashes the process a few thousand levels down; the
test's ``test_very_deep_nesting_is_a_decode_error`` shows that separately."""
UNREGISTERED_ID = 999_999
"""A plausible schema id that no registry of these tests hands out."""

_HEADER = struct.Struct(">BI")
_TIERS = list(Tier)
_NODE = {
    "type": "record",
    "name": "Node",
    "namespace": "poison",
    "fields": [{"name": "next", "type": ["null", "Node"]}],
}


@dataclass(frozen=True)
class Poison:
    """One bad input record and why it must be dead-lettered."""

    kind: str
    """What is wrong with it, e.g. ``magic-0x01``."""
    number: int
    """Its number within the kind."""
    key: bytes
    """Its key (a customer id, like the good orders')."""
    value: bytes | None
    """The bad value; None is a tombstone."""
    reason: str
    """Words its dead letter's ``error.message`` header must contain."""

    @property
    def ident(self) -> str:
        """``<kind>#<n>``: the ``poison.id`` header value."""
        return f"{self.kind}#{self.number}"

    @property
    def headers(self) -> list[tuple[str, bytes]]:
        return [(KIND_HEADER, self.ident.encode())]


@dataclass(frozen=True)
class SchemaIds:
    """Registered schema ids the corpus and the outage need."""

    order: int
    """EnrichedOrder as the good orders are written."""
    totals: int
    """CustomerTotals: a registered record schema of another kind."""
    text: int
    """A primitive ``"string"`` schema."""
    nested: int
    """EnrichedOrder plus an optional recursive ``trail`` (a linked list of Node)."""
    evolved: int
    """EnrichedOrder plus an optional ``note``: a newer version of the input's schema."""


def _evolved_schema(field: dict[str, Any]) -> str:
    schema = json.loads(contract("orders.enriched").schema_str)
    schema["fields"] = [*schema["fields"], field]
    return json.dumps(schema)


NESTED_SCHEMA = _evolved_schema({"name": "trail", "type": ["null", _NODE], "default": None})
EVOLVED_SCHEMA = _evolved_schema({"name": "note", "type": ["null", "string"], "default": None})


def register_schemas(registry: SchemaSource, name: str) -> SchemaIds:
    """Register what the corpus needs; the evolved input schema under ``<name>.in-value``."""
    return SchemaIds(
        order=registry.register(f"{name}.in-value", contract("orders.enriched").schema_str),
        totals=registry.register(f"{name}.totals-value", contract("metrics.customers").schema_str),
        text=registry.register(f"{name}.poison-text-value", '"string"'),
        nested=registry.register(f"{name}.poison-nested-value", NESTED_SCHEMA),
        evolved=registry.register(f"{name}.in-value", EVOLVED_SCHEMA),
    )


def evolved_encoder(registry: SchemaSource, name: str) -> Callable[[EnrichedOrder], bytes]:
    """Encodes orders with the evolved schema, as an upgraded producer would."""
    encoder: AvroEncoder = AvroCodec(registry).encoder(f"{name}.in-value", EVOLVED_SCHEMA)
    return lambda o: encoder.encode({**o.to_avro(), "note": "written with version 2"})


# -- building bad bytes ------------------------------------------------------------------


def _long(value: int) -> bytes:
    """Avro's zig-zag varint of ``value`` (any size: bad input needs huge ones)."""
    bits = (value << 1) ^ (value >> 63) if value >= 0 else ((-value - 1) << 1) | 1
    out = bytearray()
    while True:
        low, bits = bits & 0x7F, bits >> 7
        if not bits:
            out.append(low)
            return bytes(out)
        out.append(low | 0x80)


def _text(data: bytes) -> bytes:
    return _long(len(data)) + data


def _ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def _body(o: EnrichedOrder, **raw: bytes) -> bytes:
    """The Avro body of ``o``, field by field, with some fields' bytes replaced by ``raw``."""
    fields = {
        "order_id": _text(str(o.order_id).encode()),
        "customer_id": _text(o.customer_id.encode()),
        "sku": _text(o.sku.encode()),
        "quantity": _long(o.quantity),
        "amount_cents": _long(o.amount_cents),
        "currency": _text(o.currency.encode()),
        "ordered_at": _long(_ms(o.ordered_at)),
        "received_at": _long(_ms(o.received_at)),
        "customer_tier": _long(_TIERS.index(o.customer_tier)),
        "region": _text(o.region.encode()),
        "enriched_at": _long(_ms(o.enriched_at)),
    }
    fields.update(raw)
    return b"".join(fields.values())


def _totals(o: EnrichedOrder) -> CustomerTotals:
    """A valid CustomerTotals: well-formed bytes of the wrong (registered) schema."""
    return CustomerTotals(o.customer_id, 1, o.amount_cents, o.ordered_at)


def _framed(schema_id: int, body: bytes, magic: int = 0) -> bytes:
    return _HEADER.pack(magic, schema_id) + body


@dataclass(frozen=True)
class _Kind:
    name: str
    reason: str
    value: Callable[[int, EnrichedOrder], bytes | None]
    copies: int = COPIES


def _kinds(ids: SchemaIds, codec: RecordCodec[CustomerTotals]) -> list[_Kind]:
    """Every kind of bad record: what its value is, and what its dead letter must say."""

    def good(o: EnrichedOrder) -> bytes:
        return _framed(ids.order, _body(o))

    short = cycle([b"\x00", b"\x00\x00", b"\x00\x00\x00", b"\x00\x00\x00\x01"])
    not_found = "is not in the registry"
    invalid = "Avro body is invalid"
    return [
        _Kind("empty", "0 byte(s), fewer than the 5-byte header", lambda n, o: b""),
        _Kind("short-1-to-4-bytes", "fewer than the 5-byte header", lambda n, o: next(short)),
        _Kind("header-only", f"{invalid}: EOFError", lambda n, o: _framed(ids.order, b"")),
        _Kind("magic-0x01", "magic byte is 1,", lambda n, o: _framed(ids.order, _body(o), 1)),
        _Kind("magic-0xff", "magic byte is 255,", lambda n, o: _framed(ids.order, _body(o), 255)),
        _Kind("schema-id-0", f"schema id 0 {not_found}", lambda n, o: _framed(0, _body(o))),
        _Kind(
            "schema-id-minus-1",
            f"schema id {2**32 - 1} {not_found}",
            lambda n, o: _framed(2**32 - 1, _body(o)),
        ),
        _Kind(
            "schema-id-huge",
            f"schema id {2**31 - 1} {not_found}",
            lambda n, o: _framed(2**31 - 1, _body(o)),
        ),
        _Kind(
            "schema-id-unregistered",
            f"schema id {UNREGISTERED_ID} {not_found}",
            lambda n, o: _framed(UNREGISTERED_ID, _body(o)),
        ),
        _Kind("truncated", invalid, lambda n, o: good(o)[: 6 + (n * 7) % (len(good(o)) - 6)]),
        _Kind(
            "huge-length-prefix",
            f"{invalid}: EOFError: Expected {2**62} bytes",
            lambda n, o: _framed(ids.order, _body(o, order_id=_long(2**62) + b"00000000")),
        ),
        _Kind(
            "negative-length-prefix",
            f"{invalid}: EOFError: Expected -5 bytes",
            lambda n, o: _framed(ids.order, _body(o, order_id=_long(-5) + b"00000000")),
        ),
        _Kind(
            "invalid-utf8",
            f"{invalid}: UnicodeDecodeError",
            lambda n, o: _framed(ids.order, _body(o, customer_id=_text(b"c\xff\xfe\xc3("))),
        ),
        _Kind(
            "invalid-uuid",
            f"{invalid}: ValueError: badly formed hexadecimal UUID string",
            lambda n, o: _framed(ids.order, _body(o, order_id=_text(b"not-a-uuid"))),
        ),
        _Kind(
            "enum-index-out-of-range",
            f"{invalid}: IndexError",
            lambda n, o: _framed(ids.order, _body(o, customer_tier=_long(99))),
        ),
        _Kind(
            "timestamp-overflow",
            f"{invalid}: OverflowError",
            lambda n, o: _framed(ids.order, _body(o, ordered_at=_long(2**62))),
        ),
        _Kind(
            "another-record-schema",
            "written as streamworks.metrics.CustomerTotals, which cannot be read as "
            "streamworks.orders.EnrichedOrder",
            lambda n, o: codec.encode(_totals(o)),
        ),
        _Kind(
            "primitive-schema",
            "written as string, which cannot be read as streamworks.orders.EnrichedOrder",
            lambda n, o: _framed(ids.text, _text(b"just a string")),
        ),
        _Kind(
            "trailing-garbage",
            "byte(s) left after the record",
            lambda n, o: good(o) + b"\xde\xad\xbe\xef" * (n + 1),
        ),
        _Kind("tombstone", "0 byte(s), fewer than the 5-byte header", lambda n, o: None),
        _Kind(
            "near-size-limit",
            "byte(s) left after the record",
            lambda n, o: good(o) + b"\x00" * (NEAR_LIMIT - len(good(o))),
            copies=NEAR_LIMIT_COPIES,
        ),
        _Kind("deeply-nested", invalid, lambda n, o: deeply_nested(ids, o, DEPTH, end=False)),
        _Kind(
            "bad-union-index",
            f"{invalid}: IndexError",
            lambda n, o: _framed(ids.nested, _body(o) + _long(7)),
        ),
    ]


def corpus(ids: SchemaIds, registry: SchemaSource, name: str) -> list[Poison]:
    """The bad records, kind by kind; each built from an order no good record has."""
    totals_codec = RecordCodec(CustomerTotals, AvroCodec(registry), subject=f"{name}.totals-value")
    found: list[Poison] = []
    templates = iter(orders(10_000, start=1_000_000))
    for kind in _kinds(ids, totals_codec):
        for number in range(kind.copies):
            o = next(templates)
            found.append(
                Poison(
                    kind.name, number, o.customer_id.encode(), kind.value(number, o), kind.reason
                )
            )
    return found


def deeply_nested(ids: SchemaIds, o: EnrichedOrder, depth: int, *, end: bool) -> bytes:
    """``o`` with a ``trail`` ``depth`` nodes deep (the schema is recursive, so any depth is
    valid Avro); without its ``end`` the trail runs off the end of the bytes."""
    return _framed(ids.nested, _body(o) + _long(1) * depth + (_long(0) if end else b""))


def deeply_nested_outcome(depth: int) -> str:
    """What decoding a well-formed order with a ``depth``-deep trail does, as the ``tag``
    stage decodes it: ``decoded`` or the decode error. Run it in a child process: the
    process may not survive it."""
    registry = InMemoryRegistry()
    ids = register_schemas(registry, "deep")
    codec = RecordCodec(EnrichedOrder, AvroCodec(registry), register=False)
    try:
        codec.decode(deeply_nested(ids, orders(1)[0], depth, end=True))
    except DecodeError as error:
        return f"{type(error).__name__}: {error}"
    return "decoded"


def at_size_limit(ids: SchemaIds, o: EnrichedOrder) -> bytes:
    """The largest bad value (an order and trailing zeros) the producer accepts with key
    ``o.customer_id``: the record exactly fills ``max_request_size``."""
    good = _framed(ids.order, _body(o))
    key = o.customer_id.encode()
    size = CLIENT_LIMIT - 100
    while (
        DefaultRecordBatchBuilder.estimate_size_in_bytes(key, bytes(size + 1), []) <= CLIENT_LIMIT
    ):
        size += 1
    return good + bytes(size - len(good))


# -- the workers' view of the registry ---------------------------------------------------

Mode = Literal["up", "503", "refused"]


class RegistryProxy:
    """A TCP proxy to a registry, on its own thread; :meth:`set_mode` makes an outage.

    ``up`` forwards connections; ``503`` answers every request with a Confluent-style
    server error; ``refused`` stops listening, so connections are refused. The proxy keeps
    its port across modes, so the workers' registry URL stays the same. Its own thread and
    loop keep it answering while the test's loop waits on something else.
    """

    def __init__(self, upstream: str) -> None:
        host, port = upstream.removeprefix("http://").rstrip("/").split(":")
        self._upstream = (host, int(port))
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._connections: dict[asyncio.Task[Any], asyncio.StreamWriter] = {}
        self.port = 0
        self.mode: Mode = "up"
        self.refused_requests = 0
        """Requests answered 503 (refused connections are not seen)."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> RegistryProxy:
        self._thread.start()
        self._call(self._listen())
        return self

    def __exit__(self, *_: object) -> None:
        self._call(self._shut_down())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        if not self._thread.is_alive():
            self._loop.close()

    def set_mode(self, mode: Mode) -> None:
        """Switch to ``mode``; returns once the proxy behaves that way."""
        self._call(self._switch(mode))

    def _call(self, work: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(work, self._loop).result(30)

    async def _switch(self, mode: Mode) -> None:
        if mode == "refused":
            await self._close()
        elif self._server is None:
            await self._listen()
        self.mode = mode

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _shut_down(self) -> None:
        """Stop listening and end the connections still open (their clients see them cut)."""
        await self._close()
        for writer in self._connections.values():
            writer.transport.abort()
        await asyncio.gather(*self._connections, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections[task] = writer
        try:
            if self.mode == "up":
                await self._forward(reader, writer)
            else:
                await self._unavailable(reader, writer)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # a client or the registry went away mid-request: it sees a broken answer
        finally:
            self._connections.pop(task, None)
            await _closed(writer)

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Copy both ways until the client hangs up (it reads the whole answer first)."""
        up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        answers = asyncio.create_task(_pipe(up_reader, writer))
        try:
            await _pipe(reader, up_writer)
        finally:
            answers.cancel()
            await asyncio.gather(answers, return_exceptions=True)
            await _closed(up_writer)

    async def _unavailable(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            (
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            ),
            0,
        )
        await reader.readexactly(length)
        self.refused_requests += 1
        body = json.dumps({"error_code": 50301, "message": "registry outage (chaos test)"})
        writer.write(
            b"HTTP/1.1 503 Service Unavailable\r\n"
            b"Content-Type: application/vnd.schemaregistry.v1+json\r\n"
            + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body.encode()
        )
        await writer.drain()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until end of stream."""
    while data := await reader.read(65_536):
        writer.write(data)
        await writer.drain()


async def _closed(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MiB (``VmRSS`` of ``/proc/<pid>/status``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"process {pid} has no VmRSS (did it exit?)")
