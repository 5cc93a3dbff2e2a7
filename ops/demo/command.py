"""``streamworks demo``: the flagship pipeline end to end on the local platform."""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress

from ops.demo.feed import OrderFeed
from ops.demo.report import Revenue, print_summary
from ops.demo.services import (
    INGEST_FILE,
    SINKS_FILE,
    ConnectProcess,
    PostgresTables,
    Rows,
    ensure_postgres,
    free_port,
)
from schemas import CONTRACTS
from schemas.records import Customer
from streams.orders import OrderGenerator
from streams.orders.app import build
from streams.orders.observe import RoutedOrders
from streamworks import Pipeline, Settings
from streamworks.connectors import load_file
from streamworks.ops.dashboard import start_dashboard
from streamworks.ops.kafka import KafkaLauncherError, LocalCluster, cache_dir, port_accepts
from streamworks.ops.supervisor import Supervisor
from streamworks.runtime.stats import read_stage_counts
from streamworks.runtime.topics import ensure_topics, register_contracts
from streamworks.schemas.codec import AvroCodec
from streamworks.schemas.errors import RegistryError
from streamworks.schemas.evolution import folder_subjects, register_all
from streamworks.schemas.registry_client import RegistryClient
from streamworks.schemas.typed import RecordCodec
from streamworks.testing.helpers import produce
from streamworks.testing.registry import RegistryThread

__all__ = ["demo", "publish_customers"]

