"""The supervisor restarts crashed workers, backing off when they die right away."""

from __future__ import annotations

from streamworks.ops.supervisor import Supervisor
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
