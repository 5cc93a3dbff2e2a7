"""The stage benchmark's two workloads, as each contender does them.

``plain``: a 14-field order of plain Avro types (strings, numbers, a boolean, an optional
string; no logical types). A stage drops 5% of the orders, upper-cases ``country``, adds a
derived ``total`` and writes a 15-field order. The hand-written loops and Quix decode and
encode it with fastavro and a Confluent frame on plain dicts, which is the least any Python
consumer can do; streamworks decodes it into its typed record and back, which is the cost
a streamworks user pays.

``orders``: the flagship's raw order (text fields, an enum and a logical timestamp) cleaned
by ``clean_order``; every contender uses streamworks' typed codec for it, so the codec's
logical-type work, which dominates it, is the same for all.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import fastavro

from schemas.records import CleanOrder, RawOrder
from streams.orders import OrderGenerator
from streams.orders.rules import clean_order
from streamworks import AvroRecord
from streamworks.schemas.catalog import contract_of
from streamworks.schemas.codec import AvroCodec
from streamworks.schemas.registry_client import RegistryClient
from streamworks.schemas.typed import RecordCodec

WORKLOADS = ("plain", "orders")

Transform = Callable[[bytes], bytes | None]
"""Input value bytes to output value bytes, or None for a record the stage drops."""

_FRAME = struct.Struct(">bI")


@dataclass(frozen=True)
class PlainOrder(AvroRecord, namespace="bench"):
    """An order of plain types, as a streamworks user declares it."""

    order_id: str
    customer_id: str
    sku: str
    quantity: int
    unit_price: float
    currency: str
    country: str
    channel: str
    status: str
    created_ms: int
    gift: bool
    coupon: str | None
    warehouse: int
    note: str


@dataclass(frozen=True)
class PricedOrder(PlainOrder, namespace="bench"):
    """The plain order with its country upper-cased and a derived total."""

    total: float


def dropped(quantity: int) -> bool:
    """The plain stage's filter: 5% of the generated orders."""
    return quantity % 20 == 0


async def price(order: PlainOrder) -> PricedOrder | None:
    """The plain stage as a streamworks stage function."""
    if dropped(order.quantity):
        return None
    return PricedOrder(
        order_id=order.order_id,
        customer_id=order.customer_id,
        sku=order.sku,
        quantity=order.quantity,
        unit_price=order.unit_price,
        currency=order.currency,
        country=order.country.upper(),
        channel=order.channel,
        status=order.status,
        created_ms=order.created_ms,
        gift=order.gift,
        coupon=order.coupon,
        warehouse=order.warehouse,
        note=order.note,
        total=order.quantity * order.unit_price,
    )


def plain_orders(count: int, start: int = 0) -> Iterator[dict[str, Any]]:
    """``count`` plain orders as dicts, the same every run; ids ``p<start>``, ``p<start+1>``..."""
    countries = ("de", "fr", "nl", "us", "jp", "br")
    channels = ("web", "app", "shop")
    for n in range(start, start + count):
        yield {
            "order_id": f"p{n:09d}",
            "customer_id": f"c{n * 7919 % 50_000:06d}",
            "sku": f"SKU-{n * 31 % 997:04d}",
            "quantity": n * 7 % 40 + 1,
            "unit_price": round(1 + n * 13 % 5_000 / 100, 2),
            "currency": "EUR",
            "country": countries[n % len(countries)],
            "channel": channels[n % len(channels)],
            "status": "placed",
            "created_ms": 1_700_000_000_000 + n,
            "gift": n % 9 == 0,
            "coupon": f"CP{n % 50}" if n % 4 == 0 else None,
            "warehouse": n % 12,
            "note": "leave at the door" if n % 3 == 0 else "",
        }


class PlainCodec:
    """fastavro on dicts with a Confluent frame: the plain workload for the hand-written
    loops and Quix, and for the harness's own reading and writing."""

    def __init__(self, registry_url: str, output_subject: str | None = None) -> None:
        registry = RegistryClient(registry_url)
        self._input = fastavro.parse_schema(contract_of(PlainOrder).schema)
        self._output = fastavro.parse_schema(contract_of(PricedOrder).schema)
        self.input_id = registry.register("bench-plain-order", contract_of(PlainOrder).schema_str)
        self._input_frame = _FRAME.pack(0, self.input_id)
        self._output_frame = b""
        if output_subject is not None:
            output_id = registry.register(output_subject, contract_of(PricedOrder).schema_str)
            self._output_frame = _FRAME.pack(0, output_id)

    def encode_input(self, order: dict[str, Any]) -> bytes:
        buffer = io.BytesIO()
        buffer.write(self._input_frame)
        fastavro.schemaless_writer(buffer, self._input, order)
        return buffer.getvalue()

    def decode_output(self, value: bytes) -> dict[str, Any]:
        buffer = io.BytesIO(value)
        buffer.seek(_FRAME.size)
        record: dict[str, Any] = fastavro.schemaless_reader(buffer, self._output, None)  # type: ignore[assignment]
        return record

    def transform(self, value: bytes) -> bytes | None:
        """Decode, filter, change, encode: the plain stage on bytes."""
        source = io.BytesIO(value)
        source.seek(_FRAME.size)
        order: dict[str, Any] = fastavro.schemaless_reader(source, self._input, None)  # type: ignore[assignment]
        if dropped(order["quantity"]):
            return None
        order["country"] = order["country"].upper()
        order["total"] = order["quantity"] * order["unit_price"]
        sink = io.BytesIO()
        sink.write(self._output_frame)
        fastavro.schemaless_writer(sink, self._output, order)
        return sink.getvalue()


def make_transform(workload: str, registry_url: str, output: str) -> Transform:
    """The stage's work on bytes, for the contenders that are not streamworks."""
    if workload == "plain":
        return PlainCodec(registry_url, f"{output}-value").transform
    codec = AvroCodec(RegistryClient(registry_url))
    raw = RecordCodec(RawOrder, codec, register=False)
    clean = RecordCodec(CleanOrder, codec, subject=f"{output}-value")

    def transform(value: bytes) -> bytes | None:
        return clean.encode(clean_order(raw.decode(value)))

    return transform


async def clean(order: RawOrder) -> CleanOrder:
    """The orders stage as a streamworks stage function."""
    return clean_order(order)


def stage_types(workload: str) -> tuple[type[AvroRecord], type[AvroRecord], Any]:
    """``(input type, output type, stage function)`` of a workload, for streamworks."""
    if workload == "plain":
        return PlainOrder, PricedOrder, price
    return RawOrder, CleanOrder, clean


def input_values(workload: str, registry_url: str, count: int) -> Iterator[tuple[bytes, bytes]]:
    """``count`` (key, value) input records of the workload, the same every run."""
    if workload == "plain":
        codec = PlainCodec(registry_url)
        for plain in plain_orders(count):
            yield plain["order_id"].encode(), codec.encode_input(plain)
        return
    raw = RecordCodec(RawOrder, AvroCodec(RegistryClient(registry_url)), subject="bench-raw-order")
    for order in OrderGenerator(seed=99).orders(count):
        yield order.order_id.encode(), raw.encode(order)
