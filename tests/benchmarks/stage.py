"""Stage benchmark: one stage's work done by hand-written loops, Quix Streams, faust and
streamworks, side by side in one run.

Run with ``make bench`` or ``python -m tests.benchmarks.stage``. One local broker and one
registry. Three measurements:

1. **Throughput**, for each workload of :mod:`tests.benchmarks._stage_work` (``plain``: a
   14-field order of plain types; ``orders``: the flagship's raw order, logical types and
   all): EVENTS pre-loaded records on PARTITIONS partitions, each contender in its own
   process, ROUNDS rounds interleaved, medians. Steady events/s and CPU per event leave out
   start-up and the final flush (:class:`tests.benchmarks._contenders.Meter`).
2. **Latency at a moderate load**: LATENCY_RATE plain orders/s offered for LATENCY_SECONDS,
   LATENCY_ROUNDS rounds per contender; produce -> output seen by a reader, percentiles over
   all rounds, and the contender process's CPU (all its threads) over the load, in % of
   one core.
3. **The 4-stage order pipeline** at PIPELINE_RATE orders/s: raw send -> enriched written,
   its workers packed into 1, 2 and 4 processes (``streamworks run --processes``), with
   their memory in all and their CPU while the load is offered; PIPELINE_ROUNDS rounds
   interleaved, medians.

The hand-written confluent-kafka (librdkafka) loop is the practical ceiling in Python; the
aiokafka loop is the ceiling on asyncio. Ratios are streamworks' figure over the contender's.
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from schemas.records import EnrichedOrder, RawOrder
from streams.orders import OrderGenerator
from streams.orders.app import build
from streamworks.core.settings import Settings
from streamworks.ops.supervisor import Supervisor
from streamworks.runtime.topics import ensure_topics
from streamworks.schemas.codec import AvroCodec
from streamworks.schemas.registry_client import RegistryClient
from streamworks.schemas.typed import RecordCodec
from streamworks.testing.helpers import produce, unique_name
from tests.benchmarks._report import (
    broker_and_registry,
    interleaved,
    machine,
    medians,
    run_contender,
    write,
)
from tests.benchmarks._stage_work import PlainCodec, input_values, plain_orders

CONTENDERS = (
    "confluent-kafka",
    "aiokafka",
    "quixstreams",
    "streamworks",
    "streamworks-aiokafka",
    "faust",
)
LATENCY_CONTENDERS = (
    "confluent-kafka",
    "aiokafka",
    "quixstreams",
    "streamworks",
    "streamworks-aiokafka",
)
EVENTS = int(os.environ.get("STREAMWORKS_BENCH_EVENTS", "100000"))
ROUNDS = int(os.environ.get("STREAMWORKS_BENCH_ROUNDS", "3"))
PARTITIONS = 4
LATENCY_RATE = 2_000
LATENCY_SECONDS = int(os.environ.get("STREAMWORKS_BENCH_LATENCY_SECONDS", "20"))
LATENCY_ROUNDS = 2
PIPELINE_RATE = 2_000
PIPELINE_SECONDS = 15
PACKINGS = (1, 2, 4)
"""Processes the 4-stage path's workers are packed into, one measurement each per round."""
PIPELINE_ROUNDS = int(os.environ.get("STREAMWORKS_BENCH_PIPELINE_ROUNDS", "3"))
"""Interleaved rounds of the 4-stage path per packing; the table gives their medians."""
LATENCY_STAGES = ("clean", "format", "validate", "enrich")
"""The 4-stage path of the pipeline measurement (raw send -> enriched written)."""
_FIGURES = (
    "events_per_s",
    "steady_events_per_s",
    "cpu_us_per_event",
    "steady_cpu_us_per_event",
    "rss_mb",
)


async def _create(bootstrap: str, *names: str, partitions: int = 2) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, partitions, 1) for n in names])
    finally:
        await admin.close()


async def _preload(bootstrap: str, registry: str, workload: str, topic: str, count: int) -> None:
    values = input_values(workload, registry, count)
    chunk: list[tuple[bytes, bytes]] = []
    for record in values:
        chunk.append(record)
        if len(chunk) == 20_000:
            await produce(bootstrap, topic, chunk)
            chunk = []
    if chunk:
        await produce(bootstrap, topic, chunk)


