"""Scenario c (issue 21): kill -9 of the ``streamworks run`` supervisor, under load.

``streamworks run`` (the real CLI, four workers: two per stage) runs the chaos pipeline
while a feed sends 6,000 orders. At 40% of the feed the supervisor is killed with
SIGKILL. Its workers must not outlive it: none is left 15 s later (issue 21 found all of
them running with parent pid 1, and a second ``run`` doubled them); the figure is the
time until the last one exited. Then ``streamworks run`` again must start (the killed
run's lock died with it) and finish the pipeline: every acknowledged order out once.

Under exactly-once nothing may repeat. Under at-least-once a worker that drains on its
supervisor's death commits what it wrote, so repeats are bounded by the outputs ahead of
the committed offsets at the kill (the bound of scenario 1).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from streamworks.testing import KafkaEndpoint
from tests.chaos.harness import Feed, chaos_copy, orders, record
from tests.chaos.outside import RunProcess, caught_up_under, until
from tests.chaos.test_worker_crashes import _ahead_of_commits
from tests.kit.processes import alive, children, kill_all

ORDERS = 6_000
RATE = 300
"""Orders per second: 20 s of feed, the kill at 8 s."""
KILL_AT = 0.4
POOLS = {"tag": 2, "totals": 2}
NO_WORKER_AFTER_S = 15.0
"""Issue 21's bound: no worker of a killed supervisor is left after this long."""


@pytest.mark.timeout(300)
# one guarantee keeps CI short: the bound (no worker after 15 s) does not depend on it
@pytest.mark.parametrize("guarantee", ["exactly-once"])
async def test_kill_9_of_the_supervisor_leaves_no_worker(
    kafka: KafkaEndpoint, registry_url: str, guarantee: str, tmp_path: Path
) -> None:
    chaos = await chaos_copy(kafka, registry_url, guarantee)
    state = tmp_path / "state"
    feed = Feed(chaos, RATE)
    began = time.monotonic()
    first = RunProcess(chaos, POOLS, state, chaos.logs / "first-run.log")
    workers: list[int] = []
    try:
        await first.started()
        workers = children(first.process.pid)
        feeding = asyncio.create_task(feed.run(orders(ORDERS)))
        await until(lambda: len(feed.sent) >= KILL_AT * ORDERS, within_s=60, what="the feed")
        ahead = await _ahead_of_commits(chaos, "tag")
        os.kill(first.process.pid, signal.SIGKILL)
        first.process.wait()
        gone_s = await until(
            lambda: not any(alive(pid) for pid in workers),
            within_s=NO_WORKER_AFTER_S,
            what="no worker of the killed supervisor left",
        )
    finally:
        kill_all(workers)
        first.kill()
    drained = sum(
        line.startswith("worker of ") and " stopped: " in line
        for line in first.output().splitlines()
    )
    second = RunProcess(chaos, POOLS, state, chaos.logs / "second-run.log")
    try:
        restart_s = await second.started()
        await feeding
        await caught_up_under(chaos, second, within_s=120)
        code = await second.stop()
    finally:
        second.kill()
    figures = await chaos.check(feed)
    record(
        f"supervisor-kill-{guarantee}",
        {
            **figures.as_report(),
            "scenario": "c. kill -9 of streamworks run",
            "guarantee": guarantee,
            "detail": f"{len(workers)} workers gone {gone_s:.1f} s after the kill "
            f"({drained} drained); run again started its workers in {restart_s:.1f} s"
            + ("" if chaos.exactly_once else f"; duplicates bound {ahead:,}"),
            "workers": len(workers),
            "last_worker_gone_s": round(gone_s, 2),
            "workers_drained": drained,
            "second_run_started_s": round(restart_s, 1),
            "second_run_exit": code,
            "duplicate_bound": ahead,
            "seconds": round(time.monotonic() - began, 1),
        },
    )
    assert len(workers) == sum(POOLS.values())
    assert code == 0, second.output()
    assert figures.events_in == ORDERS
    assert figures.damage(exactly=chaos.exactly_once) == {}
    assert figures.duplicated <= ahead
