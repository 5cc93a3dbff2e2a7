"""Scenario 2: a rolling restart with SIGTERM under load: no duplicate, even at-least-once.

Each of the four workers (two per stage) is stopped in turn with SIGTERM, the way a
deployment rolls, and its replacement is waited for before the next one goes. A drained
worker finishes its in-flight records and commits them, and a worker that loses partitions
in the rebalance commits before giving them up, so nothing is read twice.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from streamworks.testing import KafkaEndpoint
from tests.chaos.harness import (
    Feed,
    chaos_copy,
    drained,
    orders,
    record,
    running,
    started,
    starts,
)

ORDERS = 12_000
RATE = 400
"""30 s of feed: one restart every 6 s."""
POOLS = {"tag": 2, "totals": 2}


@pytest.mark.timeout(300)
# exactly-once only, to keep CI under 40 minutes
@pytest.mark.parametrize("guarantee", ["exactly-once"])
async def test_rolling_restart_repeats_nothing(
    kafka: KafkaEndpoint, registry_url: str, guarantee: str
) -> None:
    chaos = await chaos_copy(kafka, registry_url, guarantee)
    supervisor = chaos.supervisor(POOLS)
    feed = Feed(chaos, RATE)
    began = time.monotonic()
    restarted: list[str] = []
    with running(supervisor):
        await started(supervisor, chaos.logs)
        feeding = asyncio.create_task(feed.run(orders(ORDERS)))
        originals = [(w.name, w.process.pid) for w in supervisor.workers()]
        for number, (stage, pid) in enumerate(originals, start=1):
            while len(feed.sent) < number * ORDERS / (len(originals) + 1):
                supervisor.poll()
                await asyncio.sleep(0.05)
            assert not feeding.done(), "the feed ended before the restarts did"
            before = starts(chaos.logs, [stage])[stage]
            os.kill(pid, signal.SIGTERM)
            await started(supervisor, chaos.logs, {stage: before + 1})
            restarted.append(stage)
        await drained(chaos, supervisor, feeding)
    figures = await chaos.check(feed)
    seconds = round(time.monotonic() - began, 1)
    record(
        f"rolling-restart-{guarantee}",
        {
            **figures.as_report(),
            "scenario": "2. rolling SIGTERM restart",
            "guarantee": guarantee,
            "restarted": restarted,
            "seconds": seconds,
            "detail": f"{len(restarted)} workers restarted one by one in {seconds:.0f} s",
        },
    )
    assert len(restarted) == len(originals)
    assert figures.events_in == ORDERS
    assert figures.damage(exactly=True) == {}  # nothing repeated, even at-least-once