def _options(name: str, workload: str, source: str, output: str, **more: str) -> dict[str, str]:
    return {
        "input": source,
        "output": output,
        "group": unique_name(f"bench-{name}"),
        "workload": workload,
        "partitions": str(PARTITIONS),
        **more,
    }


def throughput(bootstrap: str, registry: str, workload: str) -> dict[str, dict[str, Any]]:
    """Median figures of each contender over ROUNDS interleaved rounds of ``workload``."""
    source = unique_name(f"bench-{workload}")
    asyncio.run(_create(bootstrap, source, partitions=PARTITIONS))
    asyncio.run(_preload(bootstrap, registry, workload, source, EVENTS))
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in CONTENDERS}
    for round_, name in interleaved(CONTENDERS, ROUNDS):
        output = unique_name(f"bench-{name}-out")
        asyncio.run(_create(bootstrap, output, partitions=PARTITIONS))
        options = _options(
            name,
            workload,
            source,
            output,
            bootstrap=bootstrap,
            registry=registry,
            count=str(EVENTS),
        )
        result = run_contender("tests.benchmarks._contenders", name, options)
        sys.stderr.write(f"{workload} round {round_ + 1} {name}: {result}\n")
        runs[name].append(result)
    figures = medians(runs, _FIGURES)
    ours = figures["streamworks"]
    for values in figures.values():
        values["streamworks_over_this_steady_rate"] = round(
            ours["steady_events_per_s"] / values["steady_events_per_s"], 3
        )
        values["streamworks_over_this_cpu"] = round(
            ours["steady_cpu_us_per_event"] / values["steady_cpu_us_per_event"], 3
        )
    return figures


def _cpu_seconds(pid: int) -> float:
    """CPU time of process ``pid`` so far, all its threads (user + system)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _Observer:
    """Reads a contender's output topic; notes when each order id is seen."""

    def __init__(self, bootstrap: str, topic: str, codec: PlainCodec) -> None:
        self.seen: dict[str, float] = {}
        self._consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest"
        )
        self._codec = codec
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._consumer.start()
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=100)
            now = time.time()
            for records in batches.values():
                for record in records:
                    order_id = self._codec.decode_output(record.value)["order_id"]
                    self.seen.setdefault(order_id, now)

    async def wait_for(self, ids: list[str], within_s: float) -> bool:
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            if all(i in self.seen for i in ids):
                return True
            await asyncio.sleep(0.05)
        return False

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        await self._consumer.stop()


async def _send_paced(
    producer: AIOKafkaProducer, codec: PlainCodec, topic: str, orders: list[dict[str, Any]]
) -> dict[str, float]:
    """Send ``orders`` at LATENCY_RATE per second, 10 ms at a time; order id -> send time."""
    sent: dict[str, float] = {}
    tick = 0.01
    per_tick = int(LATENCY_RATE * tick)
    started = time.perf_counter()
    for n, order in enumerate(orders):
        if n % per_tick == 0:
            target = started + (n // per_tick) * tick
            await asyncio.sleep(max(0.0, target - time.perf_counter()))
        value = codec.encode_input(order)
        sent[order["order_id"]] = time.time()
        await producer.send(topic, value, key=order["order_id"].encode())
    await producer.flush()
    return sent


OnLoad = Callable[[int], Callable[[], None]]
"""Called with the contender's pid as the measured load starts; returns what to call when
it ends (the profiler attaches this way)."""


def _latency_round(
    bootstrap: str, registry: str, name: str, first_id: int, on_load: OnLoad | None = None
) -> tuple[list[float], float, int]:
    """One contender at LATENCY_RATE: (delays in ms, CPU % of a core, orders measured)."""
    source, output = unique_name("bench-lat-in"), unique_name(f"bench-lat-{name}")
    asyncio.run(_create(bootstrap, source, output, partitions=PARTITIONS))
    options = _options(
        name, "plain", source, output, bootstrap=bootstrap, registry=registry, count="0"
    )
    command = [sys.executable, "-m", "tests.benchmarks._contenders", name]
    for option, value in options.items():
        command += [f"--{option}", value]
    with tempfile.TemporaryFile() as log:
        contender = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log)
        try:
            return asyncio.run(
                _measure(bootstrap, PlainCodec(registry), contender, options, first_id, on_load)
            )
        except RuntimeError as error:
            log.seek(0)
            raise RuntimeError(f"{name}: {error}\n{log.read().decode()[-3000:]}") from None
        finally:
            contender.send_signal(signal.SIGKILL)
            contender.wait()


