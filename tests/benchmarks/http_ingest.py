"""HTTP ingest benchmark: events/s through the HTTP source and through a hand-rolled peer.

Run with ``python -m tests.benchmarks.http_ingest``. Starts a local Kafka node and a
registry, then for each contender and each load shape starts the server in its own process,
drives it from a load-generator process on loopback, and stops it with SIGTERM:

- ``streamworks``: the ``http`` connector in a ConnectWorker, as ``streamworks connect``
  runs it (uvloop): schema-checked conversion, acks=all, answers after the acks;
- ``hand-rolled``: the typical service, aiohttp + aiokafka, orjson parsing, fastavro
  validate and encode against the same registered schema, acks=all (idempotent), one
  ``send()`` per record, answered after the acks.

Load shapes: (a) one JSON record per request, many requests in flight; (b) NDJSON batches of
1,000 records, a few in flight. Server, load generator and broker share the machine's CPUs,
so the figures are for this machine as a whole, not one core per process. Set
STREAMWORKS_BENCH_BOOTSTRAP and STREAMWORKS_BENCH_REGISTRY to use a running broker and
registry instead of starting them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.benchmarks._report import (
    broker_and_registry,
    interleaved,
    machine,
    medians,
    run_contender,
    write,
)

CONTENDERS = ("streamworks", "hand-rolled")
SHAPES: dict[str, dict[str, int]] = {
    "single": {"records": 1, "requests": 8_000, "concurrency": 64},
    "ndjson-1000": {"records": 1_000, "requests": 150, "concurrency": 4},
}
ROUNDS = int(os.environ.get("STREAMWORKS_BENCH_ROUNDS", "2"))
_MODULE = "tests.benchmarks.http_ingest"
_BASE_MS = 1_795_770_000_000


# -- the load generator (its own process) -------------------------------------------------
def _bodies(run: str, shape: dict[str, int]) -> list[bytes]:
    """Request bodies, made before the clock starts: raw orders with unique ids."""
    bodies = []
    for r in range(shape["requests"]):
        records = [
            {
                "order_id": f"{run}-{r}-{i}",
                "customer_id": f"c-{i % 97:05d}",
                "sku": f"SKU-{i % 50:04d}",
                "quantity": str(1 + i % 5),
                "amount": f"{10 + i % 90}.50",
                "currency": "EUR",
                "ordered_at": "2026-11-27T09:00:00Z",
                "source": "http",
                "received_at": _BASE_MS + i,
            }
            for i in range(shape["records"])
        ]
        if shape["records"] == 1:
            bodies.append(json.dumps(records[0]).encode())
        else:
            bodies.append(b"".join(json.dumps(v).encode() + b"\n" for v in records))
    return bodies


async def _load(url: str, shape: dict[str, int], run: str) -> dict[str, Any]:
    import aiohttp  # noqa: PLC0415

    bodies = _bodies(run, shape)
    kind = "application/json" if shape["records"] == 1 else "application/x-ndjson"
    queue = list(reversed(bodies))
    statuses: dict[int, int] = {}
    connector = aiohttp.TCPConnector(limit=shape["concurrency"])
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            while queue:
                body = queue.pop()
                headers = {"Content-Type": kind}
                async with session.post(url, data=body, headers=headers) as answer:
                    await answer.read()
                    statuses[answer.status] = statuses.get(answer.status, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(shape["concurrency"])))
        wall = time.perf_counter() - started
    events = statuses.get(202, 0) * shape["records"]
    return {
        "events": events,
        "seconds": round(wall, 3),
        "events_per_s": round(events / wall),
        "requests_per_s": round(len(bodies) / wall),
        "statuses": {str(k): v for k, v in statuses.items()},
    }


# -- the servers (each in its own process) ------------------------------------------------
def _serve_streamworks(args: argparse.Namespace) -> None:
    import uvloop  # noqa: PLC0415

    from streamworks.connectors.base.worker import ConnectWorker  # noqa: PLC0415
    from streamworks.connectors.http import HttpSourceConfig  # noqa: PLC0415
    from streamworks.core.settings import Settings  # noqa: PLC0415

    config = HttpSourceConfig(
        name=f"bench-{args.topic}", topic=args.topic, port=int(args.port), key_field="order_id"
    )
    settings = Settings(bootstrap_servers=args.bootstrap, registry_url=args.registry)

    async def main() -> None:
        worker = ConnectWorker([config], settings)
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, worker.drain)
        await worker.run()

    uvloop.run(main())


def _serve_hand_rolled(args: argparse.Namespace) -> None:
    import io  # noqa: PLC0415
    import struct  # noqa: PLC0415

    import fastavro  # noqa: PLC0415
    import orjson  # noqa: PLC0415
    import uvloop  # noqa: PLC0415
    from aiohttp import web  # noqa: PLC0415
    from aiokafka import AIOKafkaProducer  # noqa: PLC0415
    from fastavro.validation import validate  # noqa: PLC0415

    from streamworks.schemas.registry_client import RegistryClient  # noqa: PLC0415

    latest = RegistryClient(args.registry).latest(f"{args.topic}-value")
    schema = fastavro.parse_schema(json.loads(latest.schema))
    header = struct.pack(">bI", 0, latest.schema_id)

    async def main() -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=args.bootstrap, acks="all", enable_idempotence=True
        )
        await producer.start()

        async def ingest(request: web.Request) -> web.Response:
            body = await request.read()
            try:
                if request.content_type == "application/x-ndjson":
                    values = [orjson.loads(line) for line in body.splitlines() if line.strip()]
                else:
                    document = orjson.loads(body)
                    values = document if isinstance(document, list) else [document]
                encoded = []
                for value in values:
                    validate(value, schema, raise_errors=True)
                    out = io.BytesIO()
                    out.write(header)
                    fastavro.schemaless_writer(out, schema, value)
                    encoded.append((str(value["order_id"]).encode(), out.getvalue()))
            except (ValueError, TypeError, KeyError) as error:
                return web.json_response({"error": str(error)}, status=400)
            futures = [await producer.send(args.topic, v, key=k) for k, v in encoded]
            await asyncio.gather(*futures)
            return web.json_response({"accepted": len(encoded)}, status=202)

        app = web.Application(client_max_size=10 * 2**20)
        app.router.add_post("/topics/{topic}", ingest)

        async def health(request: web.Request) -> web.Response:
            return web.json_response({"status": "ok"})

        app.router.add_get("/health", health)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", int(args.port)).start()
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        await runner.cleanup()
        await producer.stop()

    uvloop.run(main())


# -- the harness ------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


async def _prepare(bootstrap: str, registry: str, prefix: str) -> str:
    import schemas  # noqa: F401, PLC0415  (the reference project's contracts)
    from streamworks.schemas.catalog import contract  # noqa: PLC0415
    from streamworks.schemas.registry_client import RegistryClient  # noqa: PLC0415
    from streamworks.testing.helpers import TopicFactory  # noqa: PLC0415

    topic = await TopicFactory(bootstrap)(prefix, partitions=3)
    RegistryClient(registry).register(f"{topic}-value", json.dumps(contract("orders.raw").schema))
    return topic


async def _in_topic(bootstrap: str, topic: str) -> int:
    from aiokafka import AIOKafkaConsumer, TopicPartition  # noqa: PLC0415

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        return sum((await consumer.end_offsets(partitions)).values())
    finally:
        await consumer.stop()


def _wait_healthy(port: int, server: subprocess.Popen[bytes], timeout: float = 60) -> None:
    import urllib.request  # noqa: PLC0415

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode} while starting")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the server did not answer /health in {timeout:.0f}s")


def measure(bootstrap: str, registry: str, name: str, shape_name: str, run: str) -> dict[str, Any]:
    """One contender under one load shape, on a fresh topic; server figures included."""
    topic = asyncio.run(_prepare(bootstrap, registry, f"bench-http-{run}"))
    port = _free_port()
    options = ["--port", str(port), "--topic", topic, "--bootstrap", bootstrap]
    command = [sys.executable, "-m", _MODULE, f"serve-{name}", *options, "--registry", registry]
    server = subprocess.Popen(command)
    try:
        _wait_healthy(port, server)
        cpu_before = _cpu_s(server.pid)
        url = f"http://127.0.0.1:{port}/topics/{topic}"
        result = run_contender(_MODULE, "load", {"url": url, "shape": shape_name, "run": run})
        result["cpu_s"] = round(_cpu_s(server.pid) - cpu_before, 2)
        result["rss_mb"] = _rss_mb(server.pid)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    result["in_topic"] = asyncio.run(_in_topic(bootstrap, topic))
    return result


def _table(figures: dict[str, dict[str, dict[str, Any]]]) -> str:
    lines = [
        "| load | contender | events/s (median) | requests/s | server CPU s | server RSS MB | "
        "vs hand-rolled |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for shape, by_name in figures.items():
        peer = by_name["hand-rolled"]["events_per_s"]
        for name, f in by_name.items():
            lines.append(
                f"| {shape} | {name} | {f['events_per_s']:,.0f} | {f['requests_per_s']:,.0f} | "
                f"{f['cpu_s']:.1f} | {f['rss_mb']:.0f} | {f['events_per_s'] / peer:.2f} |"
            )
    single, batches = SHAPES["single"], SHAPES["ndjson-1000"]
    lines += [
        "",
        f"single: {single['requests']:,} requests of one record, {single['concurrency']} in "
        f"flight; ndjson-1000: {batches['requests']} requests of 1,000 records, "
        f"{batches['concurrency']} in flight. Medians of {ROUNDS} interleaved rounds; server, "
        "load generator (aiohttp client, its own process) and the Kafka broker share the "
        "machine's CPUs. Server CPU s is the server process's CPU time during the load.",
    ]
    return "\n".join(lines)


def main() -> int:
    """Run every contender under every load shape, ROUNDS times interleaved."""
    figures: dict[str, dict[str, dict[str, Any]]] = {}
    with broker_and_registry() as (bootstrap, registry):
        for shape_name in SHAPES:
            runs: dict[str, list[dict[str, Any]]] = {name: [] for name in CONTENDERS}
            for round_, name in interleaved(CONTENDERS, ROUNDS):
                run = f"{shape_name}-{name}-{round_}-{os.getpid()}"
                result = measure(bootstrap, registry, name, shape_name, run)
                sys.stderr.write(f"{shape_name} round {round_ + 1} {name}: {result}\n")
                if result["in_topic"] != result["events"]:
                    raise RuntimeError(
                        f"{name}: {result['in_topic']} in the topic, not {result['events']}"
                    )
                runs[name].append(result)
            figures[shape_name] = medians(
                runs, ("events_per_s", "requests_per_s", "cpu_s", "rss_mb")
            )
    table = _table(figures)
    path = write("http_ingest", {"machine": machine(), "shapes": SHAPES, "results": figures}, table)
    sys.stdout.write(table + f"\n\nwritten to {path}\n")
    return 0


def _cli() -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {_MODULE}")
    parser.add_argument("command", nargs="?", default="bench")
    for option in ("port", "topic", "bootstrap", "registry", "url", "shape", "run"):
        parser.add_argument(f"--{option}")
    args = parser.parse_args()
    if args.command == "serve-streamworks":
        _serve_streamworks(args)
    elif args.command == "serve-hand-rolled":
        _serve_hand_rolled(args)
    elif args.command == "load":
        import uvloop  # noqa: PLC0415

        result = uvloop.run(_load(args.url, SHAPES[args.shape], args.run))
        sys.stdout.write(json.dumps(result) + "\n")
    else:
        return main()
    return 0


if __name__ == "__main__":
    sys.exit(_cli())
