"""A worker never outlives its supervisor: real process trees whose parent is kill -9ed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from streamworks.testing import wait_for
from tests.kit.processes import alive, kill_all

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc, uses prctl")

PARENT = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", sys.argv[1], *sys.argv[2:]])
print(child.pid, flush=True)
time.sleep(600)
"""
"""Starts the child given as its first argument, prints its pid, and waits to be killed."""

BOUND = """
import os, sys, time
from streamworks.ops.lifeline import bind_to_parent
assert bind_to_parent(os.getppid())
print("bound", flush=True)
time.sleep(600)
"""
"""Asks to die with its parent, then sleeps: only the signal can end it in time."""

WATCHING = """
import asyncio, os, sys
from pathlib import Path
from streamworks.ops.lifeline import watch_parent

async def main():
    stopped = asyncio.Event()
    watch = asyncio.create_task(watch_parent(os.getppid(), stopped.set, every_s=0.05))
    print("watching", flush=True)
    await stopped.wait()
    Path(sys.argv[1]).write_text("drained")  # a worker finishes its batch and commits here
    watch.cancel()

asyncio.run(main())
"""
"""Watches its parent's pid (no prctl); once stopped, it drains and exits on its own."""

STUCK = """
import asyncio, os
from streamworks.ops.lifeline import watch_parent

async def main():
    watch = asyncio.create_task(watch_parent(os.getppid(), lambda: None, grace_s=0.5))
    print("watching", flush=True)
    await asyncio.sleep(600)  # a drain that never ends

asyncio.run(main())
"""
"""Watches its parent's pid but never drains: the watch ends it after the grace."""


def _tree(child: str, *args: str) -> tuple[subprocess.Popen[str], int]:
    """A parent process running ``child``; the parent, and the child's pid."""
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, child, *args], stdout=subprocess.PIPE, text=True
    )
    assert parent.stdout is not None
    return parent, int(parent.stdout.readline())


async def _kill_parent_and_wait(parent: subprocess.Popen[str], child: int, ready: str) -> None:
    assert parent.stdout is not None
    try:
        assert parent.stdout.readline().strip() == ready
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        await wait_for(lambda: not alive(child), timeout=15, what="the child to end")
    finally:
        kill_all([parent.pid, child])
        parent.wait()
        parent.stdout.close()


async def test_a_bound_child_is_stopped_when_its_parent_is_killed() -> None:
    parent, child = _tree(BOUND)
    await _kill_parent_and_wait(parent, child, "bound")


async def test_a_watching_child_drains_when_its_parent_is_killed(tmp_path: Path) -> None:
    done = tmp_path / "done"
    parent, child = _tree(WATCHING, str(done))
    await _kill_parent_and_wait(parent, child, "watching")
    assert done.read_text() == "drained"


def test_binding_to_a_parent_that_is_already_gone_says_so() -> None:
    check = "import sys; from streamworks.ops.lifeline import bind_to_parent as b; "
    check += "sys.exit(0 if b(1) is False else 3)"  # pid 1 is not this process's parent
    done = subprocess.run([sys.executable, "-c", check], check=False)
    assert done.returncode == 0


async def test_an_orphan_that_does_not_drain_exits_after_the_grace() -> None:
    parent, child = _tree(STUCK)
    await _kill_parent_and_wait(parent, child, "watching")


def test_a_worker_whose_supervisor_is_not_its_parent_does_not_start() -> None:
    worker = ["worker", "orders", "--stage", "clean", "--supervisor-pid", "1"]
    done = subprocess.run(
        [sys.executable, "-m", "streamworks", *worker],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"error: this worker's parent is pid {os.getpid()}, not its supervisor 1 "
        "(--supervisor-pid): the supervisor is gone or the pid is wrong; not starting"
    ]
