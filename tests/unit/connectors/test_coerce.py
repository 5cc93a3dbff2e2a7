"""Coercing JSON and CSV values to a schema: what fits, and why what does not."""

from __future__ import annotations

import decimal
import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest

import schemas  # noqa: F401  (the reference project's contracts, looked up by name here)
from streamworks.connectors.base._coerce import Invalid, compile_schema
from streamworks.schemas.catalog import contract

ENRICHED = contract("orders.enriched").schema
RAW = contract("orders.raw").schema

GOOD_ENRICHED: dict[str, Any] = {
    "order_id": "0b8f2c64-4f0e-4c43-9a4e-3f1d0f6e9a11",
    "customer_id": "c-00001",
    "sku": "SKU-0001",
    "quantity": 2,
    "amount_cents": 1999,
    "currency": "EUR",
    "ordered_at": "2026-11-27T09:00:00+00:00",
    "received_at": 1_795_770_000_000,
    "customer_tier": "GOLD",
    "region": "EU-WEST",
    "enriched_at": "2026-11-27T09:00:01Z",
}


def test_a_json_record_fits_with_times_as_text_or_millis() -> None:
    out = compile_schema(ENRICHED)(GOOD_ENRICHED, "")
    assert out["order_id"] == GOOD_ENRICHED["order_id"]
    assert out["ordered_at"] == datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    assert out["received_at"] == datetime.fromtimestamp(1_795_770_000, tz=UTC)
    assert out["enriched_at"].tzinfo is not None


@pytest.mark.parametrize(
    ("change", "path", "reason"),
    [
        ({"quantity": "2"}, "quantity", "expected an integer"),
        ({"quantity": 2**40}, "quantity", "out of range"),
        ({"quantity": True}, "quantity", "expected an integer"),
        ({"amount_cents": 19.5}, "amount_cents", "expected an integer"),
        ({"order_id": "not-a-uuid"}, "order_id", "expected a UUID"),
        ({"customer_tier": "PLATINUM"}, "customer_tier", "expected one of"),
        ({"ordered_at": "yesterday"}, "ordered_at", "ISO 8601"),
        ({"sku": None}, "sku", "expected text"),
        ({"colour": "red"}, "colour", "unknown field"),
    ],
)
def test_json_values_of_the_wrong_type_are_named(
    change: dict[str, Any], path: str, reason: str
) -> None:
    with pytest.raises(Invalid) as caught:
        compile_schema(ENRICHED)({**GOOD_ENRICHED, **change}, "")
    assert caught.value.path == path
    assert reason in caught.value.reason


def test_a_missing_field_without_default_is_named_and_one_with_a_default_is_filled() -> None:
    record = dict(GOOD_ENRICHED)
    del record["region"]  # has a default
    assert compile_schema(ENRICHED)(record, "")["region"] == "UNKNOWN"
    del record["sku"]
    with pytest.raises(Invalid, match="sku: missing required field"):
        compile_schema(ENRICHED)(record, "")


def test_csv_text_is_parsed_where_the_schema_wants_numbers_and_empty_means_null() -> None:
    row = {k: str(v) for k, v in GOOD_ENRICHED.items()}
    out = compile_schema(ENRICHED, text=True)(row, "")
    assert out["quantity"] == 2
    assert out["received_at"] == datetime.fromtimestamp(1_795_770_000, tz=UTC)
    raw = {
        "order_id": "o-1",
        "customer_id": "",
        "source": "file",
        "received_at": "2026-11-27T09:00:00",
    }
    parsed = compile_schema(RAW, text=True)(raw, "")
    assert parsed["customer_id"] is None
    assert parsed["sku"] is None  # nullable with a null default


def test_nested_paths_arrays_maps_and_logical_types() -> None:
    schema = {
        "type": "record",
        "name": "Outer",
        "fields": [
            {"name": "tags", "type": {"type": "array", "items": "string"}},
            {"name": "counts", "type": {"type": "map", "values": "long"}},
            {"name": "day", "type": {"type": "int", "logicalType": "date"}},
            {
                "name": "price",
                "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2},
            },
            {"name": "id", "type": {"type": "string", "logicalType": "uuid"}},
        ],
    }
    coerce = compile_schema(schema)
    out = coerce(
        {
            "tags": ["a"],
            "counts": {"x": 1},
            "day": "2026-11-27",
            "price": "12.345",
            "id": str(uuid.UUID(int=5)),
        },
        "",
    )
    assert out["day"] == date(2026, 11, 27)
    assert out["price"] == decimal.Decimal("12.34")
    with pytest.raises(Invalid, match=r"tags\[1\]: expected text"):
        coerce({**out, "tags": ["a", 3], "day": 0}, "")
    with pytest.raises(Invalid, match=r"counts\.y: expected an integer"):
        coerce({**out, "counts": {"y": "many"}, "day": 0}, "")