async def _measure(  # noqa: PLR0917 - one round's parts, from _latency_round
    bootstrap: str,
    codec: PlainCodec,
    contender: subprocess.Popen[bytes],
    options: dict[str, str],
    first_id: int,
    on_load: OnLoad | None,
) -> tuple[list[float], float, int]:
    observer = _Observer(bootstrap, options["output"], codec)
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=0
    )
    await observer.start()
    await producer.start()
    try:
        warm = list(plain_orders(400, first_id))
        await _send_paced(producer, codec, options["input"], warm)
        warmed = [o["order_id"] for o in warm if not _dropped(o)]
        if not await observer.wait_for(warmed, within_s=120):
            raise RuntimeError("the contender did not warm up in 120 s")
        orders = list(plain_orders(LATENCY_RATE * LATENCY_SECONDS, first_id + 400))
        finish = on_load(contender.pid) if on_load is not None else None
        cpu_before, wall_before = _cpu_seconds(contender.pid), time.perf_counter()
        sent = await _send_paced(producer, codec, options["input"], orders)
        cpu = _cpu_seconds(contender.pid) - cpu_before
        wall = time.perf_counter() - wall_before
        if finish is not None:
            finish()
        expected = [o["order_id"] for o in orders if not _dropped(o)]
        await observer.wait_for(expected, within_s=30)
    finally:
        await producer.stop()
        await observer.stop()
    delays = [(observer.seen[i] - sent[i]) * 1000 for i in expected if i in observer.seen]
    if len(delays) < len(expected):
        raise RuntimeError(f"{len(expected) - len(delays)} orders never came out")
    return delays, 100 * cpu / wall, len(orders)


def _dropped(order: dict[str, Any]) -> bool:
    return bool(order["quantity"] % 20 == 0)


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * q))], 2)


def moderate_load(bootstrap: str, registry: str) -> dict[str, dict[str, Any]]:
    """Each latency contender at LATENCY_RATE plain orders/s, LATENCY_ROUNDS rounds."""
    delays: dict[str, list[float]] = {name: [] for name in LATENCY_CONTENDERS}
    cpu: dict[str, list[float]] = {name: [] for name in LATENCY_CONTENDERS}
    next_id = 10**8
    for round_, name in interleaved(LATENCY_CONTENDERS, LATENCY_ROUNDS):
        samples, percent, sent = _latency_round(bootstrap, registry, name, next_id)
        next_id += sent + 1_000
        sys.stderr.write(
            f"latency round {round_ + 1} {name}: p99 {_percentile(samples, 0.99)} ms, "
            f"CPU {percent:.0f}%\n"
        )
        delays[name].extend(samples)
        cpu[name].append(percent)
    figures: dict[str, dict[str, Any]] = {}
    for name in LATENCY_CONTENDERS:
        percent = statistics.mean(cpu[name])
        figures[name] = {
            "p50_ms": _percentile(delays[name], 0.5),
            "p99_ms": _percentile(delays[name], 0.99),
            "p999_ms": _percentile(delays[name], 0.999),
            "cpu_percent": round(percent, 1),
            "cpu_us_per_event": round(percent / 100 / LATENCY_RATE * 1e6, 1),
            "orders": len(delays[name]),
        }
    return figures


