"""``streamworks run`` killed with SIGKILL: its workers drain and end, none is left behind,
and the next ``run`` starts; while it runs, a second ``run`` is refused with one line."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from streamworks.core.settings import Settings
from streamworks.ops.status import collect_status
from streamworks.pipeline.graph import Pipeline
from streamworks.runtime.topics import ensure_topics
from streamworks.testing import unique_name, wait_for
from tests.kit.pipelines import slow_pipeline
from tests.kit.processes import alive, children, kill_all

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")

RUN = [sys.executable, "-m", "streamworks", "run", "tests.kit.pipelines:slow_from_env"]
POOL = 2


async def test_a_killed_run_leaves_no_worker_and_a_second_run_is_refused(
    kafka_settings: Settings, tmp_path: Path
) -> None:
    prefix = unique_name("orphans")
    pipeline = slow_pipeline(prefix)
    await ensure_topics(pipeline, kafka_settings)
    state = tmp_path / "state"
    env = {
        **os.environ,
        "STREAMWORKS_BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers,
        "STREAMWORKS_REGISTRY_URL": kafka_settings.registry_url,
        "STREAMWORKS_STATE_DIR": str(state),
        "STREAMWORKS_WORKERS": f"slow={POOL}",
        "KIT_PREFIX": prefix,
    }
    log = tmp_path / "first.log"
    first = _start(env, log)
    workers: list[int] = []
    try:
        await wait_for(
            lambda: _members(pipeline, kafka_settings, POOL), timeout=90, what="both workers"
        )
        workers = children(first.pid)
        assert len(workers) == POOL, log.read_text()

        second = await asyncio.to_thread(
            subprocess.run, RUN, env=env, capture_output=True, text=True, timeout=60, check=False
        )
        assert second.returncode == 1, second.stdout + second.stderr
        assert second.stderr.splitlines() == [
            f"error: pipeline {prefix} is already running from state directory {state} "
            f"(streamworks run, pid {first.pid}); stop it first (kill {first.pid}: its workers "
            "drain and commit)"
        ]
        assert await _members(pipeline, kafka_settings, POOL)  # not twice the workers

        first.send_signal(signal.SIGKILL)
        first.wait()
        await wait_for(
            lambda: not any(alive(pid) for pid in workers), timeout=15, what="no worker left"
        )
    finally:
        kill_all([first.pid, *workers])
        first.wait()
    output = log.read_text(errors="replace")
    # as on SIGTERM: each finished its batch, committed and left its group
    stopped = [line for line in output.splitlines() if line.startswith("worker of slow stopped")]
    assert len(stopped) == POOL, output

    again = _start(env, tmp_path / "again.log")  # the killed run's lock died with it
    try:
        await wait_for(
            lambda: _members(pipeline, kafka_settings, POOL), timeout=90, what="the next run"
        )
    finally:
        again.send_signal(signal.SIGTERM)  # drains its workers, then exits
        try:
            code = await asyncio.to_thread(again.wait, 90)
        finally:
            again.kill()
            again.wait()
    assert code == 0, (tmp_path / "again.log").read_text(errors="replace")


def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(RUN, env=env, stdout=out, stderr=subprocess.STDOUT)


async def _members(pipeline: Pipeline, settings: Settings, count: int) -> bool:
    """True when the stage's group has exactly ``count`` members."""
    return (await collect_status(pipeline, settings)).stage("slow").workers == count
