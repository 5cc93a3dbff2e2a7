"""Scenario 7: a soak. Three minutes at a steady rate, with one kill -9 and one rebalance.

While orders flow (two workers per stage, exactly-once), the test samples:

- **latency**: from an order's acknowledgement to its copy on ``<name>.tagged`` being
  readable with read_committed, as p50/p99 per 15-second window;
- **RSS and open files** of every worker process every 2 s, as growth per minute within
  the quiet stretches (after 30 s of warm-up, between the faults, each fault's first
  15 s left out: a rebalance moves stores and connections in steps, a leak grows between
  them), over the processes that lived through the run;
- **lag** of both stages every second. A fault's recovery is the time until the lag is
  back within one second of input of what it was before the fault: under a steady feed
  some records are always in flight, so "0" means "no backlog left".

At 60 s a ``tag`` worker is killed with -9; at 120 s a third ``totals`` worker joins.
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer

from schemas.records import EnrichedOrder
from streamworks.ops.supervisor import Supervisor
from streamworks.schemas.codec import AvroCodec
from streamworks.schemas.registry_client import RegistryClient
from streamworks.schemas.typed import RecordCodec
from streamworks.testing import KafkaEndpoint
from tests.chaos.harness import (
    INPUTS,
    Chaos,
    Feed,
    chaos_copy,
    committed,
    drained,
    end_offsets,
    orders,
    record,
    running,
    started,
)

SOAK_S = 180
RATE = 150
"""Orders per second: 27,000 in all."""
FAULTS = ((60.0, "kill -9 a tag worker"), (120.0, "a third totals worker joins"))
WINDOW_S = 15
WARM_UP_S = 30
SETTLE_S = 15
"""Seconds after a fault left out of the leak slopes (partitions and connections move)."""
RECOVERY_LIMIT_S = 30.0


@dataclass
class Samples:
    """What the samplers saw, in seconds since the feed started."""

    latency: list[tuple[float, float]] = field(default_factory=list)
    """(arrival, seconds from acknowledgement to readable on tagged)."""
    lag: list[tuple[float, int]] = field(default_factory=list)
    """(when, records behind summed over both stages)."""
    processes: dict[int, list[tuple[float, float, int]]] = field(default_factory=dict)
    """pid -> (when, RSS MB, open files)."""


async def _watch_latency(chaos: Chaos, feed: Feed, began: float, samples: Samples) -> None:
    """Read tagged as it grows; time each order from its acknowledgement."""
    codec = RecordCodec(
        EnrichedOrder, AvroCodec(RegistryClient(chaos.settings.registry_url)), register=False
    )
    acked: dict[str, float] = {}
    seen = 0
    consumer = AIOKafkaConsumer(
        f"{chaos.name}.tagged",
        bootstrap_servers=chaos.settings.bootstrap_servers,
        group_id=None,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    await consumer.start()
    try:
        while True:
            batches = await consumer.getmany(timeout_ms=200)
            now = time.monotonic()
            for order, at in zip(feed.sent[seen:], feed.acked_at[seen:], strict=False):
                acked[str(order.order_id)] = at
            seen = len(feed.acked_at)
            for records in batches.values():
                for r in records:
                    sent_at = acked.get(str(codec.decode(r.value).order_id))
                    if sent_at is not None:
                        samples.latency.append((now - began, now - sent_at))
    finally:
        await consumer.stop()


async def _watch_lag(chaos: Chaos, began: float, samples: Samples) -> None:
    slack = 1 if chaos.exactly_once else 0
    while True:
        behind = 0
        for stage, suffix in INPUTS.items():
            done = await committed(chaos.settings, chaos.group(stage))
            ends = await end_offsets(chaos.settings, f"{chaos.name}.{suffix}", chaos.partitions)
            behind += sum(max(0, end - done.get(tp, 0) - slack) for tp, end in ends.items())
        samples.lag.append((time.monotonic() - began, behind))
        await asyncio.sleep(1)


def _process(pid: int) -> tuple[float, int] | None:
    """RSS in MB and open file descriptors of a live process, or None once it is gone.

    A killed worker stays a zombie until the supervisor reaps it: its status has no
    ``VmRSS`` line, so it counts as gone too."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        files = sum(1 for _ in Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return None
    rss = [int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")]
    return (rss[0] / 1024, files) if rss else None


async def _watch_processes(supervisor: Supervisor, began: float, samples: Samples) -> None:
    while True:
        now = time.monotonic() - began
        for worker in supervisor.workers():
            found = _process(worker.process.pid)
            if found is not None:
                samples.processes.setdefault(worker.process.pid, []).append((now, *found))
        await asyncio.sleep(2)


def _stretch(t: float) -> int | None:
    """Which quiet stretch ``t`` falls in: after warm-up, between faults, each fault's first
    ``SETTLE_S`` left out. None for the warm-up and the settling times."""
    starts = [WARM_UP_S, *(at + SETTLE_S for at, _ in FAULTS)]
    ends = [at for at, _ in FAULTS] + [float("inf")]
    return next((i for i, (a, b) in enumerate(zip(starts, ends, strict=True)) if a <= t < b), None)


def _slope(points: list[tuple[float, float]]) -> float:
    """Least-squares growth per minute within the quiet stretches, one level per stretch.

    A rebalance moves partitions, and with them connections, producers and RocksDB stores:
    memory and descriptors step up or down at a fault. A leak is growth *between* faults,
    so each stretch is compared with its own mean (the within-group estimator)."""
    groups: dict[int, list[tuple[float, float]]] = {}
    for x, y in points:
        stretch = _stretch(x)
        if stretch is not None:
            groups.setdefault(stretch, []).append((x, y))
    top = spread = 0.0
    for group in groups.values():
        mean_x = statistics.fmean(x for x, _ in group)
        mean_y = statistics.fmean(y for _, y in group)
        top += sum((x - mean_x) * (y - mean_y) for x, y in group)
        spread += sum((x - mean_x) ** 2 for x, _ in group)
    return 60 * top / spread


def _windows(latency: list[tuple[float, float]]) -> list[dict[str, float]]:
    found = []
    for start in range(0, SOAK_S, WINDOW_S):
        window = sorted(s for t, s in latency if start <= t < start + WINDOW_S)
        if window:
            found.append(
                {
                    "from_s": start,
                    "orders": len(window),
                    "p50_ms": round(1000 * window[len(window) // 2], 1),
                    "p99_ms": round(
                        1000 * window[min(len(window) - 1, len(window) * 99 // 100)], 1
                    ),
                }
            )
    return found


def _recovery(lag: list[tuple[float, int]], fault_at: float) -> float | None:
    """Seconds after ``fault_at`` until the backlog the fault caused is gone: the lag is back
    within one second of input of its level before the fault, after its peak (which comes
    later than the fault: a killed worker's partitions stall until its session expires).

    A fault whose lag never rises above that level left no backlog: 0. (Its "peak" would
    be the largest jitter of the steady feed, at any moment of the window.)"""
    before = [n for t, n in lag if fault_at - 20 <= t < fault_at]
    level = (statistics.median(before) if before else 0) + RATE
    after = [(t, n) for t, n in lag if t > fault_at]
    if not after:
        return None
    peak = max(range(len(after)), key=lambda i: after[i][1] if after[i][0] < fault_at + 30 else -1)
    if after[peak][1] <= level:
        return 0.0
    back = [t for t, n in after[peak:] if n <= level]
    return round(back[0] - fault_at, 1) if back else None


async def _inject_faults(supervisor: Supervisor, began: float, done: list[dict[str, Any]]) -> None:
    for at, fault in FAULTS:
        while time.monotonic() - began < at:
            supervisor.poll()
            await asyncio.sleep(0.2)
        if fault.startswith("kill"):
            os.kill(supervisor.workers("tag")[0].process.pid, signal.SIGKILL)
        else:
            supervisor.scale("totals", 3)
        done.append({"fault": fault, "at_s": at})
    while True:  # keep replacing crashed workers until the soak ends
        supervisor.poll()
        await asyncio.sleep(0.2)


@pytest.mark.timeout(420)
async def test_soak_three_minutes_with_a_kill_and_a_rebalance(
    kafka: KafkaEndpoint, registry_url: str
) -> None:
    chaos = await chaos_copy(kafka, registry_url, "exactly-once")
    supervisor = chaos.supervisor({"tag": 2, "totals": 2})
    feed = Feed(chaos, RATE)
    samples = Samples()
    faults: list[dict[str, Any]] = []
    with running(supervisor):
        await started(supervisor, chaos.logs)
        began = time.monotonic()
        watchers = [
            asyncio.create_task(_watch_latency(chaos, feed, began, samples)),
            asyncio.create_task(_watch_lag(chaos, began, samples)),
            asyncio.create_task(_watch_processes(supervisor, began, samples)),
            asyncio.create_task(_inject_faults(supervisor, began, faults)),
        ]
        try:
            await drained(chaos, supervisor, asyncio.create_task(feed.run(orders(SOAK_S * RATE))))
        finally:
            for task in watchers:
                task.cancel()
            ended = await asyncio.gather(*watchers, return_exceptions=True)
    failed = [e for e in ended if not isinstance(e, asyncio.CancelledError)]
    assert not failed, f"a sampler failed, so its figures would be partial: {failed!r}"
    figures = await chaos.check(feed)
    lived = [p for p in samples.processes.values() if p and p[-1][0] - p[0][0] >= SOAK_S - 40]
    assert lived, "no worker process lived through the soak"
    rss_slopes = [round(_slope([(t, mb) for t, mb, _ in p]), 2) for p in lived]
    fd_slopes = [round(_slope([(t, float(n)) for t, _, n in p]), 2) for p in lived]
    for fault in faults:
        fault["recovery_s"] = _recovery(samples.lag, fault["at_s"])
    windows = _windows(samples.latency)
    p99s = [w["p99_ms"] for w in windows]
    record(
        "soak",
        {
            **figures.as_report(),
            "scenario": "7. soak, 3 min with a kill and a rebalance",
            "guarantee": "exactly-once",
            "rate": RATE,
            "latency_windows": windows,
            "rss_mb_per_min": rss_slopes,
            "open_files_per_min": fd_slopes,
            "faults": faults,
            "lag": [[round(t, 1), n] for t, n in samples.lag],  # both stages, every second
            "restarts": supervisor.restarts,
            "detail": f"p50 {statistics.median(s for _, s in samples.latency) * 1000:.0f} ms, "
            f"p99 per 15 s {min(p99s):.0f}-{max(p99s):.0f} ms; RSS "
            f"{max(rss_slopes, key=abs):+.1f} MB/min, files {max(fd_slopes, key=abs):+.1f}/min; "
            "lag back in " + " / ".join(f"{f['recovery_s']} s" for f in faults),
        },
    )
    assert figures.events_in == SOAK_S * RATE
    assert figures.damage(exactly=True) == {}
    assert len(faults) == len(FAULTS)
    assert all(s < 10 for s in rss_slopes), rss_slopes  # MB per minute: memory does not grow
    assert all(s < 1 for s in fd_slopes), fd_slopes  # descriptors per minute: none leak
    for fault in faults:
        assert fault["recovery_s"] is not None
        assert fault["recovery_s"] <= RECOVERY_LIMIT_S, fault
