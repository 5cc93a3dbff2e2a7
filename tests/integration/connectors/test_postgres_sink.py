"""The PostgreSQL sink on a real server: tables from schemas, upserts, deletes, failures.

The first tests drive the sink object directly with records decoded exactly as the runtime
decodes them; the contract class and the end-to-end tests run it through the connect
runtime on real Kafka.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import fastavro
import psycopg
import pytest

from schemas.records import EnrichedOrder, RegionRevenue
from streamworks.connectors.base import RejectedError, SinkConfig, SinkRecord, TransientError
from streamworks.connectors.postgres import LocalPostgres, PostgresSinkConfig
from streamworks.connectors.postgres._table import TableMismatchError
from streamworks.connectors.postgres.sink import PostgresSink
from streamworks.core.settings import Settings
from streamworks.runtime.dead_letters import DLQ_PREFIX
from streamworks.schemas.catalog import contract
from streamworks.schemas.codec import AvroCodec
from streamworks.schemas.registry_client import RegistryClient
from streamworks.schemas.typed import RecordCodec
from streamworks.testing.connectors import running
from streamworks.testing.helpers import TopicFactory, consume_until, produce, unique_name, wait_for
from tests.integration.connectors.contract import (
    SinkContract,
    Topics,
    enriched_orders,
    publish_enriched,
)
from tests.integration.connectors.pg import PostgresServer, fetch_rows

ORDERS = "orders.enriched"
REVENUE = "metrics.revenue"


class FakeContext:
    """The part of the runtime a sink sees at start: its name and its topics' schemas."""

    def __init__(self, name: str, schemas: dict[str, dict[str, Any]]) -> None:
        self._name = name
        self._schemas = schemas

    @property
    def name(self) -> str:
        return self._name

    def value_schema(self, topic: str) -> dict[str, Any]:
        return self._schemas[topic]


def decoded(contract_topic: str, value: dict[str, Any]) -> dict[str, Any]:
    """``value`` after an Avro round trip: what the runtime's decoder hands a sink."""
    parsed = contract(contract_topic).parsed
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, parsed, value)
    buffer.seek(0)
    result = fastavro.schemaless_reader(buffer, parsed)
    assert isinstance(result, dict)
    return result


class Records:
    """Sink records of one topic with increasing offsets."""

    def __init__(self, topic: str = ORDERS) -> None:
        self.topic = topic
        self.offset = 0

    def order(self, order: EnrichedOrder) -> SinkRecord:
        return self._record(str(order.order_id), decoded(ORDERS, order.to_avro()))

    def revenue(self, revenue: RegionRevenue) -> SinkRecord:
        return self._record(revenue.region, decoded(REVENUE, revenue.to_avro()))

    def tombstone(self, key: str | None) -> SinkRecord:
        return self._record(key, None)

    def _record(self, key: str | None, value: dict[str, Any] | None) -> SinkRecord:
        self.offset += 1
        return SinkRecord(self.topic, 0, self.offset, key, value, 1_700_000_000_000)


def sink_config(url: str, table: str, **overrides: Any) -> PostgresSinkConfig:
    fields: dict[str, Any] = {
        "name": "pg-test",
        "topics": [ORDERS],
        "url": url,
        "table": table,
        "key": ["order_id"],
    }
    return PostgresSinkConfig.model_validate(fields | overrides)


async def started(config: PostgresSinkConfig) -> PostgresSink:
    sink = PostgresSink(config)
    schemas = {topic: contract(topic).schema for topic in (ORDERS, REVENUE)}
    await sink.start(FakeContext(config.name, {t: schemas[t] for t in config.topics}))
    return sink


@pytest.fixture
async def orders_sink(postgres: PostgresServer, pg_table: str) -> AsyncIterator[PostgresSink]:
    sink = await started(sink_config(postgres.url, pg_table))
    yield sink
    await sink.close()


