"""One benchmark contender per process: ``python -m tests.benchmarks._contenders NAME``.

Every stage contender does the same work on the same records (a workload of
:mod:`tests.benchmarks._stage_work`): decode an order (Confluent-framed Avro), drop some,
change it, encode it and write it to its own output topic with acks=all and idempotence;
its input offsets are committed only after its outputs are acknowledged (at-least-once).

With ``--count N`` it stops after N input records and prints one JSON line: events/s (first
record in to last output acknowledged), the steady rate (from the 10% to the 90% record,
start-up and the final flush left out), CPU microseconds per event over both spans, and peak
RSS. With ``--count 0`` it runs until killed: the latency harness measures it from outside.
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

from tests.benchmarks._stage_work import WORKLOADS, make_transform, stage_types

if TYPE_CHECKING:
    import faust

    from streamworks.core.settings import KafkaClient

_STEADY_FROM = 0.1
_STEADY_TO = 0.9
FIRST_RECORD = "bench: first record"
COMMIT_INTERVAL_S = 1.0
"""How often the hand-written loops flush their producer and commit (streamworks: 0.2 s)."""


class Meter:
    """Wall and CPU time from the first record to the end, the steady span, and peak RSS."""

    def __init__(self, count: int = 0) -> None:
        self.first: float | None = None
        self.cpu_first = 0.0
        self.count = count
        self.seen = 0
        self._low = max(1, int(count * _STEADY_FROM))
        self._high = max(self._low + 1, int(count * _STEADY_TO))
        self._steady: list[tuple[float, float]] = []

    def start_once(self) -> None:
        if self.first is None:
            self.first = time.perf_counter()
            self.cpu_first = time.process_time()
            sys.stderr.write(FIRST_RECORD + "\n")  # the profiler attaches on this line
            sys.stderr.flush()

    def tick(self) -> bool:
        """One input record handled; True once ``count`` of them were (never with count 0)."""
        if self.first is None:
            self.start_once()
        self.seen += 1
        if self.seen in (self._low, self._high):
            self._steady.append((time.perf_counter(), time.process_time()))
        return self.seen == self.count

    def report(self, name: str, count: int) -> None:
        assert self.first is not None
        wall = time.perf_counter() - self.first
        cpu = time.process_time() - self.cpu_first
        figures: dict[str, Any] = {
            "name": name,
            "events": count,
            "seconds": round(wall, 3),
            "events_per_s": round(count / wall),
            "cpu_s": round(cpu, 2),
            "cpu_us_per_event": round(cpu / count * 1e6, 1),
            "rss_mb": _peak_rss_mb(),
        }
        if len(self._steady) == 2:
            (wall_low, cpu_low), (wall_high, cpu_high) = self._steady
            span = self._high - self._low
            figures["steady_events_per_s"] = round(span / (wall_high - wall_low))
            figures["steady_cpu_us_per_event"] = round((cpu_high - cpu_low) / span * 1e6, 1)
        sys.stdout.write(json.dumps(figures) + "\n")
        sys.stdout.flush()


def _peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM): unlike ru_maxrss it is not inherited across exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def faust_app(args: argparse.Namespace, **settings: Any) -> tuple[faust.App, Any, Any]:
    """A faust app as its authors intend (acks=all), with raw-bytes input and output topics."""
    import faust  # noqa: PLC0415

    app = faust.App(
        args.group,
        broker=f"kafka://{args.bootstrap}",
        producer_acks=-1,
        web_enabled=False,
        consumer_auto_offset_reset="earliest",
        topic_partitions=args.partitions,
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
    parser.add_argument("--count", type=int, required=True, help="0: run until killed")
    parser.add_argument("--workload", choices=WORKLOADS, default="orders")
    parser.add_argument("--partitions", type=int, default=4)
    args = parser.parse_args()
    meter = Meter(args.count)
    outcome = contenders[args.name](args, meter)
    if asyncio.iscoroutine(outcome):
        import uvloop  # noqa: PLC0415

        uvloop.run(outcome)
    meter.report(args.name, args.count)


def confluent_loop(args: argparse.Namespace, meter: Meter) -> None:
    """The practical ceiling: librdkafka's consumer and producer (their own threads) driven
    by a plain loop; flush and a synchronous commit each second."""
    from confluent_kafka import Consumer, KafkaException, Producer  # noqa: PLC0415

    transform = make_transform(args.workload, args.registry, args.output)
    consumer = Consumer(
        {
            "bootstrap.servers": args.bootstrap,
            "group.id": args.group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "socket.nagle.disable": True,  # librdkafka leaves Nagle on; asyncio turns it off
        }
    )
    producer = Producer(
        {
            "bootstrap.servers": args.bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 5,
            "socket.nagle.disable": True,
        }
    )
    consumer.subscribe([args.input])
    last_commit = time.monotonic()
    finished = False
    try:
        while not finished:
            # consume() waits for all 500 or the timeout: wait for the first record only
            first = consumer.poll(0.2)
            messages = [] if first is None else [first, *consumer.consume(499, timeout=0)]
            for message in messages:
                if message.error():
                    raise KafkaException(message.error())
                finished = meter.tick() or finished
                value = transform(message.value())
                if value is None:
                    continue
                while True:
                    try:
                        producer.produce(args.output, value, key=message.key())
                        break
                    except BufferError:  # its queue is full: let it deliver some
                        producer.poll(0.01)
            producer.poll(0)
            if messages and (time.monotonic() - last_commit > COMMIT_INTERVAL_S or finished):
                producer.flush()
                consumer.commit(asynchronous=False)
                last_commit = time.monotonic()
    finally:
        consumer.close()


async def aiokafka_loop(args: argparse.Namespace, meter: Meter) -> None:
    """The asyncio ceiling: getmany batches, unawaited sends, a flush and commit each second."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # noqa: PLC0415

    transform = make_transform(args.workload, args.registry, args.output)
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
    last_commit = time.monotonic()
    finished = False
    try:
        while not finished:
            batches = await consumer.getmany(timeout_ms=200, max_records=500)
            for records in batches.values():
                for r in records:
                    finished = meter.tick() or finished
                    value = transform(r.value)
                    if value is not None:
                        await producer.send(args.output, value, key=r.key)
            if batches and (time.monotonic() - last_commit > COMMIT_INTERVAL_S or finished):
                await producer.flush()
                await consumer.commit()
                last_commit = time.monotonic()
    finally:
        await producer.stop()
        await consumer.stop()


