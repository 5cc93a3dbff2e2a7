"""Codec benchmark: encode and decode of an enriched order, per core, against the peers.

Run with ``make bench`` or ``python -m tests.benchmarks.codec``. Contenders, measured in the
same process on the same record: bare fastavro schemaless calls (the ceiling), our codec
(Confluent framing + fastavro), the ``avro`` package, and JSON with orjson.
"""

from __future__ import annotations

import io
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import avro.io
import avro.schema
import fastavro
import orjson

from schemas.records import EnrichedOrder, Tier
from streamworks.schemas.catalog import contract
from streamworks.schemas.codec import AvroCodec
from streamworks.schemas.memory_registry import InMemoryRegistry
from streamworks.schemas.typed import RecordCodec
from tests.benchmarks._report import machine, write

ROUNDS = 5
SECONDS_PER_ROUND = 1.0

NOW = datetime(2026, 11, 26, 12, 0, 0, 125000, tzinfo=UTC)
ORDER = EnrichedOrder(
    order_id=uuid.UUID("7f1f6a0e-9a0b-4a43-8a53-4f3c2b1d0e9f"),
    customer_id="customer-000017",
    sku="SKU-0042",
    quantity=3,
    amount_cents=45_990,
    currency="EUR",
    ordered_at=NOW,
    received_at=NOW,
    enriched_at=NOW,
    customer_tier=Tier.GOLD,
    region="EU-WEST",
)


def _rate(operation: Callable[[], object], seconds: float = SECONDS_PER_ROUND) -> float:
    """Operations per second over ~``seconds`` of back-to-back calls."""
    count = 0
    started = time.perf_counter()
    deadline = started + seconds
    while True:
        for _ in range(500):
            operation()
        count += 500
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - started)


def _best_interleaved(operations: dict[str, Callable[[], object]]) -> dict[str, float]:
    """Best rate of each operation over ROUNDS rounds, contenders interleaved in each round.

    A short warm-up round runs first and is discarded, so no contender pays for it.
    """
    for operation in operations.values():
        _rate(operation, 0.2)
    best = dict.fromkeys(operations, 0.0)
    for _ in range(ROUNDS):
        for name, operation in operations.items():
            best[name] = max(best[name], _rate(operation))
    return best


def contenders() -> dict[str, tuple[Callable[[], object], Callable[[], object]]]:
    """name -> (encode once, decode once), all on the same enriched order."""
    found = contract("orders.enriched")
    record = ORDER.to_avro()
    parsed = fastavro.parse_schema(found.schema)

    def fastavro_encode() -> bytes:
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, parsed, record)
        return buffer.getvalue()

    fastavro_bytes = fastavro_encode()

    codec = AvroCodec(InMemoryRegistry())
    encoder = codec.encoder(found.subject, found.schema_str)
    decoder = codec.decoder(found.schema)
    framed = encoder.encode(record)

    avro_schema = avro.schema.parse(found.schema_str)
    avro_writer = avro.io.DatumWriter(avro_schema)
    avro_reader = avro.io.DatumReader(avro_schema, avro_schema)
    avro_record = {**record, "order_id": str(record["order_id"]), "customer_tier": "GOLD"}

    def avro_encode() -> bytes:
        buffer = io.BytesIO()
        avro_writer.write(avro_record, avro.io.BinaryEncoder(buffer))
        return buffer.getvalue()

    avro_bytes = avro_encode()
    json_bytes = orjson.dumps(record)

    return {
        "fastavro": (
            fastavro_encode,
            lambda: fastavro.schemaless_reader(io.BytesIO(fastavro_bytes), parsed, parsed),
        ),
        "streamworks": (lambda: encoder.encode(record), lambda: decoder.decode(framed)),
        "avro": (
            avro_encode,
            lambda: avro_reader.read(avro.io.BinaryDecoder(io.BytesIO(avro_bytes))),
        ),
        "orjson": (lambda: orjson.dumps(record), lambda: orjson.loads(json_bytes)),
    }


def typed_operations() -> dict[str, Callable[[], object]]:
    """Our typed layer (record objects in and out) on top of the codec, for reference."""
    records = RecordCodec(EnrichedOrder, AvroCodec(InMemoryRegistry()))
    data = records.encode(ORDER)
    return {"encode": lambda: records.encode(ORDER), "decode": lambda: records.decode(data)}


def main() -> int:
    operations: dict[str, Callable[[], object]] = {}
    for name, (encode, decode) in contenders().items():
        operations[f"{name} encode"] = encode
        operations[f"{name} decode"] = decode
    for kind, operation in typed_operations().items():
        operations[f"typed {kind}"] = operation
    rates = _best_interleaved(operations)
    results: dict[str, dict[str, Any]] = {
        name: {
            "encode_per_s": round(rates[f"{name} encode"]),
            "decode_per_s": round(rates[f"{name} decode"]),
        }
        for name in contenders()
    }
    ceiling = results["fastavro"]
    for figures in results.values():
        figures["encode_vs_fastavro"] = round(figures["encode_per_s"] / ceiling["encode_per_s"], 3)
        figures["decode_vs_fastavro"] = round(figures["decode_per_s"] / ceiling["decode_per_s"], 3)
    typed = {
        "encode_per_s": round(rates["typed encode"]),
        "decode_per_s": round(rates["typed decode"]),
    }
    data: dict[str, Any] = {
        "benchmark": "codec: one enriched order (11 fields), one core",
        "machine": machine(),
        "contenders": results,
        "streamworks_typed_records": typed,
    }
    lines = [
        "| contender | encode/s | decode/s | encode vs fastavro | decode vs fastavro |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, f in results.items():
        lines.append(
            f"| {name} | {f['encode_per_s']:,} | {f['decode_per_s']:,} | "
            f"{f['encode_vs_fastavro']:.2f} | {f['decode_vs_fastavro']:.2f} |"
        )
    lines.append(
        f"| streamworks (typed records) | {typed['encode_per_s']:,} | "
        f"{typed['decode_per_s']:,} | | |"
    )
    table = "\n".join(lines)
    path = write("codec", data, table)
    sys.stdout.write(table + f"\n\nwritten to {path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
