"""The supervisor restarts crashed workers, backing off when they die right away."""

from __future__ import annotations

from streamworks.ops.supervisor import Supervisor, pack
from streamworks.testing.helpers import wait_for

STAGE = "no-such-stage"  # not in the pipeline: every worker exits at once with an error


async def test_a_worker_that_dies_at_once_is_restarted_after_a_pause() -> None:
    supervisor = Supervisor("orders", {STAGE: 1})
    supervisor.start()
    try:

        def crashed() -> bool:
            supervisor.poll()
            return supervisor.restarts >= 1

        await wait_for(crashed, timeout=60, what="the first crash")
        assert supervisor.workers(STAGE) == []  # backing off: not restarted at once

        def replaced() -> bool:
            supervisor.poll()
            return len(supervisor.workers(STAGE)) == 1 or supervisor.restarts >= 2

        await wait_for(replaced, timeout=60, what="a replacement after the pause")
    finally:
        supervisor.stop(grace_seconds=5)


def test_packing_deals_workers_evenly_and_never_two_of_a_stage_into_one_process() -> None:
    pools = {"clean": 1, "format": 1, "validate": 2, "enrich": 1, "totals": 0}
    assert pack(pools, 1) == {("clean", "format", "validate", "enrich"): 1, ("validate",): 1}
    assert pack(pools, 2) == {("clean", "validate", "enrich"): 1, ("format", "validate"): 1}
    four = pack(pools, 4)
    assert sum(four.values()) == 4
    assert sorted(stage for unit, n in four.items() for stage in unit * n) == sorted(
        ["clean", "format", "validate", "validate", "enrich"]
    )
    assert all(len(set(unit)) == len(unit) for unit in four)
    assert pack({"a": 1}, 8) == {("a",): 1}  # no empty processes


def test_scaling_a_packed_stage_adds_and_removes_processes_of_its_own_only() -> None:
    # a pipeline that does not load: the processes it starts exit at once
    supervisor = Supervisor("no.such:pipeline", {"clean": 1, "format": 1}, processes=1)
    supervisor.scale("clean", 3)
    assert supervisor.pools == {"clean": 3, "format": 1}
    supervisor.stop(grace_seconds=5)
    supervisor.scale("clean", 0)  # cannot go below the packed worker
    assert supervisor.pools["clean"] == 1
    supervisor.stop(grace_seconds=5)