console = Console()
_DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
_FEED_RATE = 1_000
"""Orders a second the demo's source sends."""
_GAP_MS = (0, 2 * 1_000 // _FEED_RATE)
"""Event-time gaps between orders: their order times keep the feed's pace, from now."""
_WINDOW_S = 10
"""The demo's revenue windows: 10,000 orders at 1,000/s fill about two per region."""
_GRACE_S = 5
"""How long after a window ends its late orders still count."""


def demo(
    orders: Annotated[int, typer.Option(help="How many generated orders to send.")] = 10_000,
    workers: Annotated[int, typer.Option(help="Workers per stage.")] = 1,
    seed: Annotated[int, typer.Option(help="Seed of the order generator.")] = 7,
) -> None:
    """Orders in over HTTP and files, through the order pipeline, out as PostgreSQL rows."""
    # a fresh broker makes aiokafka log transient coordinator errors; the demo reports itself
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    settings = Settings()
    with ExitStack() as stack:
        _ensure_kafka(settings)
        registry_url = _ensure_registry(settings, stack)
        settings = settings.model_copy(update={"registry_url": registry_url})
        postgres_url = ensure_postgres(stack)
        prefix = f"demo-{uuid.uuid4().hex[:6]}"
        logs = cache_dir().parent / "logs" / prefix
        port = free_port()
        env = {
            "STREAMWORKS_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
            "STREAMWORKS_REGISTRY_URL": registry_url,
            "STREAMWORKS_ORDERS_PREFIX": prefix,
            "STREAMWORKS_POSTGRES_URL": postgres_url,
            "STREAMWORKS_ORDERS_SCHEMA": prefix.replace("-", "_"),
            "STREAMWORKS_ORDERS_HTTP_PORT": str(port),
            "STREAMWORKS_ORDERS_INBOX": str(logs / "inbox"),
            "STREAMWORKS_ORDERS_REVENUE_WINDOW": str(_WINDOW_S),
            "STREAMWORKS_ORDERS_REVENUE_GRACE": str(_GRACE_S),
        }
        stack.enter_context(_environment(env))
        pipeline = build()
        pipeline.validate()
        asyncio.run(ensure_topics(pipeline, settings))
        register_all(
            RegistryClient.from_settings(settings, url=registry_url), folder_subjects(CONTRACTS)
        )
        register_contracts(pipeline, RegistryClient.from_settings(settings, url=registry_url))
        console.print(f"pipeline [bold]{prefix}[/]: topics {prefix}.raw ... {prefix}.enriched")
        console.print(f"worker and connector logs: {logs}")

        supervisor = Supervisor(
            "orders", dict.fromkeys(pipeline.stages, workers), env=env, log_dir=logs
        )
        asyncio.run(publish_customers(settings, prefix, seed))
        supervisor.start()
        stack.callback(supervisor.stop)
        (logs / "inbox").mkdir(parents=True, exist_ok=True)
        connect = ConnectProcess(INGEST_FILE, env, logs / "connect-ingest.log")
        sinks = ConnectProcess(SINKS_FILE, env, logs / "connect-sinks.log")
        for process in (connect, sinks):
            process.start()
            stack.callback(process.stop)
        console.print(
            f"orders go to http://127.0.0.1:{port}/topics/{prefix}.raw and {logs / 'inbox'}; "
            f"rows land in PostgreSQL {postgres_url} (schema {env['STREAMWORKS_ORDERS_SCHEMA']})"
        )
        started = time.monotonic()
        # order times start now and keep the feed's pace, as a live source's would
        generator = OrderGenerator(seed, start=datetime.now(UTC), gap_ms=_GAP_MS)
        feed = OrderFeed(
            list(generator.orders(orders)),
            url=f"http://127.0.0.1:{port}/topics/{prefix}.raw",
            inbox=logs / "inbox",
            rate=_FEED_RATE,
        )
        tables = PostgresTables(postgres_url, env["STREAMWORKS_ORDERS_SCHEMA"])
        routed, rows, stored = asyncio.run(
            _feed_and_watch(
                settings,
                prefix,
                feed=feed,
                tables=tables,
                supervisor=supervisor,
                connects=(connect, sinks),
                port=port,
                pipeline=pipeline,
            )
        )
        seconds = time.monotonic() - started
        connect.stop()
        sinks.stop()
        supervisor.stop()
        counts = asyncio.run(read_stage_counts(settings, pipeline.name))

    title = (
        f"{prefix}: {orders:,} orders in {seconds:.1f}s end to end "
        f"({orders / seconds:,.0f}/s; fed at {_FEED_RATE:,}/s)"
    )
    problems = print_summary(
        console,
        title,
        pipeline=pipeline,
        counts=counts,
        routed=routed,
        rows=rows,
        sent=orders,
        window_s=_WINDOW_S,
        grace_s=_GRACE_S,
        stored=stored,
    )
    console.print(f"via HTTP {feed.posted:,} · via files {feed.filed:,}")
    if problems:
        console.print(f"[red]the counts do not add up: {'; '.join(problems)}[/]")
        raise typer.Exit(1)


async def publish_customers(settings: Settings, prefix: str, seed: int) -> None:
    """The customer directory, on the compacted topic the enrich stage's table follows."""
    codec = RecordCodec(
        Customer,
        AvroCodec(RegistryClient.from_settings(settings)),
        subject=f"{prefix}.customers-value",
    )
    directory = OrderGenerator(seed).customers()
    records = [(c.customer_id.encode(), codec.encode(c)) for c in directory]
    await produce(settings.bootstrap_servers, f"{prefix}.customers", records)


async def _feed_and_watch(
    settings: Settings,
    prefix: str,
    *,
    feed: OrderFeed,
    tables: PostgresTables,
    supervisor: Supervisor,
    connects: tuple[ConnectProcess, ConnectProcess],
    port: int,
    pipeline: Pipeline,
) -> tuple[RoutedOrders, Rows, Revenue]:
    """Feed the orders in; watch them get routed, enriched and written to PostgreSQL."""
    ingest = connects[0]
    await ingest.wait_ready(f"http://127.0.0.1:{port}/health")
    edges = [c for path in (INGEST_FILE, SINKS_FILE) for c in load_file(path)]
    dashboard = await start_dashboard(pipeline, settings, connectors=edges, port=0)
    console.print(f"live dashboard: [bold]{dashboard.url}[/] (open it in a browser)")
    try:
        return await _watch(
            settings, prefix, feed=feed, tables=tables, supervisor=supervisor, connects=connects
        )
    finally:
        await dashboard.stop()


async def _watch(
    settings: Settings,
    prefix: str,
    *,
    feed: OrderFeed,
    tables: PostgresTables,
    supervisor: Supervisor,
    connects: tuple[ConnectProcess, ConnectProcess],
) -> tuple[RoutedOrders, Rows, Revenue]:
    """Progress bars until every order is routed, decided and a PostgreSQL row, and every
    revenue window has closed (or the deadline passed: the summary says what is missing)."""
    codec = AvroCodec(RegistryClient.from_settings(settings))
    count = feed.total
    rows = Rows()
    async with RoutedOrders(settings.bootstrap_servers, codec, prefix) as routed:
        feeding = asyncio.create_task(feed.run())
        with Progress(console=console) as progress:
            sent = progress.add_task("orders sent (HTTP + files)", total=count)
            routing = progress.add_task("orders routed to valid/invalid", total=count)
            landed = progress.add_task("enriched orders as PostgreSQL rows", total=None)
            windowed = progress.add_task("enriched orders in closed windows or late", total=None)
            deadline = time.monotonic() + max(180.0, count / 50)
            while time.monotonic() < deadline:
                await routed.poll(timeout_ms=100)
                supervisor.poll()
                for process in connects:
                    process.check()
                if feeding.done():
                    feeding.result()  # a refused feed stops the demo with its reason
                rows = await tables.count()
                progress.update(sent, completed=feed.posted + feed.filed)
                progress.update(routing, completed=len(routed.ids))
                progress.update(landed, completed=rows.orders, total=routed.enriched or None)
                settled = routed.windowed_orders + routed.late
                progress.update(windowed, completed=settled, total=routed.enriched or None)
                if (
                    feed.done
                    and len(routed.ids) >= count
                    and routed.enriched >= routed.valid
                    and routed.decided >= routed.enriched
                    and rows.orders >= routed.enriched
                    and settled >= routed.enriched
                    and rows.windows >= len(routed.windows)
                ):
                    break
        await feeding
    return routed, rows, await tables.revenue()


def _ensure_kafka(settings: Settings) -> None:
    host, _, port = settings.bootstrap_servers.split(",")[0].rpartition(":")
    if host not in ("127.0.0.1", "localhost") or port_accepts(int(port)):
        return  # a remote cluster is taken as given; a local one is already up
    if settings.bootstrap_servers != _DEFAULT_BOOTSTRAP:
        raise KafkaLauncherError(
            f"no Kafka answers at {settings.bootstrap_servers}; start it or unset "
            "STREAMWORKS_BOOTSTRAP_SERVERS to use the local broker"
        )
    cluster = LocalCluster.plan(cache_dir() / "clusters" / "default", nodes=1, port=int(port))
    with console.status("starting the local Kafka broker"):
        seconds = cluster.start()
    console.print(
        f"local Kafka ready in {seconds:.1f}s on {_DEFAULT_BOOTSTRAP} (`make down` stops it)"
    )


def _ensure_registry(settings: Settings, stack: ExitStack) -> str:
    try:
        RegistryClient.from_settings(settings, timeout=2).subjects()
    except RegistryError:
        pass
    else:
        return settings.registry_url
    port = int(settings.registry_url.rsplit(":", 1)[1])
    with console.status("starting a schema registry"):
        registry = RegistryThread(settings.bootstrap_servers, topic="_schemas", port=port).start()
    stack.callback(registry.stop)
    console.print(f"schema registry serving at {registry.url} for this demo")
    return registry.url


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the block (the pipeline is built from them)."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
