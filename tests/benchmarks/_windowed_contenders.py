"""One windowed-count contender a process: ``python -m tests.benchmarks._windowed_contenders X``.

Every contender does the same work on the same records with the same codec: decode an
enriched order (Confluent-framed Avro), count it per (customer_id, 10 s tumbling window of
``ordered_at``), and when a partition's event time passes a window's end plus the grace
period, write one Avro ``WindowCount`` per key of that window to its own output topic with
acks=all; input offsets are committed as it goes. It stops after ``--count`` input records
(windows still open then are not emitted) and prints the figures line of
:class:`~tests.benchmarks._contenders.Meter`.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from schemas.records import EnrichedOrder, WindowCount
from streamworks.schemas.codec import AvroCodec
from streamworks.schemas.registry_client import RegistryClient
from streamworks.schemas.typed import RecordCodec
from tests.benchmarks._contenders import Meter, contender_main, faust_app, quix_app

WINDOW_MS = 10_000
"""Length of the tumbling windows."""
GRACE_MS = 3_000
"""How long after its end a window still takes late records."""


def window_start(timestamp_ms: int) -> int:
    """Start of the tumbling window holding ``timestamp_ms``."""
    return timestamp_ms - timestamp_ms % WINDOW_MS


def closes(start: int, watermark: int) -> bool:
    """Whether the window starting at ``start`` is closed once event time reaches ``watermark``.

    The same rule as Quix Streams' ``final()``: closed when ``end + grace <= watermark``.
    """
    return start + WINDOW_MS + GRACE_MS <= watermark


class Codecs:
    """The shared codec: enriched orders in, window counts out."""

    def __init__(self, registry_url: str, output: str) -> None:
        codec = AvroCodec(RegistryClient(registry_url))
        self._orders = RecordCodec(EnrichedOrder, codec, register=False)
        self._counts = RecordCodec(WindowCount, codec, subject=f"{output}-value")

    def read(self, value: bytes) -> tuple[str, int]:
        """The order's customer id and its ``ordered_at`` in epoch milliseconds."""
        order = self._orders.decode(value)
        return order.customer_id, round(order.ordered_at.timestamp() * 1000)

    def write(self, key: str, start: int, count: int) -> bytes:
        """The framed ``WindowCount`` of ``key`` in the window starting at ``start``."""
        begin = datetime.fromtimestamp(start / 1000, UTC)
        end = datetime.fromtimestamp((start + WINDOW_MS) / 1000, UTC)
        return self._counts.encode(WindowCount(key, begin, end, count))


class OpenWindows:
    """One partition's event time (its watermark) and the keys of each window still open."""

    def __init__(self) -> None:
        self.watermark = 0
        self.keys: dict[int, set[str]] = {}

    def add(self, key: str, timestamp_ms: int) -> int:
        """Note a record; return the start of its window."""
        start = window_start(timestamp_ms)
        self.keys.setdefault(start, set()).add(key)
        self.watermark = max(self.watermark, timestamp_ms)
        return start

    def close(self) -> list[tuple[int, set[str]]]:
        """Remove and return, oldest first, the windows the watermark has closed."""
        done = sorted(start for start in self.keys if closes(start, self.watermark))
        return [(start, self.keys.pop(start)) for start in done]


def countdown(meter: Meter, count: int, done: Callable[[], object]) -> Callable[[], None]:
    """A function to call on each record: starts ``meter`` on the first, calls ``done`` from
    the ``count``-th on."""
    seen = 0

    def tick() -> None:
        nonlocal seen
        meter.start_once()
        seen += 1
        if seen >= count:
            done()

    return tick


