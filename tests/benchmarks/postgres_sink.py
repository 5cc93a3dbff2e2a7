"""PostgreSQL sink benchmark: enriched orders upserted in batches of 1,000, three ways.

Run with ``python -m tests.benchmarks.postgres_sink`` (about a minute). One throwaway
PostgreSQL server (Debian's package, fsync and synchronous commit on, as shipped); every
contender writes the same stream into a fresh table of its own, one committed transaction
per batch, upserting by ``order_id``: 45,000 new orders with 5,000 updates of earlier
ones mixed in. Contenders, interleaved over rounds, medians reported:

- ``streamworks``: :class:`~streamworks.connectors.postgres.sink.PostgresSink` fed decoded records,
  as the connect runtime feeds it (binary COPY into a stage, then INSERT ... ON CONFLICT);
- ``psycopg executemany``: the hand-rolled service — ``INSERT ... ON CONFLICT DO UPDATE``
  with psycopg 3's ``executemany`` (which pipelines the statements) per batch;
- ``quixstreams``: Quix Streams' community ``PostgreSQLSink`` (psycopg2 ``execute_values``),
  upserting on the primary key, given the JSON-like values a Quix app holds (UUID as text).

Rows/s counts records handed to the sink per second of wall time, the server's work included
(client and server share the machine's CPUs). After every run the table is checked to hold
exactly the stream's distinct orders with their latest amounts.
"""

from __future__ import annotations

import asyncio
import io
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import fastavro
import psycopg
from psycopg import sql

from schemas.records import EnrichedOrder, Tier
from streamworks.connectors.base import SinkRecord
from streamworks.connectors.postgres import LocalPostgres, PostgresSinkConfig
from streamworks.connectors.postgres.sink import PostgresSink
from streamworks.schemas.catalog import contract
from tests.benchmarks._report import interleaved, machine, write

ORDERS = 45_000
UPDATES = 5_000
BATCH = 1_000
ROUNDS = 3
TARGET_ROWS_PER_S = 20_000
CONTENDERS = ("streamworks", "psycopg executemany", "quixstreams")

Writer = Callable[[str, str, list[dict[str, Any]]], float]
"""(url, table, decoded values) -> seconds spent writing them all."""


def stream() -> list[dict[str, Any]]:
    """The decoded enriched orders every contender writes: new orders, every 10th an update."""
    base = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    orders = [
        EnrichedOrder(
            order_id=uuid.UUID(int=0x5EED << 64 | n, version=4),
            customer_id=f"customer-{n % 10_000:06d}",
            sku=f"SKU-{n % 500:04d}",
            quantity=1 + n % 5,
            amount_cents=100 + n,
            currency="EUR",
            ordered_at=base + timedelta(milliseconds=20 * n),
            received_at=base + timedelta(milliseconds=20 * n + 3),
            enriched_at=base + timedelta(milliseconds=20 * n + 9),
            customer_tier=Tier.GOLD,
            region="EU-WEST",
        )
        for n in range(ORDERS)
    ]
    mixed: list[EnrichedOrder] = []
    step = ORDERS // UPDATES
    for n, order in enumerate(orders):
        mixed.append(order)
        if n % step == step - 1:
            earlier = orders[n // 2]
            mixed.append(replace(earlier, amount_cents=earlier.amount_cents + 1_000_000))
    parsed = contract("orders.enriched").parsed
    values = []
    for order in mixed:  # decoded exactly as the connect runtime decodes a record
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, parsed, order.to_avro())
        buffer.seek(0)
        value = fastavro.schemaless_reader(buffer, parsed)
        assert isinstance(value, dict)
        values.append(value)
    return values