async def _paced_load(bootstrap: str, registry: str, prefix: str) -> dict[str, float]:
    """Send PIPELINE_RATE orders/s for PIPELINE_SECONDS; return order id -> send time (ms)."""
    codec = RecordCodec(
        RawOrder, AvroCodec(RegistryClient(registry)), subject=f"{prefix}.raw-value"
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    sent: dict[str, float] = {}
    orders = OrderGenerator(seed=5).orders(PIPELINE_RATE * PIPELINE_SECONDS)
    tick = 0.01
    per_tick = int(PIPELINE_RATE * tick)
    started = time.perf_counter()
    try:
        for n, order in enumerate(orders):
            if n % per_tick == 0:
                target = started + (n // per_tick) * tick
                await asyncio.sleep(max(0.0, target - time.perf_counter()))
            sent[order.order_id.strip().lower()] = time.time() * 1000
            await producer.send(f"{prefix}.raw", codec.encode(order), key=order.order_id.encode())
        await producer.flush()
    finally:
        await producer.stop()
    return sent


async def _arrivals(
    bootstrap: str, registry: str, topic: str, expect: int, until: float
) -> dict[str, int]:
    codec = RecordCodec(EnrichedOrder, AvroCodec(RegistryClient(registry)), register=False)
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    seen: dict[str, int] = {}
    try:
        while len(seen) < expect and time.monotonic() < until:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for r in records:
                    seen[str(codec.decode(r.value).order_id)] = r.timestamp
    finally:
        await consumer.stop()
    return seen


async def _warm_up(bootstrap: str, registry: str, prefix: str) -> None:
    """Send a few orders through and wait for them: every worker has joined and fetches."""
    codec = RecordCodec(
        RawOrder, AvroCodec(RegistryClient(registry)), subject=f"{prefix}.raw-value"
    )
    orders = [o for o in OrderGenerator(seed=1).orders(200)]
    await produce(
        bootstrap, f"{prefix}.raw", [(o.order_id.encode(), codec.encode(o)) for o in orders]
    )
    deadline = time.monotonic() + 90
    arrived = await _arrivals(bootstrap, registry, f"{prefix}.enriched", 150, deadline)
    if len(arrived) < 150:
        raise RuntimeError("the pipeline did not warm up in 90 s")


def pipeline_latency(bootstrap: str, registry: str, processes: int) -> dict[str, Any]:
    """End-to-end latency (raw send -> enriched write) of the 4-stage order pipeline, its
    workers packed into ``processes`` processes, and their memory (RSS) in all."""
    prefix = unique_name("bench-latency")
    env = {
        "STREAMWORKS_BOOTSTRAP_SERVERS": bootstrap,
        "STREAMWORKS_REGISTRY_URL": registry,
        "STREAMWORKS_ORDERS_PREFIX": prefix,
    }
    os.environ.update(env)
    pipeline = build()
    asyncio.run(ensure_topics(pipeline, Settings()))
    supervisor = Supervisor(
        "orders", dict.fromkeys(LATENCY_STAGES, 1), env=env, processes=processes
    )
    supervisor.start()
    asyncio.run(_warm_up(bootstrap, registry, prefix))
    try:
        pids = [worker.process.pid for worker in supervisor.workers()]
        loaded: list[float] = []  # CPU seconds and wall time while the load is offered

        async def measure() -> tuple[dict[str, float], dict[str, int]]:
            load = asyncio.create_task(_paced_load(bootstrap, registry, prefix))
            load.add_done_callback(
                lambda _: loaded.extend((sum(map(_cpu_seconds, pids)), time.perf_counter()))
            )
            # the valid share of the generator's mix reaches enriched
            arrivals = asyncio.create_task(
                _arrivals(
                    bootstrap,
                    registry,
                    f"{prefix}.enriched",
                    10**9,
                    time.monotonic() + PIPELINE_SECONDS + 10,
                )
            )
            return await load, await arrivals

        cpu_before, wall_before = sum(map(_cpu_seconds, pids)), time.perf_counter()
        sent, arrived = asyncio.run(measure())
        cpu_percent = 100 * (loaded[0] - cpu_before) / (loaded[1] - wall_before)
        rss_mb = sum(_rss_mb(pid) for pid in pids)
    finally:
        supervisor.stop()
    samples = sorted(arrived[i] - sent[i] for i in arrived if i in sent)

    def pick(q: float) -> float:
        return float(samples[min(len(samples) - 1, int(len(samples) * q))])

    return {
        "processes": processes,
        "rss_mb": round(rss_mb),
        "cpu_percent": round(cpu_percent, 1),
        "offered_orders_per_s": PIPELINE_RATE,
        "seconds": PIPELINE_SECONDS,
        "enriched": len(samples),
        "p50_ms": pick(0.5),
        "p99_ms": pick(0.99),
        "p999_ms": pick(0.999),
        "max_ms": float(samples[-1]),
    }


def packed_latency(bootstrap: str, registry: str) -> list[dict[str, Any]]:
    """:func:`pipeline_latency` for each packing, PIPELINE_ROUNDS rounds interleaved (this
    machine's tail moves by 2-3x between runs minutes apart); the median of each figure,
    with every round's figures beside it."""
    rounds: dict[int, list[dict[str, Any]]] = {n: [] for n in PACKINGS}
    for _ in range(PIPELINE_ROUNDS):
        for n in PACKINGS:
            rounds[n].append(pipeline_latency(bootstrap, registry, n))
    medians = []
    for found in rounds.values():
        figures = {
            key: statistics.median(r[key] for r in found)
            for key in ("rss_mb", "cpu_percent", "p50_ms", "p99_ms", "p999_ms", "max_ms")
        }
        medians.append(
            {**found[0], **figures, "enriched": min(r["enriched"] for r in found), "rounds": found}
        )
    return medians


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _throughput_table(workload: str, figures: dict[str, dict[str, Any]]) -> list[str]:
    return [
        f"**{workload}** workload, {EVENTS:,} events on {PARTITIONS} partitions, "
        f"median of {ROUNDS}:",
        "",
        "| contender | events/s | steady events/s | CPU µs / event (steady) | peak RSS MB "
        "| streamworks ÷ this, steady rate | streamworks ÷ this, CPU / event |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *(
            f"| {n} | {f['events_per_s']:,.0f} | {f['steady_events_per_s']:,.0f} | "
            f"{f['steady_cpu_us_per_event']:.1f} | {f['rss_mb']:.0f} | "
            f"{f['streamworks_over_this_steady_rate']:.2f} | "
            f"{f['streamworks_over_this_cpu']:.2f} |"
            for n, f in sorted(figures.items(), key=lambda i: -i[1]["steady_events_per_s"])
        ),
        "",
    ]


def main() -> int:
    workloads = os.environ.get("STREAMWORKS_BENCH_WORKLOADS", "plain,orders").split(",")
    with broker_and_registry() as (bootstrap, registry):
        contenders = {w: throughput(bootstrap, registry, w) for w in workloads}
        moderate = moderate_load(bootstrap, registry)
        packed = packed_latency(bootstrap, registry)
    lines = ["One stage: decode, filter, change, encode, produce (acks=all), at-least-once.", ""]
    for workload, figures in contenders.items():
        lines += _throughput_table(workload, figures)
    ours = moderate["streamworks"]
    lines += [
        f"One stage at {LATENCY_RATE:,} plain orders/s for {LATENCY_SECONDS} s, "
        f"{LATENCY_ROUNDS} rounds: produce -> output seen, and the contender's CPU:",
        "",
        "| contender | p50 ms | p99 ms | p99.9 ms | CPU % of a core | CPU µs / event "
        "| streamworks ÷ this, CPU |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *(
            f"| {n} | {f['p50_ms']:.1f} | {f['p99_ms']:.1f} | {f['p999_ms']:.1f} | "
            f"{f['cpu_percent']:.0f} | {f['cpu_us_per_event']:.0f} | "
            f"{ours['cpu_percent'] / f['cpu_percent']:.2f} |"
            for n, f in moderate.items()
        ),
        "",
        f"The 4-stage order path ({', '.join(LATENCY_STAGES)}) at {PIPELINE_RATE:,} "
        f"orders/s for {PIPELINE_SECONDS} s, raw send -> enriched written, its workers packed "
        f"into processes; median of {PIPELINE_ROUNDS} rounds, CPU while the load is offered:",
        "",
        "| processes | p50 ms | p99 ms | p99.9 ms | CPU % of a core, in all | RSS MB in all "
        "| enriched orders |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        *(
            f"| {d['processes']} | {d['p50_ms']:.0f} | {d['p99_ms']:.0f} | {d['p999_ms']:.0f} | "
            f"{d['cpu_percent']:.0f} | {d['rss_mb']:,.0f} | {d['enriched']:,} |"
            for d in packed
        ),
    ]
    table = "\n".join(lines)
    data = {
        "benchmark": "one stage: decode -> filter/change -> encode -> produce, at-least-once",
        "events": EVENTS,
        "partitions": PARTITIONS,
        "machine": machine(),
        "throughput": contenders,
        "moderate_load": moderate,
        "pipeline_latency": packed,
    }
    path = write("stage", data, table)
    sys.stdout.write(table + f"\n\nwritten to {path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
