"""One ``streamworks run`` per pipeline and state directory; a killed one never blocks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from streamworks.ops.run_lock import PipelineRunningError, lock_path, run_lock

HOLDER = """
import sys, time
from pathlib import Path
from streamworks.ops.run_lock import run_lock
with run_lock("orders", Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(600)
"""


def test_a_second_run_is_refused_naming_the_first(tmp_path: Path) -> None:
    with run_lock("orders", tmp_path):
        with pytest.raises(PipelineRunningError) as refused:
            with run_lock("orders", tmp_path):
                pass
    assert refused.value.pid == os.getpid()
    assert str(refused.value) == (
        f"pipeline orders is already running from state directory {tmp_path} "
        f"(streamworks run, pid {os.getpid()}); stop it first (kill {os.getpid()}: "
        "its workers drain and commit)"
    )


def test_other_pipelines_and_state_directories_are_not_held(tmp_path: Path) -> None:
    with run_lock("orders", tmp_path / "a"):
        with run_lock("orders", tmp_path / "b"), run_lock("payments", tmp_path / "a"):
            pass


def test_the_lock_is_free_again_once_the_run_ends(tmp_path: Path) -> None:
    with run_lock("orders", tmp_path) as path:
        assert path == lock_path("orders", tmp_path)
    assert path.read_text() == ""  # no stale pid left behind
    with run_lock("orders", tmp_path):
        pass


def test_a_run_killed_with_sigkill_never_blocks_the_next(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(PipelineRunningError, match=f"pid {holder.pid}\\)"):
            with run_lock("orders", tmp_path):
                pass
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    finally:
        holder.kill()
        holder.wait()
        assert holder.stdout is not None
        holder.stdout.close()
    with run_lock("orders", tmp_path):  # the kernel let go of the lock as the holder died
        pass


def test_the_run_command_refuses_with_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "STREAMWORKS_STATE_DIR": str(tmp_path)}
    with run_lock("orders", tmp_path):  # refused before it creates topics: no broker needed
        done = subprocess.run(
            [sys.executable, "-m", "streamworks", "run", "streams.orders.app:build"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"error: pipeline orders is already running from state directory {tmp_path} "
        f"(streamworks run, pid {os.getpid()}); stop it first (kill {os.getpid()}: its "
        "workers drain and commit)"
    ]
