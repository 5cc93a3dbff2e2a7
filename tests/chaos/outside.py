"""Driving the platform from outside, as a user does: the ``streamworks`` CLI in processes
of its own (``run`` supervising the chaos pipeline's workers, ``kafka up``/``down``)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from streamworks.ops.supervisor import Supervisor
from tests.chaos.harness import APP, INPUTS, Chaos, caught_up

__all__ = ["CLI", "RunProcess", "caught_up_under", "cli", "until"]

CLI = [sys.executable, "-m", "streamworks"]


def cli(*args: str, timeout: float = 240, codes: tuple[int, ...] = (0,)) -> str:
    """Run ``streamworks <args>``; return its output, or fail with it on an exit code not
    in ``codes``."""
    done = subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode in codes, f"streamworks {' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout


async def until(condition: Callable[[], bool], *, within_s: float, what: str) -> float:
    """Poll ``condition`` (every 50 ms) until it holds; return the seconds it took."""
    began = time.monotonic()
    while not condition():
        assert time.monotonic() - began < within_s, f"{what} not within {within_s:.0f} s"
        await asyncio.sleep(0.05)
    return time.monotonic() - began


class RunProcess:
    """``streamworks run`` of a chaos copy in a process of its own, output to ``log``."""

    def __init__(self, chaos: Chaos, pools: dict[str, int], state: Path, log: Path) -> None:
        self.chaos = chaos
        self.pools = pools
        self.log = log
        env = {
            **os.environ,
            **chaos.env,
            "STREAMWORKS_STATE_DIR": str(state),
            "STREAMWORKS_WORKERS": ",".join(f"{s}={n}" for s, n in pools.items()),
        }
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [*CLI, "run", APP], env=env, stdout=out, stderr=subprocess.STDOUT
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def starts(self, stage: str) -> int:
        """How many workers of ``stage`` logged their start (first assignment done)."""
        return self.output().count(f"worker of {stage} started")

    async def started(self, within_s: float = 90) -> float:
        """Wait until every worker of every pool started; fail if ``run`` exits first."""

        def ready() -> bool:
            assert self.process.poll() is None, f"streamworks run exited:\n{self.output()}"
            return all(self.starts(stage) >= size for stage, size in self.pools.items())

        return await until(ready, within_s=within_s, what="every worker of streamworks run")

    async def stop(self, within_s: float = 90) -> int:
        """SIGTERM ``run`` (its workers drain and commit); its exit code."""
        self.process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.to_thread(self.process.wait, within_s)
        finally:
            self.kill()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


async def caught_up_under(chaos: Chaos, run: RunProcess, within_s: float) -> None:
    """Wait until both stages committed all of their input, with ``run`` still running."""
    # ``run`` supervises the workers; this empty supervisor only takes caught_up's polls
    idle = Supervisor(APP, {})
    waiting = asyncio.create_task(caught_up(chaos, idle, INPUTS, within_s=within_s))
    while not waiting.done():
        if run.process.poll() is not None:
            waiting.cancel()
            raise AssertionError(f"streamworks run exited:\n{run.output()}")
        await asyncio.wait({waiting}, timeout=0.5)
    waiting.result()