def batches(values: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    return [values[i : i + BATCH] for i in range(0, len(values), BATCH)]


# -- contenders ----------------------------------------------------------------------------


class _Context:
    name = "bench"

    def value_schema(self, topic: str) -> dict[str, Any]:
        return contract(topic).schema


def run_streamworks(url: str, table: str, values: list[dict[str, Any]]) -> float:
    config = PostgresSinkConfig.model_validate(
        {
            "name": "bench",
            "topics": ["orders.enriched"],
            "url": url,
            "table": table,
            "key": ["order_id"],
        }
    )
    records = [
        [
            SinkRecord("orders.enriched", 0, offset, str(value["order_id"]), value, 0)
            for offset, value in enumerate(chunk)
        ]
        for chunk in batches(values)
    ]

    async def go() -> float:
        sink = PostgresSink(config)
        await sink.start(_Context())
        started = time.perf_counter()
        for batch in records:
            await sink.write(batch)
            await sink.flush()
        took = time.perf_counter() - started
        await sink.close()
        return took

    return asyncio.run(go())


COLUMNS = [field["name"] for field in contract("orders.enriched").schema["fields"]]


def run_executemany(url: str, table: str, values: list[dict[str, Any]]) -> float:
    target = sql.Identifier(table)
    names = sql.SQL(", ").join(map(sql.Identifier, COLUMNS))
    create = sql.SQL(
        "CREATE TABLE {} (order_id uuid PRIMARY KEY, customer_id text NOT NULL, sku text "
        "NOT NULL, quantity integer NOT NULL, amount_cents bigint NOT NULL, currency text NOT "
        "NULL, ordered_at timestamptz NOT NULL, received_at timestamptz NOT NULL, "
        "customer_tier text NOT NULL, region text NOT NULL, enriched_at timestamptz NOT NULL)"
    ).format(target)
    upsert = sql.SQL(
        "INSERT INTO {} ({}) VALUES ({}) ON CONFLICT (order_id) DO UPDATE SET {}"
    ).format(
        target,
        names,
        sql.SQL(", ").join(sql.Placeholder() * len(COLUMNS)),
        sql.SQL(", ").join(
            sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in COLUMNS[1:]
        ),
    )
    chunks = [[tuple(v[c] for c in COLUMNS) for v in chunk] for chunk in batches(values)]
    with psycopg.connect(url) as connection:
        connection.execute(create)
        connection.commit()
        started = time.perf_counter()
        for chunk in chunks:
            with connection.transaction(), connection.cursor() as cursor:
                cursor.executemany(upsert, chunk)
        return time.perf_counter() - started


def quix_unavailable() -> str | None:
    """Why the Quix Streams sink cannot run here, or None."""
    try:
        import quixstreams.sinks.community.postgresql  # noqa: F401, PLC0415
    except ImportError as error:
        return (
            f"not run: {error} (Quix's PostgreSQL sink needs psycopg2: pip install psycopg2-binary)"
        )
    return None


def run_quixstreams(url: str, table: str, values: list[dict[str, Any]]) -> float:
    from quixstreams.sinks.base.batch import SinkBatch  # noqa: PLC0415
    from quixstreams.sinks.community.postgresql import PostgreSQLSink  # noqa: PLC0415

    info = psycopg.conninfo.conninfo_to_dict(url)
    sink = PostgreSQLSink(
        host=str(info["host"]),
        port=int(info["port"] or 5432),
        dbname=str(info["dbname"]),
        user=str(info["user"]),
        password="",
        table_name=table,
        primary_key_columns="order_id",
        upsert_on_primary_key=True,
        include_metadata=False,
    )
    sink.setup()  # type: ignore[no-untyped-call]
    # a Quix app holds JSON-like values: its type map has no UUID, so ids travel as text
    quix_batches = []
    for offset, chunk in enumerate(batches(values)):
        batch = SinkBatch(table, 0)
        for n, value in enumerate(chunk):
            row = {**value, "order_id": str(value["order_id"])}
            batch.append(
                value=row, key=row["order_id"], timestamp=0, headers=[], offset=offset * BATCH + n
            )
        quix_batches.append(batch)
    started = time.perf_counter()
    for batch in quix_batches:
        sink.write(batch)
    took = time.perf_counter() - started
    sink._client.close()  # type: ignore[attr-defined]
    return took


WRITERS: dict[str, Writer] = {
    "streamworks": run_streamworks,
    "psycopg executemany": run_executemany,
    "quixstreams": run_quixstreams,
}


# -- harness --------------------------------------------------------------------------------


def check(url: str, table: str, values: Sequence[dict[str, Any]]) -> None:
    """The table holds every distinct order once, with its latest amount."""
    expected = {str(v["order_id"]): v["amount_cents"] for v in values}
    with psycopg.connect(url) as connection:
        query = sql.SQL("SELECT order_id::text, amount_cents FROM {}").format(sql.Identifier(table))
        rows = connection.execute(query).fetchall()
    found = {order_id: amount for order_id, amount in rows}
    if len(rows) != len(expected) or found != expected:
        raise AssertionError(f"{table}: {len(rows)} rows, expected {len(expected)} latest orders")


def main() -> int:
    values = stream()
    skipped = {"quixstreams": reason} if (reason := quix_unavailable()) else {}
    names = tuple(name for name in CONTENDERS if name not in skipped)
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    with LocalPostgres() as server:
        for round_, name in interleaved(names, ROUNDS):
            table = f"bench_{name.split()[0]}_{round_}"
            cpu = time.process_time()
            took = WRITERS[name](server.url, table, values)
            cpu = time.process_time() - cpu
            check(server.url, table, values)
            runs[name].append({"rows_per_s": len(values) / took, "client_cpu_s": cpu})
            sys.stdout.write(f"round {round_} {name}: {len(values) / took:,.0f} rows/s\n")
    results = {
        name: {
            "rows_per_s": round(statistics.median(r["rows_per_s"] for r in found)),
            "client_cpu_s": round(statistics.median(r["client_cpu_s"] for r in found), 2),
            "runs": len(found),
        }
        for name, found in runs.items()
    }
    ours = results["streamworks"]["rows_per_s"]
    data: dict[str, Any] = {
        "benchmark": (
            f"postgres sink: {len(values):,} enriched orders ({UPDATES:,} updates), "
            f"batches of {BATCH:,}, upsert by order_id, one transaction per batch"
        ),
        "machine": machine(),
        "target_rows_per_s": TARGET_ROWS_PER_S,
        "contenders": results,
        "not_run": skipped,
    }
    lines = [
        f"| contender | rows/s (median of {ROUNDS}) | client CPU s | streamworks vs it |",
        "|---|---:|---:|---:|",
    ]
    for name, figures in results.items():
        lines.append(
            f"| {name} | {figures['rows_per_s']:,} | {figures['client_cpu_s']:.2f} | "
            f"{ours / figures['rows_per_s']:.2f} |"
        )
    lines += [f"| {name} | {reason} | | |" for name, reason in skipped.items()]
    lines.append(
        f"\n{len(values):,} records ({UPDATES:,} of them updates) in batches of {BATCH:,} into "
        f"a throwaway local PostgreSQL; target >= {TARGET_ROWS_PER_S:,} rows/s for streamworks"
    )
    table = "\n".join(lines)
    path = write("postgres_sink", data, table)
    sys.stdout.write(table + f"\n\nwritten to {path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
