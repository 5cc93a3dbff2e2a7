"""Registry latency: register (a new schema, through the Kafka log) and lookups, p50/p99.

Run with ``make bench`` or ``python -m tests.benchmarks.registry``. Starts its own local
Kafka node and an in-process registry; clients are our RegistryClient over HTTP/1.1.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from streamworks.ops.kafka import LocalCluster
from streamworks.ops.kafka._process import free_port_block
from streamworks.schemas.registry_client import RegistryClient
from streamworks.testing.registry import RegistryThread
from tests.benchmarks._report import machine, write

REGISTRATIONS = 200
LOOKUPS = 1_000


def _schema(n: int) -> str:
    return json.dumps(
        {"type": "record", "name": f"Bench{n}", "fields": [{"name": "id", "type": "long"}]}
    )


def _timed(calls: int, call: Callable[[int], object]) -> dict[str, float]:
    samples = []
    for n in range(calls):
        started = time.perf_counter()
        call(n)
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return {
        "calls": calls,
        "p50_ms": round(statistics.median(samples), 3),
        "p99_ms": round(samples[int(len(samples) * 0.99) - 1], 3),
        "max_ms": round(samples[-1], 3),
    }


def main() -> int:
    with tempfile.TemporaryDirectory() as scratch:
        cluster = LocalCluster.plan(Path(scratch), nodes=1, port=free_port_block(2))
        cluster.start()
        try:
            with RegistryThread(cluster.bootstrap_servers) as registry:
                client = RegistryClient(registry.url)
                results: dict[str, Any] = {
                    "register_new_schema": _timed(
                        REGISTRATIONS, lambda n: client.register(f"bench-{n}-value", _schema(n))
                    ),
                    "lookup_schema_under_subject": _timed(
                        LOOKUPS,
                        lambda n: client.lookup(
                            f"bench-{n % REGISTRATIONS}-value", _schema(n % REGISTRATIONS)
                        ),
                    ),
                    "get_latest_version": _timed(
                        LOOKUPS, lambda n: client.latest(f"bench-{n % REGISTRATIONS}-value")
                    ),
                }
        finally:
            cluster.stop()
    table = "\n".join(
        [
            "| operation | calls | p50 ms | p99 ms | max ms |",
            "|---|---:|---:|---:|---:|",
            *(
                f"| {name} | {r['calls']} | {r['p50_ms']} | {r['p99_ms']} | {r['max_ms']} |"
                for name, r in results.items()
            ),
        ]
    )
    path = write("registry", {"machine": machine(), "operations": results}, table)
    sys.stdout.write(table + f"\n\nwritten to {path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
