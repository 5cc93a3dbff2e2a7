"""The whole flagship as `docker-compose.yml` runs it: orders in over HTTP, rows out in
PostgreSQL and aggregates on the metrics topic, then `down -v` leaves nothing behind.

The stack listens on free loopback ports (the file's port variables) under a project name
of its own, so it never meets a stack or a test broker already on the machine. Timings go
to ``.cache/reports/compose.json`` for the closing note; nothing is asserted about them.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from ops.demo.command import publish_customers
from ops.demo.services import PostgresTables, Rows
from schemas.records import RawOrder
from streams.orders import OrderGenerator
from streams.orders.observe import RoutedOrders
from streamworks.connectors.base.documents import to_json
from streamworks.core.settings import Settings
from streamworks.ops.kafka._process import free_port_block, port_accepts
from streamworks.schemas.codec import AvroCodec
from streamworks.schemas.registry_client import RegistryClient
from tests.containers.conftest import REPO, Images

ORDERS = 600
"""About 150 s of event time (gaps of 10-500 ms): the first minutes' windows close."""
BATCH = 100
SEED = 8
STAGES = 12
LONG_RUNNING = STAGES + 5  # kafka, registry, postgres, ingest, sinks
SETTLE_S = 240.0
FLOW_S = 240.0


@dataclass(frozen=True)
class Stack:
    project: str
    env: dict[str, str]
    compose: list[str]
    kafka_port: int
    registry_port: int
    postgres_port: int
    http_port: int

    @property
    def settings(self) -> Settings:
        return Settings(
            bootstrap_servers=f"127.0.0.1:{self.kafka_port}",
            registry_url=f"http://127.0.0.1:{self.registry_port}",
        )

    @property
    def postgres_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.postgres_port}/streamworks"

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.compose, "--project-name", self.project, *args],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def ports(self) -> list[int]:
        return [self.kafka_port, self.registry_port, self.postgres_port, self.http_port]


def _plan_stack(images: Images, compose: list[str]) -> Stack:
    kafka = free_port_block(2)  # the broker and, one above, its controller
    registry, postgres, http, metrics = (free_port_block(1) for _ in range(4))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("STREAMWORKS_ORDERS_")},
        **images.as_environment(),
        "STREAMWORKS_KAFKA_PORT": str(kafka),
        "STREAMWORKS_KAFKA_CONTROLLER_PORT": str(kafka + 1),
        "STREAMWORKS_REGISTRY_PORT": str(registry),
        "STREAMWORKS_POSTGRES_PORT": str(postgres),
        "STREAMWORKS_ORDERS_HTTP_PORT": str(http),
        "STREAMWORKS_INGEST_METRICS_PORT": str(metrics),
    }
    project = f"swtest{uuid.uuid4().hex[:8]}"
    return Stack(project, env, compose, kafka, registry, postgres, http)


def _project_objects(project: str) -> dict[str, list[str]]:
    """The project's containers and volumes (running or not), by compose's labels."""
    import docker  # noqa: PLC0415 - the images fixture has checked that an engine answers

    label = f"com.docker.compose.project={project}"
    with closing(docker.from_env()) as client:
        return {
            "containers": [
                c.name for c in client.containers.list(all=True, filters={"label": label})
            ],
            "volumes": [v.name for v in client.volumes.list(filters={"label": label})],
        }


def _states(project: str) -> dict[str, str]:
    """Container name -> its health (or its state when it has no health check)."""
    import docker  # noqa: PLC0415

    label = f"com.docker.compose.project={project}"
    found: dict[str, str] = {}
    with closing(docker.from_env()) as client:
        for c in client.containers.list(all=True, filters={"label": label}):
            state: dict[str, Any] = c.attrs["State"]
            health = state.get("Health", {}).get("Status")
            running = state["Status"] == "running"
            found[c.name] = (
                health if running and health else f"{state['Status']}:{state['ExitCode']}"
            )
    return found


@contextmanager
def _running(stack: Stack, timings: dict[str, float]) -> Iterator[None]:
    """`up -d` (waiting for every container to be healthy), and always `down -v` after."""
    started = time.monotonic()
    try:
        up = stack.run("up", "-d")
        assert up.returncode == 0, up.stdout[-2000:] + up.stderr[-4000:]
        timings["up_returns_s"] = time.monotonic() - started
        deadline = started + SETTLE_S
        while True:
            states = _states(stack.project)
            healthy = [n for n, s in states.items() if s == "healthy"]
            if len(healthy) == LONG_RUNNING:
                break
            broken = {
                n: s
                for n, s in states.items()
                if s == "unhealthy" or (s.startswith("exited:") and s != "exited:0")
            }
            logs = stack.run("logs", "--tail", "15").stdout if broken else ""
            assert not broken, f"containers failed: {broken}\n{logs[-6000:]}"
            assert time.monotonic() < deadline, f"not all healthy in {SETTLE_S:.0f} s: {states}"
            time.sleep(1)
        timings["all_healthy_s"] = time.monotonic() - started
        yield
    finally:
        stopping = time.monotonic()
        down = stack.run("down", "--volumes", "--remove-orphans")
        timings["down_s"] = time.monotonic() - stopping
        assert down.returncode == 0, down.stderr[-2000:]


