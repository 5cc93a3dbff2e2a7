"""The broker-independent heart of an aggregation stage: fold, close windows, emit.

State is kept per *task*: one partition number of the stage's inputs (all input topics are
co-partitioned, so partition ``p`` of each lands in task ``p``) with its own
:class:`~streamworks.state.store.Store` and changelog partition ``p``. Besides the keys'
slots, each store holds one metadata entry: the task's stream time and, per input topic,
the next offset not yet folded in. That entry travels with the state through the
changelog, so after a crash the records between the last committed offset and the state's
own position are recognised and not folded twice, even under at-least-once.

For every input record exactly one thing happens: it is folded (``out``), skipped because
it was already folded before a restart (``filtered``), found late (``late``: to the late
topic) or dead-lettered.
"""

from __future__ import annotations

import heapq
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from streamworks.core.lineage import lineage_of, origin_id
from streamworks.core.messages import InMessage, OutRecord
from streamworks.pipeline.aggregation import Aggregation
from streamworks.pipeline.stage import Stage
from streamworks.pipeline.windows import Window
from streamworks.runtime.dead_letters import LINEAGE_PREFIX, dead_letter
from streamworks.runtime.inputs import InputDecoder
from streamworks.runtime.processor import Counts, DeadLetters, OutputTooLargeError, check_fits
from streamworks.schemas.codec import AvroCodec
from streamworks.schemas.errors import DecodeError, RegistryAccessError, RegistryUnavailableError
from streamworks.schemas.typed import Format, codec_for
from streamworks.state.store import Store

__all__ = ["WINDOW_END", "WINDOW_START", "AggregationProcessor", "TaskOutput"]

logger = logging.getLogger(__name__)

META = "\x00meta"
"""The store key of a task's stream time and folded-offset positions."""
WINDOW_START = "streamworks.window.start"
WINDOW_END = "streamworks.window.end"
_LATE_PREFIX = "streamworks.late."


@dataclass
class TaskOutput:
    """What one task's batch writes: results, late records and dead letters, then changelog."""

    records: list[OutRecord] = field(default_factory=list)
    """Outputs, late records and dead letters, in order."""
    changelog: list[OutRecord] = field(default_factory=list)
    """The task's state changes, for its changelog partition."""


_NEVER = -(2**62)


@dataclass
class _Task:
    store: Store
    stream_time: int
    positions: dict[str, int]
    expected: frozenset[str]
    """The origins known from the topology: stream time waits for each of them."""
    tracked: set[str]
    """The expected origins and any other origin heard from."""
    opened: float
    """Wall-clock time the task was opened."""
    last_arrival: float | None = None
    """Wall-clock time of the last record since the task was opened."""
    first_arrival: float | None = None
    """Wall-clock time of the first record since the task was opened."""
    origins: dict[str, int] = field(default_factory=dict)
    """Largest event time seen per origin (upstream partition)."""
    heard: dict[str, float] = field(default_factory=dict)
    """Wall-clock time each origin was last heard from."""
    deadlines: list[tuple[int, str]] = field(default_factory=list)
    scheduled: dict[str, int] = field(default_factory=dict)


def _epoch_ms(value: datetime | int) -> int:
    return value if isinstance(value, int) else round(value.timestamp() * 1000)


