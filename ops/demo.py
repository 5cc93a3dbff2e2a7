"""``streamworks demo``: the flagship pipeline end to end on the local platform."""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from ops.kafka import KafkaLauncherError, LocalCluster, cache_dir
from ops.kafka._process import port_accepts
from ops.supervisor import Supervisor
from schemas.codec import AvroCodec
from schemas.errors import RegistryError
from schemas.evolution import register_all
from schemas.records import Customer, RawOrder
from schemas.registry_client import RegistryClient
from schemas.typed import RecordCodec
from streams.pipelines.orders import OrderGenerator
from streams.pipelines.orders.app import build
from streams.pipelines.orders.observe import RoutedOrders
from streams.settings import Settings
from streams.stats import read_stage_counts
from streams.testing.helpers import produce
from streams.testing.registry import RegistryThread
from streams.topics import ensure_topics

__all__ = ["demo"]

console = Console()
_DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
_FEED_RATE = 1_000
"""Orders a second the demo's source sends."""
_DEMO_GAP_MS = (10, 110)
"""Event-time gaps between orders: 10,000 orders span about ten one-minute windows."""


def demo(
    orders: Annotated[int, typer.Option(help="How many generated orders to send.")] = 10_000,
    workers: Annotated[int, typer.Option(help="Workers per stage.")] = 1,
    seed: Annotated[int, typer.Option(help="Seed of the order generator.")] = 7,
) -> None:
    """Run the order pipeline over generated orders; show what went where, and the metrics."""
    # a fresh broker makes aiokafka log transient coordinator errors; the demo reports itself
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    settings = Settings()
    with ExitStack() as stack:
        _ensure_kafka(settings)
        registry_url = _ensure_registry(settings, stack)
        settings = settings.model_copy(update={"registry_url": registry_url})
        prefix = f"demo-{uuid.uuid4().hex[:6]}"
        env = {
            "STREAMWORKS_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
            "STREAMWORKS_REGISTRY_URL": registry_url,
            "STREAMWORKS_ORDERS_PREFIX": prefix,
        }
        stack.enter_context(_environment(env))
        pipeline = build()
        pipeline.validate()
        asyncio.run(ensure_topics(pipeline, settings))
        register_all(RegistryClient(registry_url))
        console.print(f"pipeline [bold]{prefix}[/]: topics {prefix}.raw ... {prefix}.enriched")
        console.print(f"worker logs: {cache_dir().parent / 'logs' / prefix}")

        logs = cache_dir().parent / "logs" / prefix
        supervisor = Supervisor(
            "orders", dict.fromkeys(pipeline.stages, workers), env=env, log_dir=logs
        )
        asyncio.run(_publish_customers(settings, prefix, seed))
        supervisor.start()
        stack.callback(supervisor.stop)
        started = time.monotonic()
        routed = asyncio.run(_feed_and_watch(settings, prefix, orders, seed, supervisor))
        seconds = time.monotonic() - started
        supervisor.stop()
        counts = asyncio.run(read_stage_counts(settings, pipeline.name))

    table = Table(title=f"{prefix}: {orders:,} orders in {seconds:.1f}s")
    columns = ("stage", "in", "out", "filtered", "dead-lettered", "late", "balanced")
    for column in columns:
        table.add_column(column, justify="right")
    for name in pipeline.stages:
        c = counts.get(name)
        if c is None:
            table.add_row(name, *["-"] * (len(columns) - 1))
            continue
        table.add_row(
            name,
            f"{c.records_in:,}",
            f"{c.out:,}",
            f"{c.filtered:,}",
            f"{c.dead_lettered:,}",
            f"{c.late:,}",
            "[green]yes[/]" if c.balanced() else "[red]no[/]",
        )
    console.print(table)
    _print_metrics(routed)
    duplicated = sum(routed.ids.values()) - len(routed.ids)
    console.print(
        f"valid {routed.valid:,} · invalid {routed.invalid:,} · "
        f"lost {orders - len(routed.ids):,} · duplicated {duplicated:,}"
    )


