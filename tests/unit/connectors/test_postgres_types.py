"""Avro to PostgreSQL: the documented type mapping, the DDL text, and batches to rows."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

import schemas  # noqa: F401  (the reference project's contracts, looked up by name here)
from streamworks.connectors.base import SinkRecord
from streamworks.connectors.postgres._rows import RowPlan
from streamworks.connectors.postgres._sql import Statements
from streamworks.connectors.postgres.types import Column, UnsupportedSchemaError, columns_of
from streamworks.schemas.catalog import contract


def record(*fields: tuple[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "type": "record",
        "name": "R",
        "namespace": "test",
        "fields": [{"name": n, "type": t} for n, t in fields],
    } | extra


def mapped(avro: Any) -> tuple[str, bool]:
    (column,) = columns_of(record(("f", avro)))
    return column.type.ddl, column.nullable


@pytest.mark.parametrize(
    ("avro", "ddl"),
    [
        ("boolean", "boolean"),
        ("int", "integer"),
        ("long", "bigint"),
        ("float", "real"),
        ("double", "double precision"),
        ("bytes", "bytea"),
        ("string", "text"),
        ({"type": "string"}, "text"),
        ({"type": "string", "logicalType": "uuid"}, "uuid"),
        ({"type": "long", "logicalType": "timestamp-millis"}, "timestamptz"),
        ({"type": "long", "logicalType": "timestamp-micros"}, "timestamptz"),
        ({"type": "long", "logicalType": "local-timestamp-millis"}, "timestamp"),
        ({"type": "int", "logicalType": "date"}, "date"),
        ({"type": "int", "logicalType": "time-millis"}, "time"),
        ({"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2}, "numeric(12,2)"),
        (
            {"type": "fixed", "name": "D", "size": 8, "logicalType": "decimal", "precision": 9},
            "numeric(9,0)",
        ),
        ({"type": "bytes", "logicalType": "decimal", "precision": 5000}, "numeric"),
        ({"type": "enum", "name": "E", "symbols": ["A", "B"]}, "text"),
        ({"type": "fixed", "name": "F", "size": 16}, "bytea"),
        ({"type": "array", "items": "long"}, "jsonb"),
        ({"type": "map", "values": "string"}, "jsonb"),
        (record(("x", "int")) | {"name": "Inner"}, "jsonb"),
        ({"type": "string", "logicalType": "no-such-type"}, "text"),
        ({"type": "int", "logicalType": "uuid"}, "integer"),
    ],
)
def test_each_avro_type_has_its_documented_column_type(avro: Any, ddl: str) -> None:
    assert mapped(avro) == (ddl, False)


@pytest.mark.parametrize(
    ("avro", "expected"),
    [
        (["null", "long"], ("bigint", True)),
        (["string", "null"], ("text", True)),
        (["null", {"type": "long", "logicalType": "timestamp-millis"}], ("timestamptz", True)),
        (["string", "long"], ("jsonb", False)),
        (["null", "string", "long"], ("jsonb", True)),
        (["double"], ("double precision", False)),
    ],
)
def test_unions_with_null_are_nullable_columns(avro: Any, expected: tuple[str, bool]) -> None:
    assert mapped(avro) == expected


def test_named_types_are_resolved_where_they_are_used_again() -> None:
    tier = {"type": "enum", "name": "Tier", "namespace": "other", "symbols": ["GOLD"]}
    point = {"type": "record", "name": "Point", "fields": [{"name": "x", "type": "int"}]}
    columns = columns_of(
        record(
            ("tier", tier),
            ("again", "other.Tier"),
            ("point", point),
            ("home", ["null", "Point"]),
            ("hash", {"type": "fixed", "name": "Hash", "size": 4}),
            ("hash2", "test.Hash"),
        )
    )
    assert [(c.name, c.type.ddl, c.nullable) for c in columns] == [
        ("tier", "text", False),
        ("again", "text", False),
        ("point", "jsonb", False),
        ("home", "jsonb", True),
        ("hash", "bytea", False),
        ("hash2", "bytea", False),
    ]


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "string"},
        "long",
        record(("f", "null")),
        record(("f", "NoSuchType")),
    ],
)
def test_what_cannot_become_a_table_is_refused(schema: Any) -> None:
    with pytest.raises(UnsupportedSchemaError):
        columns_of(schema)


def test_enriched_orders_become_the_documented_table() -> None:
    columns = columns_of(contract("orders.enriched").schema)
    ddl = Statements("orders", columns, ("order_id",)).create_table().as_string()
    assert ddl == (
        'CREATE TABLE IF NOT EXISTS "orders" ('
        '"order_id" uuid NOT NULL, "customer_id" text NOT NULL, "sku" text NOT NULL, '
        '"quantity" integer NOT NULL, "amount_cents" bigint NOT NULL, '
        '"currency" text NOT NULL, "ordered_at" timestamptz NOT NULL, '
        '"received_at" timestamptz NOT NULL, "customer_tier" text NOT NULL, '
        '"region" text NOT NULL, "enriched_at" timestamptz NOT NULL, '
        'PRIMARY KEY ("order_id"))'
    )


def test_region_revenue_becomes_a_table_keyed_by_region_currency_and_window() -> None:
    columns = columns_of(contract("metrics.revenue").schema)
    statements = Statements("metrics.revenue", columns, ("region", "currency", "window_start"))
    assert statements.create_table().as_string() == (
        'CREATE TABLE IF NOT EXISTS "metrics"."revenue" ('
        '"region" text NOT NULL, "currency" text NOT NULL, '
        '"window_start" timestamptz NOT NULL, "window_end" timestamptz NOT NULL, '
        '"revenue_cents" bigint NOT NULL, "order_count" bigint NOT NULL, '
        'PRIMARY KEY ("region", "currency", "window_start"))'
    )
    assert statements.create_schema() is not None
    assert statements.create_schema().as_string() == 'CREATE SCHEMA IF NOT EXISTS "metrics"'  # type: ignore[union-attr]
    assert statements.upsert_stage().as_string() == (
        'INSERT INTO "metrics"."revenue" ("region", "currency", "window_start", "window_end", '
        '"revenue_cents", "order_count") SELECT "region", "currency", "window_start", '
        '"window_end", "revenue_cents", "order_count" FROM "streamworks_stage" '
        'ON CONFLICT ("region", "currency", "window_start") DO UPDATE SET '
        '"window_end" = EXCLUDED."window_end", "revenue_cents" = EXCLUDED."revenue_cents", '
        '"order_count" = EXCLUDED."order_count"'
    )


def test_statements_quote_every_name_and_cast_parameters() -> None:
    columns = columns_of(record(("Id", {"type": "string", "logicalType": "uuid"}), ("v", "long")))
    statements = Statements("Weird", columns, ("Id",))
    assert statements.create_stage().as_string() == (
        'CREATE TEMPORARY TABLE IF NOT EXISTS "streamworks_stage" ("Id" uuid, "v" bigint) '
        "ON COMMIT DELETE ROWS"
    )
    assert statements.copy_stage().as_string() == (
        'COPY "streamworks_stage" ("Id", "v") FROM STDIN (FORMAT BINARY)'
    )
    assert statements.upsert_row().as_string() == (
        'INSERT INTO "Weird" ("Id", "v") VALUES (%s::uuid, %s::bigint) '
        'ON CONFLICT ("Id") DO UPDATE SET "v" = EXCLUDED."v"'
    )
    assert statements.delete_keys().as_string() == (
        'DELETE FROM "Weird" WHERE "Id" = ANY(%s::uuid[])'
    )
    assert statements.create_schema() is None


def test_a_table_of_key_columns_only_ignores_repeats() -> None:
    columns = columns_of(record(("id", "long")))
    assert (
        Statements("t", columns, ("id",))
        .upsert_stage()
        .as_string()
        .endswith('ON CONFLICT ("id") DO NOTHING')
    )


# -- values ----------------------------------------------------------------------------------

SCHEMA = record(
    ("id", {"type": "string", "logicalType": "uuid"}),
    ("at", {"type": "long", "logicalType": "timestamp-millis"}),
    ("extra", ["null", {"type": "map", "values": "string"}]),
    ("blob", ["null", {"type": "array", "items": "bytes"}]),
    ("amount", {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}),
)
COLUMNS: tuple[Column, ...] = columns_of(SCHEMA)
ID = uuid.UUID("7f1f6a0e-9a0b-4a43-8a53-4f3c2b1d0e9f")


def value(n: int = 0, **changes: Any) -> dict[str, Any]:
    return {
        "id": uuid.UUID(int=n),
        "at": datetime(2026, 11, 27, 9, n, tzinfo=UTC),
        "extra": None,
        "blob": None,
        "amount": Decimal("1.50"),
    } | changes


def sink_record(offset: int, key: str | None, payload: dict[str, Any] | None) -> SinkRecord:
    return SinkRecord("t", 0, offset, key, payload, 0)


def test_values_become_what_psycopg_writes() -> None:
    plan = RowPlan(COLUMNS, ["id"])
    naive = datetime(2026, 11, 27, 9, 0)  # what a naive decoder would give
    row = plan.row(
        value(id=str(ID), at=naive, extra={"when": "x"}, blob=[b"\x00\xff"], amount=Decimal(2))
    )
    assert row[0] == ID
    assert row[1] == naive.replace(tzinfo=UTC)
    assert json.loads(row[2].dumps(row[2].obj)) == {"when": "x"}
    assert json.loads(row[3].dumps(row[3].obj)) == ["AP8="]
    assert row[4] == Decimal(2)
    assert plan.row(value(at=1_700_000_000_000))[1] == datetime.fromtimestamp(1_700_000_000, UTC)


def test_jsonb_text_carries_times_uuids_decimals_and_dates() -> None:
    (column,) = columns_of(record(("m", {"type": "map", "values": "string"})))
    assert column.type.adapt is not None
    wrapped = column.type.adapt(
        {
            "t": datetime(2026, 1, 2, 3, 4, tzinfo=UTC),
            "u": ID,
            "d": Decimal("1.5"),
            "day": date(2026, 1, 2),
        }
    )
    assert json.loads(wrapped.dumps(wrapped.obj)) == {
        "t": "2026-01-02T03:04:00+00:00",
        "u": str(ID),
        "d": "1.5",
        "day": "2026-01-02",
    }


def test_a_batch_keeps_the_last_record_of_each_key() -> None:
    plan = RowPlan(COLUMNS, ["id"])
    batch = [
        sink_record(1, None, value(1, amount=Decimal(1))),
        sink_record(2, None, value(2)),
        sink_record(3, None, value(1, amount=Decimal(3))),
        sink_record(4, str(uuid.UUID(int=2)), None),  # a tombstone after the upsert wins
        sink_record(5, str(uuid.UUID(int=3)), None),
        sink_record(6, None, value(3, id=str(uuid.UUID(int=3)))),  # an upsert after the delete
    ]
    prepared = plan.prepare(batch)
    assert [(r[0].int, r[4]) for r in prepared.rows] == [(1, Decimal(3)), (3, Decimal("1.50"))]
    assert [r.offset for r in prepared.row_records] == [3, 6]
    assert prepared.deletes == [uuid.UUID(int=2)]
    assert [r.offset for r in prepared.delete_records] == [4]
    assert prepared.rejected == []


def test_records_that_cannot_be_rows_are_set_aside_with_their_reason() -> None:
    plan = RowPlan(COLUMNS, ["id"])
    no_field = {k: v for k, v in value(5).items() if k != "amount"}
    batch = [
        sink_record(1, None, value(1)),
        sink_record(2, None, value(2, id="not-a-uuid")),
        sink_record(3, None, value(3, id=None)),
        sink_record(4, None, no_field),
        sink_record(5, None, None),
        sink_record(6, "nope", None),
    ]
    prepared = plan.prepare(batch)
    assert len(prepared.rows) == 1
    reasons = {r.offset: reason for r, reason in prepared.rejected}
    assert set(reasons) == {2, 3, 4, 5, 6}
    assert "key field id is null" in reasons[3]
    assert "no field amount" in reasons[4]
    assert "without a Kafka key" in reasons[5]


def test_tombstones_cannot_delete_by_a_composite_key() -> None:
    plan = RowPlan(COLUMNS, ["id", "at"])
    prepared = plan.prepare([sink_record(1, "k", None)])
    ((_, reason),) = prepared.rejected
    assert "composite key (id, at)" in reason


@pytest.mark.parametrize(
    ("avro", "text", "parsed"),
    [
        ("long", "42", 42),
        ("string", "abc", "abc"),
        ("boolean", "True", True),
        (
            {"type": "long", "logicalType": "timestamp-millis"},
            "0",
            datetime(1970, 1, 1, tzinfo=UTC),
        ),
        (
            {"type": "long", "logicalType": "timestamp-millis"},
            "2026-11-27T09:00:00+01:00",
            datetime(2026, 11, 27, 8, 0, tzinfo=UTC),
        ),
        ({"type": "int", "logicalType": "date"}, "2026-11-27", date(2026, 11, 27)),
        (
            {"type": "bytes", "logicalType": "decimal", "precision": 4, "scale": 1},
            "1.5",
            Decimal("1.5"),
        ),
    ],
)
def test_a_tombstone_key_is_parsed_as_its_column_type(avro: Any, text: str, parsed: Any) -> None:
    plan = RowPlan(columns_of(record(("k", avro))), ["k"])
    assert plan.prepare([sink_record(1, text, None)]).deletes == [parsed]
