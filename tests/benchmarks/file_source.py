"""File source benchmark: lines/s from CSV and JSONL files of raw orders into Kafka.

Run with ``python -m tests.benchmarks.file_source``. Starts a local Kafka node and a
registry (or uses STREAMWORKS_BENCH_BOOTSTRAP and STREAMWORKS_BENCH_REGISTRY), writes one
CSV and one JSONL file of generated raw orders, then runs each contender in its own
process on a fresh three-partition topic:

- ``streamworks``: the ``files`` connector in a ConnectWorker, as ``streamworks connect``
  runs it (uvloop, at-least-once, acks=all idempotent, 1,000 lines a step): parsing,
  schema-checked conversion, a stored position per step;
- ``hand-rolled``: the loop one writes by hand: read the file, ``csv.DictReader`` or
  ``json.loads``, fastavro-encode against the same registered schema with the Confluent
  framing, ``send()`` with aiokafka (acks=all, idempotent), awaiting each 1,000 lines;
- ``quix``: Quix Streams' ``CSVSource`` (CSV only; it writes JSON, not Avro, and checks
  nothing against a schema; librdkafka producer with its defaults, acks=all).

The rate is measured by the harness from the topic's end offsets: lines over the time
between the first record's and the last record's arrival, so process start-up (Quix spawns
a process for its source) is not counted. CPU seconds are each contender process's
own, children included (Quix's source process); peak RSS is the main process's.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.benchmarks._report import broker_and_registry, interleaved, machine, medians, write

LINES = int(os.environ.get("STREAMWORKS_BENCH_FILE_LINES", "60000"))
ROUNDS = int(os.environ.get("STREAMWORKS_BENCH_ROUNDS", "2"))
CONTENDERS = (
    ("streamworks", "csv"),
    ("streamworks", "jsonl"),
    ("hand-rolled", "csv"),
    ("hand-rolled", "jsonl"),
    ("quix", "csv"),
)
_MODULE = "tests.benchmarks.file_source"
_STEP = 1_000


# -- the files ----------------------------------------------------------------------------------
def write_files(directory: Path, count: int) -> dict[str, Path]:
    """``count`` realistic raw orders as ``orders.csv`` and ``orders.jsonl``."""
    from streams.orders import OrderGenerator, orders_as_csv  # noqa: PLC0415
    from streamworks.connectors.base.documents import to_json  # noqa: PLC0415

    orders = list(OrderGenerator(seed=21).orders(count))
    paths = {"csv": directory / "csv" / "orders.csv", "jsonl": directory / "jsonl" / "orders.jsonl"}
    for path in paths.values():
        path.parent.mkdir()
    paths["csv"].write_text(orders_as_csv(orders), encoding="utf-8")
    with paths["jsonl"].open("w", encoding="utf-8") as out:
        out.writelines(to_json(o.to_avro()) + "\n" for o in orders)
    return paths


# -- the contenders (each in its own process) ---------------------------------------------------
def _run_streamworks(args: argparse.Namespace) -> None:
    import uvloop  # noqa: PLC0415

    from streamworks.connectors.base.worker import ConnectWorker  # noqa: PLC0415
    from streamworks.connectors.files import FileSourceConfig  # noqa: PLC0415
    from streamworks.core.settings import Settings  # noqa: PLC0415

    config = FileSourceConfig(
        name=f"bench-{args.topic}",
        topic=args.topic,
        directory=Path(args.file).parent,
        key_field="order_id",
        batch_lines=_STEP,
        exit_when_done=True,
        settle_s=0,
    )
    settings = Settings(bootstrap_servers=args.bootstrap, registry_url=args.registry)
    uvloop.run(ConnectWorker([config], settings).run())


def _run_hand_rolled(args: argparse.Namespace) -> None:
    import io  # noqa: PLC0415
    import struct  # noqa: PLC0415
    from datetime import datetime  # noqa: PLC0415

    import fastavro  # noqa: PLC0415
    import uvloop  # noqa: PLC0415
    from aiokafka import AIOKafkaProducer  # noqa: PLC0415

    from streamworks.schemas.registry_client import RegistryClient  # noqa: PLC0415

    latest = RegistryClient(args.registry).latest(f"{args.topic}-value")
    schema = fastavro.parse_schema(json.loads(latest.schema))
    header = struct.pack(">bI", 0, latest.schema_id)
    path = Path(args.file)

    def rows() -> Iterator[dict[str, Any]]:
        with path.open(encoding="utf-8", newline="") as f:
            if path.suffix == ".csv":
                for row in csv.DictReader(f):
                    yield {k: (v if v != "" or k == "order_id" else None) for k, v in row.items()}
            else:
                yield from (json.loads(line) for line in f if line.strip())

    async def main() -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=args.bootstrap, acks="all", enable_idempotence=True
        )
        await producer.start()
        pending = []
        try:
            for row in rows():
                row["received_at"] = datetime.fromisoformat(row["received_at"])
                out = io.BytesIO()
                out.write(header)
                fastavro.schemaless_writer(out, schema, row)
                key = row["order_id"].encode()
                pending.append(await producer.send(args.topic, out.getvalue(), key=key))
                if len(pending) >= _STEP:
                    await asyncio.gather(*pending)
                    pending = []
            await asyncio.gather(*pending)
        finally:
            await producer.stop()

    uvloop.run(main())


def _run_quix(args: argparse.Namespace) -> None:
    from quixstreams import Application  # noqa: PLC0415
    from quixstreams.sources import CSVSource  # noqa: PLC0415

    app = Application(broker_address=args.bootstrap, loglevel="WARNING")
    topic = app.topic(args.topic, value_serializer="json", key_serializer="str")
    source = CSVSource(args.file, name=f"bench-{args.topic}", key_extractor=_order_id)
    app.add_source(source, topic=topic)
    app.run()  # until the harness sends SIGTERM


def _order_id(row: dict[str, Any]) -> str:
    return str(row["order_id"])


# -- the harness --------------------------------------------------------------------------------
async def _prepare(bootstrap: str, registry: str, prefix: str) -> str:
    import schemas  # noqa: F401, PLC0415  (the reference project's contracts)
    from streamworks.schemas.catalog import contract  # noqa: PLC0415
    from streamworks.schemas.registry_client import RegistryClient  # noqa: PLC0415
    from streamworks.testing.helpers import TopicFactory  # noqa: PLC0415

    topic = await TopicFactory(bootstrap)(prefix, partitions=3)
    RegistryClient(registry).register(f"{topic}-value", json.dumps(contract("orders.raw").schema))
    return topic


async def _watch(
    bootstrap: str, topic: str, expected: int, process: subprocess.Popen[str]
) -> dict[str, float]:
    """Poll the topic's end offsets until ``expected`` records are in; time first to last."""
    from aiokafka import AIOKafkaConsumer, TopicPartition  # noqa: PLC0415

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        parts = [
            TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        first: tuple[float, int] | None = None
        deadline = time.monotonic() + 180
        while True:
            now = time.perf_counter()
            count = sum((await consumer.end_offsets(parts)).values())
            if count and first is None:
                first = (now, count)
            if count >= expected and first is not None:
                break
            if time.monotonic() > deadline or process.poll() not in (None, 0):
                raise RuntimeError(f"{count} of {expected} records arrived; the contender stopped")
            await asyncio.sleep(0.02)
        seconds = max(now - first[0], 1e-3)
        return {
            "records": count,
            "seconds": round(seconds, 3),
            "lines_per_s": round((count - first[1]) / seconds),
        }
    finally:
        await consumer.stop()


def measure(kafka: tuple[str, str], name: str, fmt: str, file: Path, run: str) -> dict[str, Any]:
    """One contender reading one file into a fresh topic; ``kafka`` is (bootstrap, registry)."""
    bootstrap, registry = kafka
    topic = asyncio.run(_prepare(bootstrap, registry, f"bench-files-{run}"))
    with tempfile.TemporaryDirectory() as scratch:  # a private copy: positions name the file
        private = Path(scratch) / file.name
        private.write_bytes(file.read_bytes())
        options = [
            "--file",
            str(private),
            "--topic",
            topic,
            "--bootstrap",
            bootstrap,
            "--registry",
            registry,
        ]
        process = subprocess.Popen(
            [sys.executable, "-m", _MODULE, f"run-{name}", *options],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            result = asyncio.run(_watch(bootstrap, topic, LINES, process))
        finally:
            if process.poll() is None and name == "quix":
                process.send_signal(signal.SIGTERM)
            out, _ = process.communicate(timeout=120)
    usage = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return result | (usage[-1] if usage else {"cpu_s": 0.0, "rss_mb": 0.0}) | {"format": fmt}


def _table(figures: dict[str, dict[str, Any]]) -> str:
    lines = [
        f"{LINES:,} raw orders per file; lines/s from the first to the last record in the topic.",
        "",
        "| contender | file | lines/s (median) | CPU s | peak RSS MB | vs hand-rolled |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for key, f in figures.items():
        name, fmt = key.split("/")
        peer = figures.get(f"hand-rolled/{fmt}", f)["lines_per_s"]
        lines.append(
            f"| {name} | {fmt} | {f['lines_per_s']:,.0f} | {f['cpu_s']:.2f} | {f['rss_mb']:.1f} | "
            f"{f['lines_per_s'] / peer:.2f} |"
        )
    return "\n".join(lines)


def main() -> int:
    """Every contender on both files, ROUNDS times interleaved."""
    names = tuple(f"{n}/{f}" for n, f in CONTENDERS)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory() as scratch, broker_and_registry() as (bootstrap, registry):
        files = write_files(Path(scratch), LINES)
        for round_, key in interleaved(names, ROUNDS):
            name, fmt = key.split("/")
            run = f"{name}-{fmt}-{round_}-{os.getpid()}"
            result = measure((bootstrap, registry), name, fmt, files[fmt], run)
            sys.stderr.write(f"round {round_ + 1} {key}: {result}\n")
            runs[key].append(result)
    figures = medians(runs, ("lines_per_s", "cpu_s", "rss_mb"))
    table = _table(figures)
    data = {"machine": machine(), "lines": LINES, "rounds": ROUNDS, "results": figures}
    path = write("file_source", data, table)
    sys.stdout.write(table + f"\n\nwritten to {path}\n")
    return 0


def _usage() -> None:
    """Report CPU seconds (children included) and own peak RSS as a JSON line."""
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    cpu = own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
    rss = 0.0  # VmHWM, not ru_maxrss: that one carries the harness's peak across fork+exec
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            rss = int(line.split()[1]) / 1024
    sys.stdout.write(json.dumps({"cpu_s": round(cpu, 2), "rss_mb": round(rss, 1)}) + "\n")


def _cli() -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {_MODULE}")
    parser.add_argument("command", nargs="?", default="bench")
    for option in ("file", "topic", "bootstrap", "registry"):
        parser.add_argument(f"--{option}")
    args = parser.parse_args()
    runners = {
        "run-streamworks": _run_streamworks,
        "run-hand-rolled": _run_hand_rolled,
        "run-quix": _run_quix,
    }
    if args.command in runners:
        runners[args.command](args)
        _usage()
        return 0
    return main()


if __name__ == "__main__":
    sys.exit(_cli())