def _print_metrics(routed: RoutedOrders) -> None:
    """Revenue per region (summed over its closed one-minute windows) and the top customers."""
    regions = Table(title=f"revenue per region: {len(routed.windows):,} closed one-minute windows")
    for column in ("region", "currency", "windows", "orders", "revenue"):
        regions.add_column(column, justify="right")
    summary: dict[tuple[str, str], list[int]] = {}
    for (region, currency, _), window in sorted(routed.windows.items()):
        row = summary.setdefault((region, currency), [0, 0, 0])
        row[0] += 1
        row[1] += window.order_count
        row[2] += window.revenue_cents
    for (region, currency), (windows, count, cents) in sorted(summary.items()):
        regions.add_row(region, currency, f"{windows:,}", f"{count:,}", f"{cents / 100:,.2f}")
    console.print(regions)
    top = sorted(routed.totals.values(), key=lambda t: -t.revenue_cents)[:5]
    customers = Table(title=f"top customers of {len(routed.totals):,} (running totals)")
    for column in ("customer", "orders", "revenue (mixed currencies)", "last order"):
        customers.add_column(column, justify="right")
    for t in top:
        customers.add_row(
            t.customer_id,
            f"{t.order_count:,}",
            f"{t.revenue_cents / 100:,.2f}",
            f"{t.last_order_at:%H:%M:%S}",
        )
    console.print(customers)
    still_open = routed.enriched - routed.windowed_orders - routed.late
    console.print(
        f"enriched {routed.enriched:,} = in closed windows {routed.windowed_orders:,} "
        f"+ late {routed.late:,} + in windows still open {still_open:,} (a window closes "
        "once order time has passed its end plus 30 s of grace)"
    )
    console.print(
        f"order checks (stock, fraud, shipping in parallel): released {routed.released:,} · "
        f"held {routed.decided - routed.released - routed.partial:,} · "
        f"decided at the deadline with checks missing {routed.partial:,}"
    )


async def _publish_customers(settings: Settings, prefix: str, seed: int) -> None:
    """The customer directory, on the compacted topic the enrich stage's table follows."""
    codec = RecordCodec(
        Customer,
        AvroCodec(RegistryClient(settings.registry_url)),
        subject=f"{prefix}.customers-value",
    )
    directory = OrderGenerator(seed).customers()
    records = [(c.customer_id.encode(), codec.encode(c)) for c in directory]
    await produce(settings.bootstrap_servers, f"{prefix}.customers", records)


async def _feed_and_watch(
    settings: Settings, prefix: str, count: int, seed: int, supervisor: Supervisor
) -> RoutedOrders:
    """Send the orders like a live source would (``_FEED_RATE`` a second), watch them land."""
    codec = AvroCodec(RegistryClient(settings.registry_url))
    raw = RecordCodec(RawOrder, codec, subject=f"{prefix}.raw-value")
    orders = OrderGenerator(seed, gap_ms=_DEMO_GAP_MS).orders(count)
    batch = [(o.order_id.encode(), raw.encode(o)) for o in orders]
    chunk = _FEED_RATE // 10
    async with RoutedOrders(settings.bootstrap_servers, codec, prefix) as routed:
        with Progress(console=console) as progress:
            task = progress.add_task("orders routed to valid/invalid", total=count)
            deadline = time.monotonic() + max(120.0, count / 100)
            next_chunk = time.monotonic()
            while (
                batch
                or len(routed.ids) < count
                or routed.enriched < routed.valid
                or routed.decided < routed.enriched
            ) and time.monotonic() < deadline:
                if batch and time.monotonic() >= next_chunk:
                    await produce(settings.bootstrap_servers, f"{prefix}.raw", batch[:chunk])
                    del batch[:chunk]
                    next_chunk += 0.1
                await routed.poll(timeout_ms=50)
                supervisor.poll()
                progress.update(task, completed=len(routed.ids))
    return routed


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
        RegistryClient(settings.registry_url, timeout=2).subjects()
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
