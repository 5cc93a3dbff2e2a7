"""Micro benchmark: µs per raw order, coerce + fastavro (the old path) against the one-pass encoder.

Run with ``python -m tests.benchmarks.encode``. Prints the best of several repeats for a
JSON raw order (times as text and millis) and for a CSV row (all text), per path.
"""

from __future__ import annotations

import io
import timeit
from collections.abc import Callable
from typing import Any

import fastavro

import schemas  # noqa: F401  (the reference project's contracts, looked up by name)
from streamworks.connectors.base._coerce import compile_schema
from streamworks.connectors.base._encode import compile_encoder
from streamworks.schemas.catalog import contract

NUMBER = 50_000
REPEAT = 7

JSON_ORDER: dict[str, Any] = {
    "order_id": "run-1-42",
    "customer_id": "c-00042",
    "sku": "SKU-0042",
    "quantity": "3",
    "amount": "52.50",
    "currency": "EUR",
    "ordered_at": "2026-11-27T09:00:00Z",
    "source": "http",
    "received_at": 1_795_770_000_042,
}
CSV_ROW = {**JSON_ORDER, "customer_id": "", "source": "file", "received_at": "1795770000042"}


def _best_us(run: Callable[[], object]) -> float:
    return min(timeit.repeat(run, number=NUMBER, repeat=REPEAT)) / NUMBER * 1e6


def main() -> None:
    schema = contract("orders.raw").schema
    parsed = fastavro.parse_schema(schema)
    print(f"{'value':6} {'coerce':>8} {'+fastavro':>10} {'one pass':>9} {'speed-up':>9}")
    for label, value, text in (("json", JSON_ORDER, False), ("csv", CSV_ROW, True)):
        coerce = compile_schema(schema, text=text)
        encode = compile_encoder(schema, text=text)

        def old(value: dict[str, Any] = value, coerce: Any = coerce) -> bytes:
            buffer = io.BytesIO()
            fastavro.schemaless_writer(buffer, parsed, coerce(value, ""))
            return buffer.getvalue()

        def new(value: dict[str, Any] = value, encode: Any = encode) -> bytes:
            return bytes(encode(value, ""))

        assert old() == new(), "the paths disagree"

        def coerce_only(value: dict[str, Any] = value, coerce: Any = coerce) -> object:
            return coerce(value, "")

        coerce_us = _best_us(coerce_only)
        old_us, new_us = _best_us(old), _best_us(new)
        print(f"{label:6} {coerce_us:8.2f} {old_us:10.2f} {new_us:9.2f} {old_us / new_us:8.2f}x")


if __name__ == "__main__":
    main()
