"""Scenario 3: a rebalance storm under load, with a zombie and a slow record in flight.

The ``tag`` pool (eight partitions) goes 1 -> 2 -> 4 -> 2 -> 1 workers while orders flow.
In the four-worker phase one ``tag`` and one ``totals`` worker are frozen with SIGSTOP past
their session timeout: the groups move their partitions on, and when SIGCONT wakes them,
whatever they still try to write or commit must be fenced, and they must carry on. In the
two-worker phase an order that takes ``SLOW_S`` seconds is in flight when its worker is
killed with -9: the records behind it finish first, but the committed offset must not pass
it, so it is processed after the restart.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from streamworks.kafka.clients import key_partitioner
from streamworks.ops.supervisor import Supervisor
from streamworks.testing import KafkaEndpoint
from tests.chaos.app import SLOW_CENTS, SLOW_S
from tests.chaos.harness import (
    Chaos,
    Feed,
    chaos_copy,
    drained,
    orders,
    record,
    running,
    started,
    starts,
)

ORDERS = 16_000
RATE = 320
"""50 s of feed for five steps, a 15 s freeze and a kill."""
PARTITIONS = 8
ZOMBIE_S = 15.0
"""How long the zombie stays frozen: past the 10 s session timeout."""
SLOW_AT = 0.72
"""Where in the feed the slow order is."""
_ASSIGNED = re.compile(r"\.tag assigned \[(.*)\]$")
_PARTITION = re.compile(r"partition=(\d+)")


def _log_of(pid: int) -> Path:
    """The log file a worker process writes (its stdout)."""
    return Path(f"/proc/{pid}/fd/1").readlink()


def _owned(pid: int) -> set[int]:
    """Partitions of the worker's latest assignment, from its log."""
    owned: set[int] = set()
    for line in _log_of(pid).read_text(errors="replace").splitlines():
        match = _ASSIGNED.search(line)
        if match:
            owned = {int(p) for p in _PARTITION.findall(match[1])}
    return owned


async def _at(share: float, feed: Feed, feeding: asyncio.Task[None], sup: Supervisor) -> None:
    """Wait until ``share`` of the orders are acknowledged (while the feed still runs)."""
    while len(feed.sent) < share * ORDERS:
        assert not feeding.done(), f"the feed ended before {share:.0%}"
        sup.poll()
        await asyncio.sleep(0.05)


async def _scale(chaos: Chaos, sup: Supervisor, size: int, steps: list[dict[str, Any]]) -> None:
    began = time.monotonic()
    before = starts(chaos.logs, ["tag"])["tag"]
    grows = size - len(sup.workers("tag"))
    sup.scale("tag", size)
    if grows > 0:
        await started(sup, chaos.logs, {"tag": before + grows})
    steps.append({"step": f"tag -> {size}", "s": round(time.monotonic() - began, 1)})


async def _zombies(sup: Supervisor, steps: list[dict[str, Any]]) -> None:
    """Freeze the oldest worker of each stage past its session timeout, then wake them.

    The oldest: scaling down drains the newest, so the zombies live on after they wake.
    """
    victims = [sup.workers(stage)[0].process for stage in ("tag", "totals")]
    for victim in victims:
        os.kill(victim.pid, signal.SIGSTOP)
    try:
        deadline = time.monotonic() + ZOMBIE_S
        while time.monotonic() < deadline:
            sup.poll()
            await asyncio.sleep(0.2)
    finally:
        for victim in victims:
            os.kill(victim.pid, signal.SIGCONT)
    steps.append({"step": f"SIGSTOP a tag and a totals worker {ZOMBIE_S:.0f} s", "s": ZOMBIE_S})


async def _kill_slow_owner(
    chaos: Chaos, sup: Supervisor, feed: Feed, slow_key: bytes, steps: list[dict[str, Any]]
) -> None:
    """Kill -9 the worker that holds the slow order, a little after it started on it."""
    while not [o for o in feed.sent if o.amount_cents == SLOW_CENTS]:
        sup.poll()
        await asyncio.sleep(0.05)
    await asyncio.sleep(SLOW_S / 4)  # in flight; the records behind it are done by now
    partition = key_partitioner(slow_key, list(range(PARTITIONS)), list(range(PARTITIONS)))
    deadline = time.monotonic() + 30  # a rebalance may still be settling
    while len(owners := [w for w in sup.workers("tag") if partition in _owned(w.process.pid)]) != 1:
        assert time.monotonic() < deadline, f"partition {partition} has {len(owners)} owners"
        sup.poll()
        await asyncio.sleep(0.1)
    victim = owners[0].process
    os.kill(victim.pid, signal.SIGKILL)
    while victim.poll() is None or victim in [w.process for w in sup.workers()]:
        sup.poll()  # reaped (and replaced) before any scaling can mistake it for a live one
        await asyncio.sleep(0.05)
    steps.append({"step": f"kill -9 the owner of the slow order (partition {partition})"})


@pytest.mark.timeout(420)
# exactly-once only, to keep CI under 40 minutes
@pytest.mark.parametrize("guarantee", ["exactly-once"])
async def test_rebalance_storm_with_a_zombie_and_a_slow_record(
    kafka: KafkaEndpoint, registry_url: str, guarantee: str
) -> None:
    chaos = await chaos_copy(kafka, registry_url, guarantee, partitions=PARTITIONS)
    supervisor = chaos.supervisor({"tag": 1, "totals": 2})
    batch = orders(ORDERS)
    slow_index = round(SLOW_AT * ORDERS)
    batch[slow_index] = replace(batch[slow_index], amount_cents=SLOW_CENTS)
    feed = Feed(chaos, RATE)
    steps: list[dict[str, Any]] = []
    began = time.monotonic()
    with running(supervisor):
        await started(supervisor, chaos.logs)
        feeding = asyncio.create_task(feed.run(batch))
        await _at(0.10, feed, feeding, supervisor)
        await _scale(chaos, supervisor, 2, steps)
        await _at(0.20, feed, feeding, supervisor)
        await _scale(chaos, supervisor, 4, steps)
        await _zombies(supervisor, steps)
        await _at(0.62, feed, feeding, supervisor)
        await _scale(chaos, supervisor, 2, steps)
        await _kill_slow_owner(
            chaos, supervisor, feed, batch[slow_index].customer_id.encode(), steps
        )
        await _at(0.88, feed, feeding, supervisor)
        await _scale(chaos, supervisor, 1, steps)
        await drained(chaos, supervisor, feeding)
    figures = await chaos.check(feed)
    seconds = round(time.monotonic() - began, 1)
    unexpected_exits = supervisor.restarts - 1  # the one kill -9
    record(
        f"rebalance-storm-{guarantee}",
        {
            **figures.as_report(),
            "scenario": "3. rebalance storm + zombie + slow record",
            "guarantee": guarantee,
            "steps": steps,
            "unexpected_exits": unexpected_exits,
            "seconds": seconds,
            "detail": f"tag 1-2-4-2-1 workers, two {ZOMBIE_S:.0f} s zombies, kill -9 mid slow "
            f"record; {unexpected_exits} unexpected exits",
        },
    )
    assert figures.events_in == ORDERS
    # lost 0 includes the slow order (no commit passed it); under exactly-once, no
    # duplicate includes the zombies' writes (they were fenced)
    assert figures.damage(exactly=chaos.exactly_once) == {}
    assert unexpected_exits == 0