async def faust_agent(args: argparse.Namespace, meter: Meter) -> None:
    """A plain faust-streaming agent: one event at a time, sends through faust's producer."""
    transform = make_transform(args.workload, args.registry, args.output)
    app, source, sink = faust_app(args)
    finished = asyncio.Event()

    @app.agent(source)
    async def stage(stream: Any) -> None:
        async for event in stream.events():
            if meter.tick():
                finished.set()
            value = transform(event.value)
            if value is not None:
                await sink.send(key=event.key, value=value)

    await app.start()
    await finished.wait()
    await app.producer.flush()
    await app.stop()


def quix(args: argparse.Namespace, meter: Meter) -> None:
    """A Quix Streams application: a StreamingDataFrame applying the transform, then a filter."""
    transform = make_transform(args.workload, args.registry, args.output)
    app, source, sink = quix_app(args, auto_create_topics=False)

    def step(value: bytes) -> bytes | None:
        if meter.tick():
            app.stop()  # Quix flushes and commits what it processed
        return transform(value)

    frame = app.dataframe(source).apply(step)
    frame = frame.filter(lambda value: value is not None)
    frame.to_topic(sink)
    app.run()


async def streamworks_stage(
    args: argparse.Namespace, meter: Meter, client: KafkaClient = "librdkafka"
) -> None:
    """A streamworks stage on the public API: ``run_pipeline`` runs its worker in-process.

    ``client`` is the Kafka client under the worker (the default, librdkafka, or aiokafka).
    """
    from streamworks import Pipeline, Settings, TopicSpec, run_pipeline  # noqa: PLC0415

    input_type, output_type, work = stage_types(args.workload)
    pipeline = Pipeline(
        args.group,
        topics=[
            TopicSpec(args.input, input_type, args.partitions, external=True),
            TopicSpec(args.output, output_type, args.partitions, external=True),
        ],
    )
    finished = asyncio.Event()

    @pipeline.stage(
        "stage", inputs=args.input, input_type=input_type, outputs={args.output: output_type}
    )
    async def stage(order: Any) -> Any:
        if meter.tick():
            finished.set()
        return await work(order)

    settings = Settings(
        bootstrap_servers=args.bootstrap, registry_url=args.registry, kafka_client=client
    )
    async with run_pipeline(pipeline, settings):
        await finished.wait()
    # leaving the block drains the batch in flight: acknowledged and committed


async def streamworks_on_aiokafka(args: argparse.Namespace, meter: Meter) -> None:
    """The same streamworks stage with aiokafka under its worker, for the client's share."""
    await streamworks_stage(args, meter, client="aiokafka")


def main() -> None:
    contender_main(
        {
            "confluent-kafka": confluent_loop,
            "aiokafka": aiokafka_loop,
            "faust": faust_agent,
            "quixstreams": quix,
            "streamworks": streamworks_stage,
            "streamworks-aiokafka": streamworks_on_aiokafka,
        }
    )


if __name__ == "__main__":
    main()
