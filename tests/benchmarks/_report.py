"""Writing benchmark results: a JSON file and a Markdown table under results/.

Also the parts harnesses share: running a contender process, interleaving rounds, medians.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).with_name("results")


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    import os  # noqa: PLC0415

    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def write(name: str, data: dict[str, Any], table: str) -> Path:
    """Write ``results/<name>.json`` and ``results/<name>.md``; return the JSON path."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    (RESULTS / f"{name}.md").write_text(table + "\n")
    return path


def interleaved(names: tuple[str, ...], rounds: int) -> list[tuple[int, str]]:
    """``(round, name)`` pairs: every name once a round, each round starting one name later."""
    return [
        (round_, names[(round_ + i) % len(names)])
        for round_ in range(rounds)
        for i in range(len(names))
    ]


def medians(
    runs: dict[str, list[dict[str, Any]]],
    keys: tuple[str, ...] = ("events_per_s", "cpu_s", "rss_mb"),
) -> dict[str, dict[str, Any]]:
    """Each contender's median of ``keys`` over its runs, with ``runs`` (how many)."""
    return {
        name: {key: statistics.median(r[key] for r in results) for key in keys}
        | {"runs": len(results)}
        for name, results in runs.items()
        if results
    }


def run_contender(module: str, name: str, options: dict[str, str]) -> dict[str, Any]:
    """Run ``python -m module name --option value ...``; return its last JSON line."""
    command = [sys.executable, "-m", module, name]
    for option, value in options.items():
        command += [f"--{option}", value]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{name} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


@contextmanager
def broker_and_registry() -> Iterator[tuple[str, str]]:
    """A fresh one-node local broker and a registry on it: ``(bootstrap servers, registry url)``.

    ``STREAMWORKS_BENCH_BOOTSTRAP`` and ``STREAMWORKS_BENCH_REGISTRY`` name a running broker
    and registry instead, for quick runs while developing.
    """
    existing = os.environ.get("STREAMWORKS_BENCH_BOOTSTRAP")
    if existing:
        yield existing, os.environ["STREAMWORKS_BENCH_REGISTRY"]
        return
    from streamworks.ops.kafka import LocalCluster  # noqa: PLC0415
    from streamworks.ops.kafka._process import free_port_block  # noqa: PLC0415
    from streamworks.testing.registry import RegistryThread  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as scratch:
        cluster = LocalCluster.plan(Path(scratch), nodes=1, port=free_port_block(2), heap="1g")
        cluster.start()
        try:
            with RegistryThread(cluster.bootstrap_servers) as registry:
                yield cluster.bootstrap_servers, registry.url
        finally:
            cluster.stop()