async def execute(url: str, statement: str, *parameters: Any) -> list[tuple[Any, ...]]:
    """Run one statement of the test's own (table names from unique_name) on the server."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as connection:
        cursor = await connection.execute(statement.encode(), parameters or None)
        return await cursor.fetchall() if cursor.description else []


def amounts(rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    return {str(row["order_id"]): row["amount_cents"] for row in rows}


# -- the sink object on its own -------------------------------------------------------------


async def test_the_table_is_created_from_the_schema(
    orders_sink: PostgresSink, postgres: PostgresServer, pg_table: str
) -> None:
    columns = await execute(
        postgres.url,
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_name = %s ORDER BY ordinal_position",
        pg_table,
    )
    assert columns == [
        ("order_id", "uuid", "NO"),
        ("customer_id", "text", "NO"),
        ("sku", "text", "NO"),
        ("quantity", "integer", "NO"),
        ("amount_cents", "bigint", "NO"),
        ("currency", "text", "NO"),
        ("ordered_at", "timestamp with time zone", "NO"),
        ("received_at", "timestamp with time zone", "NO"),
        ("customer_tier", "text", "NO"),
        ("region", "text", "NO"),
        ("enriched_at", "timestamp with time zone", "NO"),
    ]
    key = await execute(
        postgres.url,
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
        "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary",
        pg_table,
    )
    assert key == [("order_id",)]


async def test_rows_hold_the_values_of_the_records(
    orders_sink: PostgresSink, postgres: PostgresServer, pg_table: str
) -> None:
    order = enriched_orders(1)[0]
    await orders_sink.write([Records().order(order)])
    await orders_sink.flush()
    (row,) = await fetch_rows(postgres.url, pg_table)
    assert row == {
        "order_id": order.order_id,
        "customer_id": order.customer_id,
        "sku": order.sku,
        "quantity": order.quantity,
        "amount_cents": order.amount_cents,
        "currency": order.currency,
        "ordered_at": order.ordered_at,
        "received_at": order.received_at,
        "customer_tier": order.customer_tier.value,
        "region": order.region,
        "enriched_at": order.enriched_at,
    }


async def test_the_last_record_of_a_key_wins_within_and_across_batches(
    orders_sink: PostgresSink, postgres: PostgresServer, pg_table: str
) -> None:
    records = Records()
    orders = enriched_orders(50)
    first = [records.order(o) for o in orders]
    first += [records.order(replace(o, amount_cents=1)) for o in orders[:10]]
    await orders_sink.write(first)
    later = [replace(o, amount_cents=2) for o in orders[5:15]]
    await orders_sink.write([records.order(o) for o in later])
    rows = await fetch_rows(postgres.url, pg_table)
    expected = {str(o.order_id): o.amount_cents for o in orders}
    expected |= {str(o.order_id): 1 for o in orders[:5]}
    expected |= {str(o.order_id): 2 for o in later}
    assert amounts(rows) == expected
    assert len(rows) == len(orders)


async def test_a_redelivered_batch_changes_nothing(
    orders_sink: PostgresSink, postgres: PostgresServer, pg_table: str
) -> None:
    records = Records()
    batch = [records.order(o) for o in enriched_orders(200)]
    await orders_sink.write(batch)
    before = await fetch_rows(postgres.url, pg_table, order_by="order_id")
    await orders_sink.write(batch)
    await orders_sink.write(batch[50:120])
    assert await fetch_rows(postgres.url, pg_table, order_by="order_id") == before
    assert len(before) == len(batch)


async def test_a_tombstone_deletes_the_row_of_its_key(
    orders_sink: PostgresSink, postgres: PostgresServer, pg_table: str
) -> None:
    records = Records()
    orders = enriched_orders(6)
    await orders_sink.write([records.order(o) for o in orders])
    gone, back = orders[0], orders[1]
    await orders_sink.write(
        [
            records.tombstone(str(gone.order_id)),
            records.tombstone(str(back.order_id)),
            records.order(replace(back, amount_cents=7)),  # written again after its delete
        ]
    )
    rows = amounts(await fetch_rows(postgres.url, pg_table))
    assert str(gone.order_id) not in rows
    assert rows[str(back.order_id)] == 7
    assert len(rows) == len(orders) - 1


async def test_a_value_postgres_refuses_rejects_that_record_and_writes_nothing(
    orders_sink: PostgresSink, postgres: PostgresServer, pg_table: str
) -> None:
    records = Records()
    good = [records.order(o) for o in enriched_orders(30)]
    bad = records.order(replace(enriched_orders(31)[30], customer_id="nul\x00byte"))
    batch = [*good[:10], bad, *good[10:]]
    with pytest.raises(RejectedError) as refused:
        await orders_sink.write(batch)
    assert refused.value.records == [bad]
    assert "0x00" in str(refused.value)
    assert await fetch_rows(postgres.url, pg_table) == []  # all or nothing
    await orders_sink.write([r for r in batch if r is not bad])  # what the runtime does next
    assert len(await fetch_rows(postgres.url, pg_table)) == len(good)


async def test_rows_a_table_constraint_refuses_are_rejected_one_by_one(
    orders_sink: PostgresSink, postgres: PostgresServer, pg_table: str
) -> None:
    await execute(postgres.url, f"ALTER TABLE {pg_table} ADD CHECK (quantity < 5)")
    records = Records()
    batch = [records.order(o) for o in enriched_orders(20)]  # quantities 1..5
    with pytest.raises(RejectedError) as refused:
        await orders_sink.write(batch)
    assert refused.value.records == [r for r in batch if r.value and r.value["quantity"] >= 5]
    assert "check constraint" in str(refused.value)
    assert await fetch_rows(postgres.url, pg_table) == []


async def test_a_tombstone_without_a_usable_key_is_rejected(
    orders_sink: PostgresSink, postgres: PostgresServer, pg_table: str
) -> None:
    records = Records()
    nameless, garbled = records.tombstone(None), records.tombstone("not-a-uuid")
    batch = [records.order(enriched_orders(1)[0]), nameless, garbled]
    with pytest.raises(RejectedError) as refused:
        await orders_sink.write(batch)
    assert refused.value.records == [nameless, garbled]
    assert await fetch_rows(postgres.url, pg_table) == []


async def test_revenue_upserts_by_its_composite_key(
    postgres: PostgresServer, pg_table: str
) -> None:
    config = sink_config(
        postgres.url, pg_table, topics=[REVENUE], key=["region", "currency", "window_start"]
    )
    sink = await started(config)
    start = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    records = Records(REVENUE)

    def revenue(region: str, minute: int, cents: int) -> SinkRecord:
        window = start + timedelta(minutes=minute)
        return records.revenue(
            RegionRevenue(region, "EUR", window, window + timedelta(minutes=1), cents, 1)
        )

    try:
        await sink.write([revenue("EU", 0, 10), revenue("US", 0, 20), revenue("EU", 1, 30)])
        await sink.write([revenue("EU", 0, 11), revenue("EU", 2, 40)])
        tombstone = records.tombstone("EU")
        with pytest.raises(RejectedError) as refused:
            await sink.write([tombstone])
        assert refused.value.records == [tombstone]
        assert "composite key" in str(refused.value)
    finally:
        await sink.close()
    rows = await fetch_rows(postgres.url, pg_table)
    got = {(r["region"], r["window_start"] - start): r["revenue_cents"] for r in rows}
    assert got == {
        ("EU", timedelta(0)): 11,
        ("US", timedelta(0)): 20,
        ("EU", timedelta(minutes=1)): 30,
        ("EU", timedelta(minutes=2)): 40,
    }


async def test_a_table_missing_a_column_is_refused_at_start(
    postgres: PostgresServer, pg_table: str
) -> None:
    await execute(postgres.url, f"CREATE TABLE {pg_table} (order_id uuid PRIMARY KEY)")
    with pytest.raises(TableMismatchError, match="has no column customer_id, sku"):
        await started(sink_config(postgres.url, pg_table))


async def test_a_table_without_the_key_as_primary_key_is_refused_at_start(
    postgres: PostgresServer, pg_table: str
) -> None:
    sink = await started(sink_config(postgres.url, pg_table))
    await sink.close()
    await execute(postgres.url, f"ALTER TABLE {pg_table} DROP CONSTRAINT {pg_table}_pkey")
    with pytest.raises(TableMismatchError, match="no primary key or unique index"):
        await started(sink_config(postgres.url, pg_table))


async def test_a_missing_table_is_refused_when_it_may_not_be_created(
    postgres: PostgresServer, pg_table: str
) -> None:
    with pytest.raises(TableMismatchError, match="does not exist and create_table is false"):
        await started(sink_config(postgres.url, pg_table, create_table=False))


async def test_an_existing_table_with_wider_types_takes_the_rows(
    postgres: PostgresServer, pg_table: str
) -> None:
    await execute(
        postgres.url,
        f"CREATE SCHEMA IF NOT EXISTS sales; CREATE TABLE sales.{pg_table} ("
        "order_id text PRIMARY KEY, customer_id varchar(40), sku text, quantity bigint, "
        "amount_cents numeric, currency char(3), ordered_at timestamptz, received_at "
        "timestamptz, customer_tier text, region text, enriched_at timestamptz, "
        "note text DEFAULT 'imported')",
    )
    sink = await started(sink_config(postgres.url, f"sales.{pg_table}", create_table=False))
    order = enriched_orders(1)[0]
    try:
        await sink.write([Records().order(order)])
    finally:
        await sink.close()
    (row,) = await fetch_rows(postgres.url, f"sales.{pg_table}")
    assert row["order_id"] == str(order.order_id)
    assert row["note"] == "imported"


async def test_a_stopped_server_is_transient_and_the_sink_recovers(tmp_path: Path) -> None:
    server = LocalPostgres()
    server.start()
    try:
        config = sink_config(server.url, "orders")
        sink = await started(config)
        records = Records()
        orders = enriched_orders(20)
        await sink.write([records.order(o) for o in orders[:10]])
        server.stop()
        with pytest.raises(TransientError, match="unavailable"):
            await sink.write([records.order(o) for o in orders[10:]])
        with pytest.raises(TransientError, match="cannot connect"):
            await sink.write([records.order(o) for o in orders[10:]])
        server.start()
        await sink.write([records.order(o) for o in orders[10:]])
        await sink.close()
        assert amounts(await fetch_rows(server.url, "orders")) == amounts_of(orders)
    finally:
        server.cleanup()


async def test_a_sink_started_while_the_server_is_down_connects_on_its_first_write() -> None:
    server = LocalPostgres()
    try:
        sink = await started(sink_config(server.url, "orders", connect_timeout_s=2))
        order = enriched_orders(1)[0]
        with pytest.raises(TransientError, match="cannot connect"):
            await sink.write([Records().order(order)])
        server.start()
        await sink.write([Records().order(order)])
        await sink.close()
        assert amounts(await fetch_rows(server.url, "orders")) == amounts_of([order])
    finally:
        server.cleanup()


def amounts_of(orders: Sequence[EnrichedOrder]) -> dict[str, int]:
    return {str(o.order_id): o.amount_cents for o in orders}


# -- through the connect runtime, on real Kafka ---------------------------------------------


class TestPostgresSinkContract(SinkContract):
    """The PostgreSQL sink keeps the sink contract, exactly: one row per key."""

    exact = True

    @pytest.fixture(autouse=True)
    def _server(self, postgres: PostgresServer) -> None:
        self.url = postgres.url

    def config(self, name: str, topic: str, tmp_path: Path) -> SinkConfig:
        table = name.replace("-", "_")
        return sink_config(self.url, table, name=name, topics=[topic])

    async def read_back(self, config: SinkConfig, tmp_path: Path) -> list[dict[str, Any]]:
        assert isinstance(config, PostgresSinkConfig)
        return await fetch_rows(self.url, config.table)


@pytest.fixture
def settings(kafka_settings: Settings, schema_registry: Any) -> Settings:
    return kafka_settings.model_copy(update={"registry_url": schema_registry.url})


async def test_through_the_runtime_tombstones_delete_and_refused_rows_are_dead_lettered(
    topic_factory: TopicFactory,
    schema_registry: Any,
    settings: Settings,
    postgres: PostgresServer,
    pg_table: str,
) -> None:
    source = await Topics(topic_factory, schema_registry.url).make(ORDERS)
    orders = enriched_orders(40, seed=31)
    refused = replace(enriched_orders(41, seed=31)[40], customer_id="nul\x00byte")
    gone = orders[0]
    config = sink_config(postgres.url, pg_table, name=unique_name("pg"), topics=[source])
    async with running([config], settings):
        await publish_enriched(settings, source, [*orders, refused])
        await produce(settings.bootstrap_servers, source, [(str(gone.order_id).encode(), None)])

        async def settled() -> bool:
            rows = amounts(await fetch_rows(postgres.url, pg_table))
            return rows == amounts_of(orders[1:])

        await wait_for(settled, timeout=60, what="every order but the deleted one as a row")
        dead = await consume_until(settings.bootstrap_servers, config.dlq_topic, count=1)
    (letter,) = dead
    assert letter.key == str(refused.order_id).encode()
    headers = {k: bytes(v).decode() for k, v in letter.headers}
    assert headers[DLQ_PREFIX + "error.class"].endswith("RejectedError")
    assert "0x00" in headers[DLQ_PREFIX + "error.message"]
    assert headers[DLQ_PREFIX + "origin.topic"] == source


async def test_through_the_runtime_revenue_windows_are_upserted_by_region_currency_and_start(
    topic_factory: TopicFactory,
    schema_registry: Any,
    settings: Settings,
    postgres: PostgresServer,
    pg_table: str,
) -> None:
    source = await Topics(topic_factory, schema_registry.url).make(REVENUE)
    start = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    windows = [
        RegionRevenue(
            region,
            currency,
            start + timedelta(minutes=m),
            start + timedelta(minutes=m + 1),
            cents,
            1,
        )
        for m in range(5)
        for region, currency, cents in (("EU", "EUR", 100 + m), ("US", "USD", 200 + m))
    ]
    late = [replace(w, revenue_cents=w.revenue_cents * 10, order_count=2) for w in windows[:4]]
    codec = RecordCodec(
        RegionRevenue, AvroCodec(RegistryClient(settings.registry_url)), subject=f"{source}-value"
    )
    key = ["region", "currency", "window_start"]
    config = sink_config(postgres.url, pg_table, name=unique_name("pg"), topics=[source], key=key)
    expected = {(w.region, w.window_start): w.revenue_cents for w in [*windows, *late]}
    async with running([config], settings):
        await produce(
            settings.bootstrap_servers,
            source,
            [(w.region.encode(), codec.encode(w)) for w in [*windows, *late]],
        )

        async def settled() -> bool:
            rows = await fetch_rows(postgres.url, pg_table)
            return {(r["region"], r["window_start"]): r["revenue_cents"] for r in rows} == expected

        await wait_for(settled, timeout=60, what=f"{len(expected)} revenue windows as rows")
    assert len(await fetch_rows(postgres.url, pg_table)) == len(windows)
