"""Exact recovery: kill -9 workers of an exactly-once aggregation three times mid-stream.

Two worker processes share a windowed count; each kill makes the partitions' state move to
whichever worker takes them (restored from the changelog, or from a warm standby copy).
The final windows must equal the batch truth, each emitted once. Per kill, the time until
every partition is restored again (rebalance included) and what the restores replayed land
in .cache/reports/aggregation-recovery.json.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from streamworks.core.settings import Settings
from streamworks.ops.supervisor import Supervisor
from streamworks.runtime.topics import ensure_topics
from streamworks.testing import KafkaEndpoint, consume_until, unique_name
from tests.integration.workers import decode_all, produce_records
from tests.kit.builders import EPOCH_MS, millis, reading
from tests.kit.pipelines import WINDOW_S, windows_pipeline
from tests.kit.records import WindowCount

REPORT = Path(".cache/reports/aggregation-recovery.json")
READINGS = 20_000
CHUNKS = 20
KILL_AFTER_CHUNKS = (5, 10, 15)
SENSORS = 200
GAP_MS = 20
_RESTORED = re.compile(
    r"^(?P<at>\S+ \S+) INFO streamworks\.state\.changelog: \S+ restored: (?P<records>\d+) records "
    r".* in (?P<seconds>[\d.]+) s$"
)

WindowKey = tuple[str, int]


def _truth() -> Counter[WindowKey]:
    size = WINDOW_S * 1000
    truth: Counter[WindowKey] = Counter()
    for n in range(READINGS):
        ms = EPOCH_MS + n * GAP_MS
        truth[(f"s{n % SENSORS}", ms - ms % size)] += 1
    return truth


def _restores(logs: Path) -> list[tuple[float, int, float]]:
    """(wall time, records, seconds) of every restore the workers logged."""
    found = []
    for path in logs.glob("*.log"):
        for line in path.read_text(errors="replace").splitlines():
            match = _RESTORED.match(line)
            if match:
                at = datetime.strptime(match["at"], "%Y-%m-%d %H:%M:%S,%f").timestamp()
                found.append((at, int(match["records"]), float(match["seconds"])))
    return sorted(found)


async def _taken_over(supervisor: Supervisor, logs: Path, killed_at: float) -> None:
    """Wait until both partitions were restored after the kill (the group settled again)."""
    deadline = time.monotonic() + 90
    while len([r for r in _restores(logs) if r[0] >= killed_at]) < 2:
        assert time.monotonic() < deadline, "no takeover within 90 s of the kill"
        supervisor.poll()
        await asyncio.sleep(0.2)


def _record(name: str, figures: dict[str, Any]) -> None:
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(REPORT.read_text()) if REPORT.exists() else {}
    data[name] = figures
    REPORT.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


@pytest.mark.parametrize("standby", [False, True], ids=["changelog", "standby"])
async def test_kill_9_three_times_keeps_every_window_exact(
    kafka: KafkaEndpoint, registry_url: str, tmp_path: Path, standby: bool
) -> None:
    bootstrap = kafka.bootstrap_servers
    name = unique_name("killagg")
    env = {
        "STREAMWORKS_BOOTSTRAP_SERVERS": bootstrap,
        "STREAMWORKS_REGISTRY_URL": registry_url,
        "STREAMWORKS_STATE_DIR": str(tmp_path / "state"),
        "KIT_PREFIX": name,
        "KIT_STANDBY": "1" if standby else "0",
    }
    settings = Settings(bootstrap_servers=bootstrap, registry_url=registry_url)
    await ensure_topics(windows_pipeline(name), settings)
    logs = tmp_path / "logs"
    supervisor = Supervisor(
        "tests.kit.pipelines:windows_from_env", {"windows": 2}, env=env, log_dir=logs
    )
    supervisor.start()
    kills: list[float] = []
    try:
        per_chunk = READINGS // CHUNKS
        for chunk in range(CHUNKS):
            batch = [
                reading(f"s{n % SENSORS}", n * GAP_MS)
                for n in range(chunk * per_chunk, (chunk + 1) * per_chunk)
            ]
            await produce_records(settings, f"{name}.in", batch, key=lambda r: r.sensor)
            supervisor.poll()
            if chunk + 1 in KILL_AFTER_CHUNKS:
                victim = supervisor.workers("windows")[len(kills) % 2].process
                os.kill(victim.pid, signal.SIGKILL)
                kills.append(time.time())
                await _taken_over(supervisor, logs, kills[-1])
            await asyncio.sleep(0.5)
        truth = _truth()

        async def settle() -> list[Any]:
            deadline = time.monotonic() + 240
            while True:
                supervisor.poll()
                try:
                    seen = await consume_until(
                        bootstrap, f"{name}.out", count=len(truth), timeout=5
                    )
                except AssertionError:
                    if time.monotonic() > deadline:
                        raise
                    continue
                return decode_all(registry_url, WindowCount, seen)

        emitted = await settle()
        await asyncio.sleep(3)  # a window emitted twice would show up by now
        emitted = decode_all(
            registry_url,
            WindowCount,
            await consume_until(bootstrap, f"{name}.out", count=len(emitted), timeout=10),
        )
    finally:
        supervisor.stop()

    windows = Counter((w.key, millis(w.start)) for w in emitted)
    twice = [key for key, n in windows.items() if n > 1]
    found = {(w.key, millis(w.start)): w.count for w in emitted}
    restores = _restores(logs)
    takeovers = []
    for killed_at, next_kill in zip(kills, [*kills[1:], float("inf")], strict=True):
        after = [r for r in restores if killed_at <= r[0] < next_kill]
        takeovers.append(
            {
                "all_partitions_back_s": round(max(at + s for at, _, s in after) - killed_at, 2),
                "restored_records": sum(records for _, records, _ in after),
                "restore_s": round(sum(s for *_, s in after), 3),
            }
        )
    _record(
        "standby" if standby else "changelog only",
        {
            "readings": READINGS,
            "windows": len(truth),
            "emitted": len(emitted),
            "emitted_twice": len(twice),
            "wrong": sum(1 for k, c in truth.items() if found.get(k) != c),
            "restarts": supervisor.restarts,
            "kills": takeovers,
        },
    )
    assert len(kills) == 3
    assert supervisor.restarts >= 3
    assert twice == []
    assert found == dict(truth)
