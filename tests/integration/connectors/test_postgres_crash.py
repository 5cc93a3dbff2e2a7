"""The PostgreSQL sink as an operator runs it: ``streamworks connect`` processes, killed,
drained and scaled out, on real Kafka and a real PostgreSQL server.

The table must end with exactly the distinct keys produced, each with its latest value:
kill -9 mid-batch loses nothing (offsets are committed only after the rows are) and
doubles nothing (a redelivered batch is an upsert of the same rows).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiokafka import TopicPartition

from schemas.records import EnrichedOrder
from streamworks.core.settings import Settings
from streamworks.kafka import clients
from streamworks.testing.helpers import TopicFactory, unique_name, wait_for
from tests.integration.connectors.contract import Topics, enriched_orders, publish_enriched
from tests.integration.connectors.pg import PostgresServer, count_rows, fetch_rows

ORDERS = 12_000
UPDATES = 3_000
KILLS = 3


class Workers:
    """``streamworks connect`` processes of one file, with their output in ``tmp_path``."""

    def __init__(self, name: str, config: Path, settings: Settings, logs: Path) -> None:
        self.name = name
        self.group = f"connect-{name}"
        self.config = config
        self.logs = logs
        self.env = {
            **os.environ,
            "STREAMWORKS_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
            "STREAMWORKS_REGISTRY_URL": settings.registry_url,
        }
        self.started = 0
        self.live: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        self.started += 1
        with (self.logs / f"connect-{self.started}.log").open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "streamworks", "connect", str(self.config)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.live.append(process)
        return process

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        self.live.remove(process)

    def stop_all(self) -> None:
        for process in self.live:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=30)
        self.live.clear()

    def output(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.logs.glob("*.log")))


@pytest.fixture
def settings(kafka_settings: Settings, schema_registry: Any) -> Settings:
    return kafka_settings.model_copy(update={"registry_url": schema_registry.url})


@pytest.fixture
async def source(topic_factory: TopicFactory, schema_registry: Any) -> str:
    return await Topics(topic_factory, schema_registry.url).make("orders.enriched", partitions=4)


@pytest.fixture
def workers(
    tmp_path: Path, settings: Settings, postgres: PostgresServer, pg_table: str, source: str
) -> Iterator[Workers]:
    name = unique_name("pg-sink")
    config = tmp_path / "connect.yaml"
    config.write_text(
        "connectors:\n"
        f"  - name: {name}\n"
        "    kind: postgres\n"
        f"    topics: [{source}]\n"
        f"    url: {postgres.url}\n"
        f"    table: {pg_table}\n"
        "    key: [order_id]\n"
        "    batch_size: 500\n"
    )
    logs = tmp_path / "logs"
    logs.mkdir()
    running = Workers(name, config, settings, logs)
    yield running
    running.stop_all()


async def committed(settings: Settings, group: str, topic: str, partitions: int) -> int:
    """Records of ``topic`` the group has committed as written."""
    admin = clients.admin_client(settings)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    wanted = {TopicPartition(topic, p) for p in range(partitions)}
    return sum(meta.offset for tp, meta in offsets.items() if tp in wanted and meta.offset > 0)


async def members(settings: Settings, group: str) -> int:
    """Live members of a consumer group."""
    admin = clients.admin_client(settings)
    await admin.start()
    try:
        [response] = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    # aiokafka returns the raw DescribeGroups response: groups of (error, id, state, ..., members)
    state, found = response.groups[0][2], response.groups[0][5]
    return len(found) if state == "Stable" else 0


def truth(orders: Sequence[EnrichedOrder]) -> dict[str, int]:
    """order id -> amount of its last version."""
    return {str(o.order_id): o.amount_cents for o in orders}


async def test_kill_9_mid_batch_loses_and_doubles_nothing(
    workers: Workers, settings: Settings, source: str, postgres: PostgresServer, pg_table: str
) -> None:
    orders = enriched_orders(ORDERS, seed=21)
    updates = [replace(o, amount_cents=o.amount_cents * 3) for o in orders[:UPDATES]]
    expected = truth([*orders, *updates])
    await publish_enriched(settings, source, [*orders, *updates])

    async def rows() -> list[dict[str, Any]]:
        return await fetch_rows(postgres.url, pg_table)

    async def landed() -> int:
        return await count_rows(postgres.url, pg_table)

    for kill in range(KILLS):  # each time, kill while rows are still arriving
        process = workers.start()
        floor = await landed()
        target = floor + 1_000

        async def progressing(target: int = target) -> bool:
            return await landed() >= target  # a count, not the rows: polled often, cheaply

        await wait_for(
            progressing, timeout=90, interval=0.02, what=f"kill {kill + 1}: rows beyond {target}"
        )
        workers.kill(process)
    assert await landed() < len(expected), "every row landed before the last kill"

    workers.start()

    async def complete() -> bool:
        found = {str(r["order_id"]): int(r["amount_cents"]) for r in await rows()}
        return found == expected

    await wait_for(complete, timeout=120, what=f"{len(expected)} rows with their latest values")
    final = await rows()
    ids = [str(r["order_id"]) for r in final]
    lost = len(set(expected) - set(ids))
    duplicated = len(ids) - len(set(ids))
    assert (lost, duplicated) == (0, 0)
    assert {str(r["order_id"]): int(r["amount_cents"]) for r in final} == expected


async def test_two_workers_share_the_partitions_and_sigterm_commits(
    workers: Workers, settings: Settings, source: str, postgres: PostgresServer, pg_table: str
) -> None:
    orders = enriched_orders(4_000, seed=22)
    first, second = workers.start(), workers.start()

    async def both_joined() -> bool:
        return await members(settings, workers.group) == 2

    await wait_for(both_joined, timeout=90, what="two members in the sink's group")
    await publish_enriched(settings, source, orders)

    async def all_rows() -> bool:
        return len(await fetch_rows(postgres.url, pg_table)) == len(orders)

    await wait_for(all_rows, timeout=120, what="every order as a row")
    for process in (first, second):
        process.send_signal(signal.SIGTERM)
    codes = [p.wait(timeout=60) for p in (first, second)]
    output = workers.output()
    assert codes == [0, 0], output
    assert await committed(settings, workers.group, source, 4) == len(orders)
    # each worker's stop table row: │ name │ postgres │ records │ dead-lettered │
    written = [
        int(line.split("│")[3].strip().replace(",", ""))
        for line in output.splitlines()
        if "│ postgres │" in line
    ]
    assert len(written) == 2, output
    assert sum(written) >= len(orders)
    assert min(written) > 0, f"one worker wrote nothing: {written}"
