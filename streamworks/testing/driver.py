"""The in-memory test driver: a pipeline's stages in one process, with no broker.

Topics are in-memory lists with partitions chosen by key, like Kafka's (a stable hash of
the key bytes); the schema registry is in-memory. ``run()`` moves records through every
stage, in producer-before-consumer order, until nothing is left to process. The same
:class:`~streamworks.runtime.processor.StageProcessor` as in production does the work, so a stage's
decoding, retries, routing, dead letters and counts behave exactly as they will on Kafka.
"""

from __future__ import annotations

import time
import zlib
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from streamworks.aggregate.processor import AggregationProcessor
from streamworks.core.messages import InMessage, OutRecord
from streamworks.pipeline.graph import Pipeline
from streamworks.runtime.processor import Counts, StageProcessor
from streamworks.runtime.topics import formats_of
from streamworks.schemas.codec import AvroCodec
from streamworks.schemas.memory_registry import InMemoryRegistry
from streamworks.schemas.records import AvroRecord
from streamworks.schemas.typed import TypedCodec, codec_for
from streamworks.state.store import Store

__all__ = ["TestDriver"]


class TestDriver:
    """Feed records in, run the stages, read outputs, dead letters and counts."""

    __test__ = False  # not a pytest test class, despite the name

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        batch_size: int = 100,
        clock: Callable[[], float] = time.time,
    ) -> None:
        pipeline.validate()
        self.pipeline = pipeline
        self.codec = AvroCodec(InMemoryRegistry())
        self._batch_size = batch_size
        self._clock = clock
        self._specs = pipeline.topics()
        self._formats = formats_of(pipeline)
        self._log: dict[str, list[InMessage]] = defaultdict(list)
        self._positions: dict[tuple[str, str], int] = defaultdict(int)
        self._processors: dict[str, StageProcessor | AggregationProcessor] = {}
        for stage in pipeline.order():
            dlq = pipeline.dead_letter_topic(stage.name)
            self._processors[stage.name] = (
                StageProcessor(stage, self.codec, dlq, formats=self._formats)
                if stage.aggregation is None
                else AggregationProcessor(
                    stage,
                    self.codec,
                    dlq,
                    clock=clock,
                    formats=self._formats,
                    upstream=pipeline.upstream_of(stage.name),
                )
            )
        self.counts: dict[str, Counts] = {name: Counts() for name in self._processors}
        """Per-stage accounting, summed over every run."""

    def send(
        self,
        topic: str,
        record: AvroRecord | bytes | None,
        *,
        key: str | bytes | None = None,
        headers: tuple[tuple[str, bytes], ...] = (),
        partition: int | None = None,
    ) -> None:
        """Append a record (or raw bytes, e.g. a poison record) to ``topic``, encoded as the
        topic's format says (Avro with the in-memory registry, or JSON).

        The partition is ``partition`` if given, else chosen by the key's hash (0 without
        a key)."""
        if isinstance(record, AvroRecord):
            value: bytes | None = self._codec_for(topic, type(record)).encode(record)
        else:
            value = record
        raw_key = key.encode() if isinstance(key, str) else key
        spec = self._specs.get(topic)
        count = spec.partitions if spec is not None else 1
        if partition is not None and not 0 <= partition < count:
            raise ValueError(f"topic {topic} has partitions 0 to {count - 1}, not {partition}")
        self._append(OutRecord(topic, raw_key, value, headers, partition=partition))

    async def run(self, max_rounds: int = 1_000) -> None:
        """Process until every stage has consumed everything on its inputs."""
        for _ in range(max_rounds):
            progressed = False
            for name, processor in self._processors.items():
                self._load_tables(name, processor)
                batch = self._take(name, processor.stage.inputs)
                if not batch:
                    continue
                progressed = True
                if isinstance(processor, AggregationProcessor):
                    self._fold(processor, batch, self.counts[name])
                    continue
                result = await processor.process(batch)
                self.counts[name].add(result.counts)
                for record in result.records:
                    self._append(record)
            if not progressed:
                return
        raise RuntimeError(f"pipeline {self.pipeline.name} did not settle in {max_rounds} rounds")

    async def tick(self) -> None:
        """Let idle aggregations close windows on the (driver's) wall clock, then run."""
        for name, processor in self._processors.items():
            if isinstance(processor, AggregationProcessor):
                self._write(processor, processor.tick(self.counts[name]))
        await self.run()

    def table(self, stage: str, key: str) -> Any:
        """An aggregation's current value for ``key`` (see ``AggregationProcessor.value``)."""
        processor = self._processors[stage]
        if not isinstance(processor, AggregationProcessor):
            raise TypeError(f"stage {stage} is not an aggregation")
        for partition in processor.tasks:
            value = processor.value(partition, key)
            if value is not None:
                return value
        return None

    def _load_tables(self, name: str, processor: StageProcessor | AggregationProcessor) -> None:
        """Bring the stage's global tables up to date with their (in-memory) topics."""
        for table in processor.stage.tables:
            reader = f"{name}/table"
            codec = self._codec_for(table.topic, table.record_type)
            while chunk := self._take(reader, (table.topic,)):
                for message in chunk:
                    table.apply(message.key, message.value, codec)

    def _fold(
        self, processor: AggregationProcessor, batch: list[InMessage], counts: Counts
    ) -> None:
        for message in batch:
            if message.partition not in processor.tasks:
                processor.open_task(message.partition, Store())
        self._write(processor, processor.process(batch, counts))

    def _write(self, processor: AggregationProcessor, outputs: dict[int, Any]) -> None:
        for partition, output in outputs.items():
            for record in (*output.records, *output.changelog):
                self._append(record)
            processor.tasks[partition].commit(None)

    def messages(self, topic: str) -> list[InMessage]:
        """Everything written to ``topic``, raw, in write order."""
        return list(self._log.get(topic, []))

    def read(self, topic: str, record_type: type[AvroRecord] | None = None) -> list[Any]:
        """The records of ``topic``, decoded as ``record_type`` (default: the declared type)
        in the topic's format."""
        kind = record_type or self._type_of(topic)
        codec = self._codec_for(topic, kind)
        return [
            codec.decode(m.value, topic=m.topic, offset=m.offset) for m in self._log.get(topic, [])
        ]

    def dead_letters(self, stage: str) -> list[InMessage]:
        """The dead letters of ``stage``, with their headers."""
        return self.messages(self.pipeline.dead_letter_topic(stage))

    def _take(self, stage: str, topics: tuple[str, ...]) -> list[InMessage]:
        batch: list[InMessage] = []
        for topic in topics:
            log = self._log.get(topic, [])
            start = self._positions[(stage, topic)]
            chunk = log[start : start + self._batch_size - len(batch)]
            self._positions[(stage, topic)] = start + len(chunk)
            batch.extend(chunk)
        return batch

    def _append(self, record: OutRecord) -> None:
        log = self._log[record.topic]
        spec = self._specs.get(record.topic)
        partitions = spec.partitions if spec is not None else 1
        if record.partition is not None:
            partition = record.partition
        elif record.key is not None:
            partition = zlib.crc32(record.key) % partitions
        else:
            partition = 0
        log.append(
            InMessage(
                topic=record.topic,
                partition=partition,
                offset=len(log),
                key=record.key,
                value=record.value,
                timestamp_ms=round(self._clock() * 1000),
                headers=record.headers,
            )
        )

    def _type_of(self, topic: str) -> type[AvroRecord]:
        spec = self._specs.get(topic)
        if spec is not None and spec.record_type is not None:
            return spec.record_type
        producers = self.pipeline.producers(topic)
        if producers:
            return producers[0][1]
        for stage in self.pipeline.stages.values():
            if topic in stage.inputs:
                return stage.input_type
        raise KeyError(f"topic {topic} has no known record type; pass record_type=")

    def _codec_for(self, topic: str, kind: type[AvroRecord]) -> TypedCodec[Any]:
        return codec_for(
            kind,
            self.codec,
            format=self._formats.get(topic, "avro"),
            subject=f"{topic}-value",
        )