async def raw_aiokafka(args: argparse.Namespace, meter: Meter) -> None:
    """The ceiling: counts in an in-memory dict, getmany batches, flush and commit each second."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # noqa: PLC0415

    codecs = Codecs(args.registry, args.output)
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
    # partition -> window start -> key -> count; not durable, so this is the ceiling
    counts: dict[int, dict[int, dict[str, int]]] = defaultdict(dict)
    watermarks: dict[int, int] = defaultdict(int)
    await consumer.start()
    await producer.start()
    done = 0
    last_commit = time.monotonic()
    try:
        while done < args.count:
            batches = await consumer.getmany(timeout_ms=200, max_records=500)
            for tp, records in batches.items():
                meter.start_once()
                windows = counts[tp.partition]
                for r in records:
                    key, ts = codecs.read(r.value)
                    window = windows.setdefault(window_start(ts), {})
                    window[key] = window.get(key, 0) + 1
                    watermarks[tp.partition] = max(watermarks[tp.partition], ts)
                for start in sorted(s for s in windows if closes(s, watermarks[tp.partition])):
                    for key, count in windows.pop(start).items():
                        await producer.send(
                            args.output, codecs.write(key, start, count), key=key.encode()
                        )
                done += len(records)
            if time.monotonic() - last_commit > 1 or done >= args.count:
                await producer.flush()
                await consumer.commit()
                last_commit = time.monotonic()
    finally:
        await producer.stop()
        await consumer.stop()


async def faust_table(args: argparse.Namespace, meter: Meter) -> None:
    """A faust-streaming agent updating a plain RocksDB table (changelog on) per event.

    The table is keyed by ``customer_id@window_start``; the agent closes windows on each
    partition's event time, as :class:`OpenWindows` says, emitting and deleting their rows.
    faust's own windowed tables are not used: their ``on_window_close`` fires on wall-clock
    time and, with two partitions, skips windows of one partition (``last_closed_window`` is
    shared by all partitions), so their totals could never be right.
    """
    codecs = Codecs(args.registry, args.output)
    app, source, sink = faust_app(args, store="rocksdb://")
    counts = app.Table("window-counts", default=int, partitions=2)
    open_windows: dict[int, OpenWindows] = defaultdict(OpenWindows)
    finished = asyncio.Event()
    seen = 0

    @app.agent(source)
    async def count(stream: Any) -> None:
        nonlocal seen
        async for event in stream.events():
            meter.start_once()
            key, ts = codecs.read(event.value)
            windows = open_windows[event.message.partition]
            counts[f"{key}@{windows.add(key, ts)}"] += 1
            for start, keys in windows.close():
                for closed in keys:
                    row = f"{closed}@{start}"
                    value = codecs.write(closed, start, counts[row])
                    await sink.send(key=closed.encode(), value=value)
                    del counts[row]
            seen += 1
            if seen >= args.count:
                finished.set()

    await app.start()
    await finished.wait()
    await app.producer.flush()
    await app.stop()


def quix(args: argparse.Namespace, meter: Meter) -> None:
    """Quix Streams: ``tumbling_window(...).count().final()`` on RocksDB state, changelog on."""
    codecs = Codecs(args.registry, args.output)
    app, source, sink = quix_app(args, use_changelog_topics=True)
    # app.stop(): the current record still runs through the whole dataframe
    tick = countdown(meter, args.count, app.stop)

    def ordered_at(value: bytes) -> int:
        tick()
        return codecs.read(value)[1]  # the key is the record key: the customer id

    def encode(window: dict[str, int], key: bytes, _ts: int, _headers: Any) -> bytes:
        return codecs.write(key.decode(), window["start"], window["value"])

    sdf = app.dataframe(source).apply(ordered_at)
    sdf = sdf.set_timestamp(lambda value, _key, _ts, _headers: value)
    windows = sdf.tumbling_window(WINDOW_MS, grace_ms=GRACE_MS).count()
    # "partition": a window closes when its partition's event time passes end + grace, as
    # in the other contenders; the default "key" waits for a later record of the same key
    windows.final(closing_strategy="partition").apply(encode, metadata=True).to_topic(sink)
    app.run()


async def streamworks_aggregation(args: argparse.Namespace, meter: Meter) -> None:
    """The streamworks aggregation: ``Count()`` in ``Tumbling`` windows, ``mode="final"``.

    Run by :class:`~streamworks.aggregate.worker.AggregationWorker` on RocksDB state with its
    changelog, at-least-once like the peers; the input is keyed by customer already, so
    there is no repartition. The worker decodes with the shared Avro codec (the stage's
    input type) and closes windows on each partition's event time (an external input
    without lineage headers is its own origin), so :func:`closes` holds.
    """
    from streamworks.aggregate.worker import AggregationWorker  # noqa: PLC0415
    from streamworks.core.settings import Settings  # noqa: PLC0415
    from streamworks.pipeline import Count, Tumbling, Window  # noqa: PLC0415
    from streamworks.pipeline.graph import Pipeline, TopicSpec  # noqa: PLC0415
    from streamworks.runtime.topics import ensure_topics  # noqa: PLC0415

    pipeline = Pipeline(args.group, topics=[TopicSpec(args.input, EnrichedOrder, 2, external=True)])
    finished = asyncio.Event()
    tick = countdown(meter, args.count, finished.set)

    def customer(order: EnrichedOrder) -> str:
        tick()
        return order.customer_id

    def emit(key: str, window: Window | None, count: int) -> WindowCount:
        assert window is not None  # a windowed aggregation always passes one
        begin = datetime.fromtimestamp(window.start_ms / 1000, UTC)
        end = datetime.fromtimestamp(window.end_ms / 1000, UTC)
        return WindowCount(key, begin, end, count)

    pipeline.aggregate(
        "counts",
        inputs=args.input,
        input_type=EnrichedOrder,
        key=customer,
        aggregator=Count(),
        window=Tumbling(WINDOW_MS / 1000, grace=GRACE_MS / 1000),
        mode="final",
        event_time=lambda order: order.ordered_at,
        output=args.output,
        output_type=WindowCount,
        emit=emit,
        repartition=False,
    )
    settings = Settings(
        bootstrap_servers=args.bootstrap,
        registry_url=args.registry,
        state_dir=Path(tempfile.mkdtemp(prefix="bench-streamworks-")),
        guarantee="at-least-once",
    )
    await ensure_topics(pipeline, settings)  # the changelog, late and dead-letter topics
    worker = AggregationWorker(
        pipeline, "counts", settings, AvroCodec(RegistryClient(args.registry))
    )

    async def stop_when_done() -> None:
        await finished.wait()
        worker.stop()  # the batch in flight is written, acknowledged and committed first

    await asyncio.gather(worker.run(), stop_when_done())


def main() -> None:
    contender_main(
        {
            "raw-aiokafka": raw_aiokafka,
            "faust": faust_table,
            "quixstreams": quix,
            "streamworks": streamworks_aggregation,
        }
    )


if __name__ == "__main__":
    main()
