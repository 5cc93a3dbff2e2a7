"""Scenario 1: kill -9 a worker at 20, 50 and 80% of 20,000 orders, under both guarantees.

Two workers per stage; the kills alternate between the pass-through stage and the running
totals. Per kill the report has the stage, how many outputs were ahead of the committed
offsets (what at-least-once may repeat), and the seconds until every partition of the
stage progressed again (the dead member leaves the group after its session timeout).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import Any

import pytest

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
    recovery_seconds,
    running,
    started,
)

ORDERS = 20_000
RATE = 500
"""Orders per second: 40 s of feed, so each kill recovers before the next one."""
KILLS = ((0.2, "tag"), (0.5, "totals"), (0.8, "tag"))
OUTPUT = {"tag": "tagged", "totals": "totals"}


async def _ahead_of_commits(chaos: Chaos, stage: str) -> int:
    """Outputs of ``stage`` beyond its committed inputs: the most a restart can repeat.

    Exact for the pass-through (input partition p writes output partition p, one record
    per record); an upper bound once earlier repeats are in the output.
    """
    done = await committed(chaos.settings, chaos.group(stage))
    written = await end_offsets(chaos.settings, f"{chaos.name}.{OUTPUT[stage]}", chaos.partitions)
    return sum(
        max(0, end - done.get(tp._replace(topic=f"{chaos.name}.{INPUTS[stage]}"), 0))
        for tp, end in written.items()
    )


@pytest.mark.timeout(420)
@pytest.mark.parametrize("guarantee", ["exactly-once", "at-least-once"])
async def test_kill_9_at_20_50_and_80_percent(
    kafka: KafkaEndpoint, registry_url: str, guarantee: str
) -> None:
    chaos = await chaos_copy(kafka, registry_url, guarantee)
    supervisor = chaos.supervisor({"tag": 2, "totals": 2})
    feed = Feed(chaos, RATE)
    kills: list[dict[str, Any]] = []
    began = time.monotonic()
    with running(supervisor):
        await started(supervisor, chaos.logs)
        feeding = asyncio.create_task(feed.run(orders(ORDERS)))
        for share, stage in KILLS:
            while len(feed.sent) < share * ORDERS:
                supervisor.poll()
                await asyncio.sleep(0.05)
            assert not feeding.done(), f"the feed ended before the kill at {share:.0%}"
            ahead = await _ahead_of_commits(chaos, stage)
            victim = supervisor.workers(stage)[0].process
            os.kill(victim.pid, signal.SIGKILL)
            killed = time.monotonic()
            recovery = await recovery_seconds(
                chaos,
                stage,
                f"{chaos.name}.{INPUTS[stage]}",
                since=killed,
                supervisor=supervisor,
                within_s=90,
            )
            kills.append(
                {"at": share, "stage": stage, "ahead_of_commits": ahead, "recovery_s": recovery}
            )
        await drained(chaos, supervisor, feeding)
    figures = await chaos.check(feed)
    bound = sum(k["ahead_of_commits"] for k in kills if k["stage"] == "tag")
    record(
        f"worker-crashes-{guarantee}",
        {
            **figures.as_report(),
            "scenario": "1. kill -9 at 20/50/80%",
            "guarantee": guarantee,
            "detail": "recovery "
            + " / ".join(f"{k['recovery_s']:.1f}" for k in kills)
            + " s"
            + ("" if chaos.exactly_once else f"; duplicates bound {bound:,}"),
            "kills": kills,
            "duplicate_bound": bound,
            "restarts": supervisor.restarts,
            "seconds": round(time.monotonic() - began, 1),
        },
    )
    assert supervisor.restarts >= len(KILLS)
    assert figures.events_in == ORDERS
    assert figures.damage(exactly=chaos.exactly_once) == {}
    if not chaos.exactly_once:
        assert figures.duplicated <= bound