def _post(url: str, orders: list[RawOrder]) -> None:
    body = "".join(to_json(o.to_avro()) + "\n" for o in orders).encode()
    request = urllib.request.Request(  # noqa: S310 - a loopback http URL built here
        url, data=body, headers={"Content-Type": "application/x-ndjson"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        assert response.status == 202


@dataclass
class Outcome:
    routed: RoutedOrders
    rows: Rows
    order_ids: set[str]
    windows: dict[tuple[str, str, int], tuple[int, int]]

    def topic_windows(self) -> dict[tuple[str, str, int], tuple[int, int]]:
        """The closed windows read from the metrics topic, shaped like the table's rows."""
        return {k: (w.revenue_cents, w.order_count) for k, w in self.routed.windows.items()}


async def _watch(stack: Stack, posted: int) -> Outcome:
    """Reads the topics and the tables until every order is routed, every valid one is a
    row and the closed windows on the metrics topic match the table (or the deadline
    passes; the assertions then say what was missing)."""
    codec = AvroCodec(RegistryClient(stack.settings.registry_url))
    tables = PostgresTables(stack.postgres_url, "public")
    deadline = time.monotonic() + FLOW_S
    async with RoutedOrders(stack.settings.bootstrap_servers, codec, "orders") as routed:
        while True:
            await routed.poll(timeout_ms=500)
            rows = await tables.count()
            outcome = Outcome(routed, rows, *await _table_contents(stack.postgres_url, rows))
            settled = (
                len(routed.ids) >= posted
                and routed.enriched >= routed.valid
                and rows.orders >= routed.enriched
                and routed.windows
                and outcome.windows == outcome.topic_windows()
            )
            if settled or time.monotonic() > deadline:
                return outcome


async def _table_contents(
    url: str, rows: Rows
) -> tuple[set[str], dict[tuple[str, str, int], tuple[int, int]]]:
    """Order ids of ``orders`` and the windows of ``revenue_windows`` (once they exist)."""
    if not rows.orders or not rows.windows:
        return set(), {}
    async with await psycopg.AsyncConnection.connect(url) as connection:
        ids = await (await connection.execute("SELECT order_id FROM orders")).fetchall()
        windows = await (
            await connection.execute(
                "SELECT region, currency, window_start, revenue_cents, order_count"
                " FROM revenue_windows"
            )
        ).fetchall()
    return (
        {str(i) for (i,) in ids},
        {(r, c, _millis(s)): (cents, count) for r, c, s, cents, count in windows},
    )


def _millis(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def test_the_compose_stack_turns_posted_orders_into_rows_and_aggregates(
    images: Images, compose: list[str]
) -> None:
    stack = _plan_stack(images, compose)
    timings: dict[str, float] = {}
    # no unparseable orders: the HTTP ingest takes a batch whole or not at all
    orders = list(OrderGenerator(SEED, mix=(0.10, 0.08, 0.0)).orders(ORDERS))
    with _running(stack, timings):
        asyncio.run(publish_customers(stack.settings, "orders", SEED))
        url = f"http://127.0.0.1:{stack.http_port}/topics/orders.raw"
        posting = time.monotonic()
        for i in range(0, ORDERS, BATCH):
            _post(url, orders[i : i + BATCH])
        outcome = asyncio.run(_watch(stack, ORDERS))
        timings["posted_to_rows_s"] = time.monotonic() - posting

    routed = outcome.routed
    # dirty orders carry ids with spaces and capitals; the clean stage normalises them
    posted_ids = {str(o.order_id).strip().lower() for o in orders}
    # every order routed once: none lost, none doubled
    assert set(routed.ids) == posted_ids
    assert max(routed.ids.values()) == 1
    assert routed.invalid > 0 and routed.valid + routed.invalid == ORDERS
    # every valid order enriched and a row, keyed by its id
    assert routed.enriched == routed.valid
    assert len(outcome.order_ids) == routed.valid
    assert outcome.order_ids <= posted_ids
    # the closed revenue windows on the metrics topic are the rows of revenue_windows
    assert routed.windows, "no revenue window closed"
    assert outcome.windows == outcome.topic_windows()
    # down -v: no container, volume or listener of the stack is left
    assert _project_objects(stack.project) == {"containers": [], "volumes": []}
    assert [p for p in stack.ports() if port_accepts(p)] == []

    report = REPO / ".cache/reports/compose.json"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(json.dumps({"orders": ORDERS, **timings}, indent=2) + "\n")