class AggregationProcessor:
    """Folds batches of input messages into per-task state and emits results.

    ``formats`` are the formats of the stage's topics by name, as for
    :class:`~streamworks.runtime.processor.StageProcessor`. ``upstream`` is, for a stage
    that reads its repartition topic, the topics (and their partition counts) the
    repartition stage reads (:meth:`~streamworks.pipeline.graph.Pipeline.upstream_of`):
    every one of their partitions is an origin of every task. Without it, task ``p``'s
    origins are partition ``p`` of each input topic.
    """

    def __init__(
        self,
        stage: Stage[Any],
        codec: AvroCodec,
        dead_letter_topic: str,
        *,
        clock: Callable[[], float] = time.time,
        formats: Mapping[str, Format] | None = None,
        upstream: Mapping[str, int] | None = None,
    ) -> None:
        if stage.aggregation is None:
            raise ValueError(f"stage {stage.name} is not an aggregation")
        self.stage = stage
        self.spec: Aggregation = stage.aggregation
        self.dead_letter_topic = dead_letter_topic
        self._clock = clock
        formats = formats or {}
        self.inputs = InputDecoder(stage, codec, formats)
        """Its input decoder; the worker fetches the schemas of ``inputs.avro`` first."""
        self._output = codec_for(
            stage.outputs[self.spec.output],
            codec,
            format=formats.get(self.spec.output, "avro"),
            subject=f"{self.spec.output}-value",
        )
        self._upstream = dict(upstream or {})
        # the repartition stage's lineage names the upstream partition a record came from
        self._upstream_origins = {
            origin_id(f"{stage.name}.repartition", topic): topic for topic in self._upstream
        }
        self.record_limits: dict[str, int] = {}
        """Output topic -> most bytes of key, value and headers a result may have (the
        worker reads the topic's ``max.message.bytes``); a result over it is dead-lettered."""
        self._tasks: dict[int, _Task] = {}
        self._stage_header = (LINEAGE_PREFIX + "stage", stage.name.encode())
        self._letters = DeadLetters(stage.name, dead_letter_topic)

    # -- tasks -----------------------------------------------------------------------------------

    @property
    def tasks(self) -> dict[int, Store]:
        """The open tasks' stores by partition."""
        return {partition: task.store for partition, task in self._tasks.items()}

    def open_task(self, partition: int, store: Store) -> None:
        """Start serving ``partition`` from ``store`` (already restored from the changelog)."""
        meta = store.get(META) or {}
        now = self._clock()
        task = _Task(
            store=store,
            stream_time=int(meta.get("t", _NEVER)),
            positions=dict(meta.get("o", {})),
            expected=(expected := self.expected_origins(partition)),
            tracked=set(expected) | set(meta.get("w", {})),
            opened=now,
            origins=dict(meta.get("w", {})),
        )
        task.heard = dict.fromkeys(task.origins, now)
        if self.spec.window is not None:
            for key, slot in store.items():
                if key != META:
                    self._schedule(task, key, slot)
        self._tasks[partition] = task

    def expected_origins(self, partition: int) -> frozenset[str]:
        """The upstream partitions (``topic/partition``) task ``partition`` waits for."""
        if self._upstream:
            return frozenset(
                f"{topic}/{n}" for topic, count in self._upstream.items() for n in range(count)
            )
        return frozenset(f"{topic}/{partition}" for topic in self.stage.inputs)

    def stream_time(self, partition: int) -> int | None:
        """Task ``partition``'s stream time in epoch ms; None before it has one."""
        task = self._tasks.get(partition)
        if task is None or task.stream_time == _NEVER:
            return None
        return task.stream_time

    def close_task(self, partition: int) -> Store | None:
        """Stop serving ``partition``; the caller closes or keeps the returned store."""
        task = self._tasks.pop(partition, None)
        return None if task is None else task.store

    def value(self, partition: int, key: str) -> Any:
        """The current result(s) of ``key`` in task ``partition`` (None when it has none).

        Without windows: the key's result. With windows: ``[(window, result), ...]`` of its
        open windows.
        """
        task = self._tasks.get(partition)
        if task is None:
            raise KeyError(partition)
        slot = task.store.get(key)
        if slot is None:
            return None
        agg, window = self.spec.aggregator, self.spec.window
        if window is None:
            return agg.result(slot)
        _, touched = window.close(_copy(slot), 2**62, agg)
        return [(w, agg.result(state)) for w, state in touched]

    # -- processing ------------------------------------------------------------------------------

    def process(self, messages: Sequence[InMessage], counts: Counts) -> dict[int, TaskOutput]:
        """Fold ``messages`` into their tasks; return each touched task's writes."""
        outputs: dict[int, TaskOutput] = defaultdict(TaskOutput)
        now = self._clock()
        for message in messages:
            task = self._tasks.get(message.partition)
            if task is None:
                raise KeyError(f"task {message.partition} of {self.stage.name} is not open")
            if task.first_arrival is None:
                task.first_arrival = now
            task.last_arrival = now
            self._fold(task, message, outputs[message.partition].records, counts, now)
        for partition, output in outputs.items():
            counts.records_written += self._finish(self._tasks[partition], partition, output)
        return dict(outputs)

    def quarantine(
        self, message: InMessage, error: BaseException, counts: Counts
    ) -> dict[int, TaskOutput]:
        """``message`` dead-lettered as ``CrashLoop`` without folding it: its workers kept
        dying while it was in their batch (:mod:`streamworks.runtime.crashloop`)."""
        task = self._tasks.get(message.partition)
        if task is None:
            raise KeyError(f"task {message.partition} of {self.stage.name} is not open")
        counts.records_in += 1
        counts.dead_lettered += 1
        output = TaskOutput()
        output.records.append(
            dead_letter(
                self.stage.name,
                self.dead_letter_topic,
                message,
                error,
                0,
                error_class="CrashLoop",
            )
        )
        position = task.positions.get(message.topic, 0)
        task.positions[message.topic] = max(position, message.offset + 1)
        counts.records_written += self._finish(task, message.partition, output)
        return {message.partition: output}

    def tick(self, counts: Counts | None = None) -> dict[int, TaskOutput]:
        """Move quiet tasks' stream time and close what that closes.

        An origin silent for ``wait_for_origins`` stops holding stream time back; a task
        whose input has been quiet for ``close_when_idle`` seconds takes the largest event
        time it has seen, then follows the wall clock from there (see
        :class:`~streamworks.pipeline.aggregation.Aggregation`). Results emitted are added
        to ``counts.records_written``.
        """
        if self.spec.window is None:
            return {}
        idle = self.spec.close_when_idle
        now = self._clock()
        outputs: dict[int, TaskOutput] = {}
        for partition, task in self._tasks.items():
            before = task.stream_time
            self._advance(task, now)
            quiet = now - (task.last_arrival or task.opened)
            if idle is not None and quiet >= idle and task.origins:
                latest = max(task.origins.values())
                task.stream_time = max(task.stream_time, latest + round(quiet * 1000))
            if (
                task.stream_time != before
                and task.deadlines[:1]
                and (task.deadlines[0][0] <= task.stream_time)
            ):
                output = outputs[partition] = TaskOutput()
                written = self._finish(task, partition, output)
                if counts is not None:
                    counts.records_written += written
        return outputs

    def _fold(
        self, task: _Task, message: InMessage, out: list[OutRecord], counts: Counts, now: float
    ) -> None:
        counts.records_in += 1
        if message.offset < task.positions.get(message.topic, -1):
            counts.filtered += 1  # folded in before a restart: its offset was not committed
            return
        task.positions[message.topic] = message.offset + 1
        spec = self.spec
        try:
            record = self.inputs.decode(message)
            key = spec.key(record)
            ts = (
                message.timestamp_ms
                if spec.event_time is None
                else _epoch_ms(spec.event_time(record))
            )
            value = spec.aggregator.lift(record)
        except DecodeError as error:
            self._letters.add(message, error, 0, out, counts)
            return
        except (RegistryUnavailableError, RegistryAccessError):
            raise  # an outage or a refused login is never a reason to dead-letter a record
        except Exception as error:  # noqa: BLE001 - a record the key or value functions reject
            self._letters.add(message, error, 1, out, counts)
            return
        window, agg = spec.window, spec.aggregator
        if window is None:
            state = task.store.get(key)
            state = agg.add(agg.initial() if state is None else state, value)
            task.store.put(key, state)
            if spec.mode == "update":
                self._updated(message, [self._result(key, None, state)], out, counts)
            else:
                counts.out += 1
            return
        slot = task.store.get(key)
        if window.is_late(ts, task.stream_time) or window.rejects(slot):
            out.append(self._late(message, ts, task.stream_time))
            counts.late += 1
            return
        slot, touched = window.add(slot, ts, value, agg, task.stream_time)
        task.store.put(key, slot)
        self._schedule(task, key, slot)
        origin = self._origin(message)
        task.heard[origin] = now
        if ts > task.origins.get(origin, _NEVER):
            if origin not in task.origins:
                task.tracked.add(origin)
            task.origins[origin] = ts
            self._advance(task, now)
        if spec.mode == "update":
            self._updated(
                message, [self._result(key, w, state) for w, state in touched], out, counts
            )
        else:
            counts.out += 1

    def _updated(
        self, message: InMessage, results: list[OutRecord], out: list[OutRecord], counts: Counts
    ) -> None:
        """Write the results ``message`` updated, or, when one is larger than the output
        topic takes, dead-letter ``message`` instead (its fold stays in the state)."""
        try:
            for result in results:
                check_fits(self.stage.name, result, self.record_limits)
        except OutputTooLargeError as error:
            self._letters.add(message, error, 1, out, counts)
            return
        counts.out += 1
        out.extend(results)
        counts.records_written += len(results)

    def _finish(self, task: _Task, partition: int, output: TaskOutput) -> int:
        """Close due windows, record the task's position, collect its changelog; return
        the number of results emitted."""
        emitted = 0
        if self.spec.window is not None:
            emitted = self._close_due(task, output.records)
        task.store.put(META, {"t": task.stream_time, "o": task.positions, "w": task.origins})
        output.changelog = [
            OutRecord(self.spec.changelog, key, value, partition=partition)
            for key, value in task.store.pending()
        ]
        return emitted

    def _advance(self, task: _Task, now: float) -> None:
        """Move stream time to the watermark: the smallest of the origins' largest event
        times, over the origins that are not idle.

        A task's records come from several upstream partitions (its origins: the partitions
        a repartition stage read, or its own input partitions), each in event-time order
        as it was written but not in step with the others: one may be minutes ahead while
        another drains a backlog or has not started. Taking the slowest origin's progress
        keeps the others' records from looking late. Every origin the topology names
        holds stream time back, heard from yet or not, until it has been silent for
        ``wait_for_origins`` while the task had records (counted from the task's first record
        for one never heard from). Stream time never goes back.
        """
        if task.first_arrival is None:
            return
        horizon = now - self.spec.wait_for_origins
        watermark: int | None = None
        for origin in task.tracked:
            if task.heard.get(origin, task.first_arrival) < horizon:
                continue  # idle: it no longer holds stream time back
            latest = task.origins.get(origin)
            if latest is None:
                return  # an origin not heard from yet, within its wait
            watermark = latest if watermark is None else min(watermark, latest)
        if watermark is not None and watermark > task.stream_time:
            task.stream_time = watermark

    def _close_due(self, task: _Task, out: list[OutRecord]) -> int:
        window, agg, final = self.spec.window, self.spec.aggregator, self.spec.mode == "final"
        assert window is not None  # noqa: S101 - only windowed stages schedule
        emitted = 0
        while task.deadlines and task.deadlines[0][0] <= task.stream_time:
            deadline, key = heapq.heappop(task.deadlines)
            if task.scheduled.get(key) != deadline:
                continue  # superseded by a later schedule
            del task.scheduled[key]
            slot, closed = window.close(task.store.get(key), task.stream_time, agg)
            if slot is None:
                task.store.delete(key)
            else:
                task.store.put(key, slot)
                self._schedule(task, key, slot)
            if final:
                for w, state in closed:
                    emitted += self._final(self._result(key, w, state), out)
        return emitted

    def _final(self, result: OutRecord, out: list[OutRecord]) -> int:
        """Write a closed window's ``result``; 1, or 0 when it is larger than the output
        topic takes and goes to the dead-letter topic instead (no input is to blame)."""
        try:
            check_fits(self.stage.name, result, self.record_limits)
        except OutputTooLargeError as error:
            as_input = InMessage(result.topic, -1, -1, result.key, result.value, 0, result.headers)
            out.append(dead_letter(self.stage.name, self.dead_letter_topic, as_input, error, 0))
            return 0
        out.append(result)
        return 1

    def _schedule(self, task: _Task, key: str, slot: Any) -> None:
        assert self.spec.window is not None  # noqa: S101 - only windowed stages schedule
        deadline = self.spec.window.deadline(slot)
        if deadline is None or task.scheduled.get(key) == deadline:
            return
        task.scheduled[key] = deadline
        heapq.heappush(task.deadlines, (deadline, key))

    # -- records ---------------------------------------------------------------------------------

    def _result(self, key: str, window: Window | None, state: Any) -> OutRecord:
        record = self.spec.emit(key, window, self.spec.aggregator.result(state))
        headers: tuple[tuple[str, bytes], ...] = (self._stage_header,)
        if window is not None:
            headers += (
                (WINDOW_START, str(window.start_ms).encode()),
                (WINDOW_END, str(window.end_ms).encode()),
            )
        return OutRecord(self.spec.output, key.encode(), self._output.encode(record), headers)

    def _late(self, message: InMessage, ts: int, stream_time: int) -> OutRecord:
        headers = (
            (_LATE_PREFIX + "stage", self.stage.name.encode()),
            (_LATE_PREFIX + "event.time", str(ts).encode()),
            (_LATE_PREFIX + "stream.time", str(stream_time).encode()),
            (_LATE_PREFIX + "origin.topic", message.topic.encode()),
            (_LATE_PREFIX + "origin.partition", str(message.partition).encode()),
            (_LATE_PREFIX + "origin.offset", str(message.offset).encode()),
            *message.headers,
        )
        return OutRecord(self.spec.late, message.key, message.value, headers)

    def _origin(self, message: InMessage) -> str:
        """The origin of a message: the upstream partition the repartition stage read it
        from (its lineage headers), or the input partition it was read from."""
        if self._upstream:
            lineage = lineage_of(message.headers)
            if lineage is not None:
                topic = self._upstream_origins.get(lineage.origin)
                if topic is not None:
                    return f"{topic}/{lineage.partition}"
        return f"{message.topic}/{message.partition}"


def _copy(slot: Any) -> Any:
    """A deep copy of a JSON slot (window kinds change slots in place)."""
    if isinstance(slot, list):
        return [_copy(item) for item in slot]
    if isinstance(slot, dict):
        return {key: _copy(item) for key, item in slot.items()}
    return slot
