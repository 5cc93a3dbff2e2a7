"""One stage-benchmark contender per process: ``python -m tests.benchmarks._contenders NAME``.

Every contender does the same work on the same records with the same codec: decode a raw
order (Confluent-framed Avro), clean it (``clean_order``), encode the clean order, and write
it to its own output topic with acks=all; then it commits its input offsets. It stops after
``--count`` records and prints one JSON line: events/s (first record in to last output
acknowledged), CPU seconds over the same span, and peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from schemas.records import CleanOrder, RawOrder
from streams.orders.rules import clean_order
from streamworks.schemas.codec import AvroCodec
from streamworks.schemas.registry_client import RegistryClient
from streamworks.schemas.typed import RecordCodec

if TYPE_CHECKING:
    import faust

Transform = Callable[[bytes], bytes]


class Meter:
    """Wall and CPU time from the first record to the end, and peak RSS."""

    def __init__(self) -> None:
        self.first: float | None = None
        self.cpu_first = 0.0

    def start_once(self) -> None:
        if self.first is None:
            self.first = time.perf_counter()
            self.cpu_first = time.process_time()

    def report(self, name: str, count: int) -> None:
        assert self.first is not None
        wall = time.perf_counter() - self.first
        figures = {
            "name": name,
            "events": count,
            "seconds": round(wall, 3),
            "events_per_s": round(count / wall),
            "cpu_s": round(time.process_time() - self.cpu_first, 2),
            "rss_mb": _peak_rss_mb(),
        }
        sys.stdout.write(json.dumps(figures) + "\n")
        sys.stdout.flush()


def _peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM): unlike ru_maxrss it is not inherited across exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def make_transform(registry_url: str, output: str) -> Transform:
    codec = AvroCodec(RegistryClient(registry_url))
    raw = RecordCodec(RawOrder, codec, register=False)
    clean = RecordCodec(CleanOrder, codec, subject=f"{output}-value")

    def transform(value: bytes) -> bytes:
        return clean.encode(clean_order(raw.decode(value)))

    return transform


def faust_app(args: argparse.Namespace, **settings: Any) -> tuple[faust.App, Any, Any]:
    """A faust app as its authors intend (acks=all), with raw-bytes input and output topics."""
    import faust  # noqa: PLC0415

    app = faust.App(
        args.group,
        broker=f"kafka://{args.bootstrap}",
        producer_acks=-1,
        web_enabled=False,
        consumer_auto_offset_reset="earliest",
        topic_partitions=2,
        datadir=tempfile.mkdtemp(prefix="bench-faust-"),
        **settings,
    )
    source = app.topic(
        args.input, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )
    sink = app.topic(args.output, key_serializer="raw", value_serializer="raw")
    return app, source, sink


def quix_app(args: argparse.Namespace, **settings: Any) -> tuple[Any, Any, Any]:
    """A Quix Streams application (at-least-once, acks=all) with bytes input and output."""
    from quixstreams import Application  # noqa: PLC0415

    app = Application(
        broker_address=args.bootstrap,
        consumer_group=args.group,
        auto_offset_reset="earliest",
        processing_guarantee="at-least-once",
        producer_extra_config={"acks": "all"},
        state_dir=tempfile.mkdtemp(prefix="bench-quix-"),
        **settings,
    )
    source = app.topic(args.input, value_deserializer="bytes", key_deserializer="bytes")
    sink = app.topic(args.output, value_serializer="bytes", key_serializer="bytes")
    return app, source, sink


Contender = Callable[[argparse.Namespace, Meter], Any]


def contender_main(contenders: dict[str, Contender]) -> None:
    """Run the contender the harness names (async ones on uvloop); print its figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("name", choices=sorted(contenders))
    for option in ("input", "output", "group", "bootstrap", "registry"):
        parser.add_argument(f"--{option}", required=True)
    parser.add_argument("--count", type=int, required=True)
    args = parser.parse_args()
    meter = Meter()
    outcome = contenders[args.name](args, meter)
    if asyncio.iscoroutine(outcome):
        import uvloop  # noqa: PLC0415

        uvloop.run(outcome)
    meter.report(args.name, args.count)


async def raw_aiokafka(args: argparse.Namespace, meter: Meter) -> None:
    """The Python ceiling: getmany batches, unawaited sends, commit after a flush each second."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # noqa: PLC0415

    transform = make_transform(args.registry, args.output)
    consumer = AIOKafkaConsumer(
        args.input,
        bootstrap_servers=args.bootstrap,
        group_id=args.group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=500,
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=args.bootstrap, acks="all", enable_idempotence=True, linger_ms=5
    )
    await consumer.start()
    await producer.start()
    done = 0
    last_commit = time.monotonic()
    try:
        while done < args.count:
            batches = await consumer.getmany(timeout_ms=200, max_records=500)
            for records in batches.values():
                meter.start_once()
                for r in records:
                    await producer.send(args.output, transform(r.value), key=r.key)
                done += len(records)
            if time.monotonic() - last_commit > 1 or done >= args.count:
                await producer.flush()
                await consumer.commit()
                last_commit = time.monotonic()
    finally:
        await producer.stop()
        await consumer.stop()


async def faust_agent(args: argparse.Namespace, meter: Meter) -> None:
    """A plain faust-streaming agent: one event at a time, sends through faust's producer."""
    transform = make_transform(args.registry, args.output)
    app, source, sink = faust_app(args)
    finished = asyncio.Event()
    seen = 0

    @app.agent(source)
    async def clean(stream: Any) -> None:
        nonlocal seen
        async for event in stream.events():
            meter.start_once()
            await sink.send(key=event.key, value=transform(event.value))
            seen += 1
            if seen >= args.count:
                finished.set()

    await app.start()
    await finished.wait()
    await app.producer.flush()
    await app.stop()


def quix(args: argparse.Namespace, meter: Meter) -> None:
    """A Quix Streams application: a StreamingDataFrame applying the same transform."""
    transform = make_transform(args.registry, args.output)
    app, source, sink = quix_app(args, auto_create_topics=False)
    seen = 0

    def step(value: bytes) -> bytes:
        nonlocal seen
        meter.start_once()
        seen += 1
        if seen >= args.count:
            app.stop()
        return transform(value)

    app.dataframe(source).apply(step).to_topic(sink)
    app.run()


async def streamworks_stage(args: argparse.Namespace, meter: Meter) -> None:
    """A streamworks stage: the same function, run by our worker."""
    from streamworks.core.settings import Settings  # noqa: PLC0415
    from streamworks.pipeline.graph import Pipeline, TopicSpec  # noqa: PLC0415
    from streamworks.runtime.worker import StageWorker  # noqa: PLC0415

    pipeline = Pipeline(args.group, topics=[TopicSpec(args.input, RawOrder, 2, external=True)])

    finished = asyncio.Event()
    seen = 0

    @pipeline.stage(
        "clean", inputs=args.input, input_type=RawOrder, outputs={args.output: CleanOrder}
    )
    async def clean(order: RawOrder) -> CleanOrder:
        nonlocal seen
        meter.start_once()
        seen += 1
        if seen >= args.count:
            finished.set()
        return clean_order(order)

    settings = Settings(bootstrap_servers=args.bootstrap, registry_url=args.registry)
    worker = StageWorker(pipeline, "clean", settings, AvroCodec(RegistryClient(args.registry)))

    async def stop_when_done() -> None:
        await finished.wait()
        worker.stop()  # the batch in flight is sent, acknowledged and committed first

    await asyncio.gather(worker.run(), stop_when_done())


def main() -> None:
    contender_main(
        {
            "raw-aiokafka": raw_aiokafka,
            "faust": faust_agent,
            "quixstreams": quix,
            "streamworks": streamworks_stage,
        }
    )


if __name__ == "__main__":
    main()
