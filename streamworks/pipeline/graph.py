"""Pipelines: named graphs of stages and topics, validated before anything runs."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar, cast

from streamworks.core.errors import ConfigurationError
from streamworks.core.settings import Guarantee
from streamworks.pipeline.aggregation import (
    Aggregation,
    EmitMode,
    EventTime,
    changelog_topic,
)
from streamworks.pipeline.aggregation import late_topic as late_topic_of
from streamworks.pipeline.aggregators import Aggregator
from streamworks.pipeline.chain import Stream
from streamworks.pipeline.gather import Answers, Gather, Gathered
from streamworks.pipeline.infer import input_type_of, resolve_outputs
from streamworks.pipeline.results import emitter, result_record
from streamworks.pipeline.stage import OnError, RetryPolicy, Stage, StageFunction
from streamworks.pipeline.tables import GlobalTable
from streamworks.pipeline.windows import Window, WindowKind
from streamworks.schemas.catalog import Contract, contract_of, use_contracts
from streamworks.schemas.compatibility import reader_problems
from streamworks.schemas.errors import SchemaError
from streamworks.schemas.records import AvroRecord
from streamworks.schemas.typed import FORMATS, Format

__all__ = ["Pipeline", "PipelineError", "TopicSpec", "dead_letter_topic"]


class PipelineError(ConfigurationError):
    """A pipeline's declaration is inconsistent; the message lists every problem."""

    def __init__(self, pipeline: str, problems: list[str]) -> None:
        super().__init__(f"pipeline {pipeline} is invalid: " + "; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class TopicSpec:
    """A topic as the pipeline declares it."""

    name: str
    """Topic name."""
    record_type: type[AvroRecord] | None = None
    """Record type of its values (required for external topics)."""
    partitions: int = 2
    """Partition count: the most workers of a stage reading it that can be busy."""
    replication: int | None = None
    """Replication factor; None means as many brokers as there are, up to 3."""
    external: bool = False
    """True when something outside the pipeline writes it (a connector, another service)."""
    config: dict[str, str] = field(default_factory=dict)
    """Other topic configs, e.g. ``{"cleanup.policy": "compact"}``."""
    format: Format = "avro"
    """How its values are written: ``"avro"``, framed with a schema registry id, or
    ``"json"``, UTF-8 JSON objects checked against the record class's schema, no registry
    (see :mod:`streamworks.schemas.json_codec`)."""

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ConfigurationError(
                f"topic {self.name}: format {self.format!r} is not one of {', '.join(FORMATS)}"
            )


F = TypeVar("F", bound=Callable[..., Any])
"""A stage function as written: ``async def`` or plain ``def``, one record in."""


class Pipeline:
    """Stages and the topics between them, with one processing guarantee."""

    def __init__(
        self,
        name: str,
        *,
        guarantee: Guarantee = "at-least-once",
        topics: list[TopicSpec] | None = None,
        default_partitions: int = 2,
        contracts: Path | str | None = None,
    ) -> None:
        """``contracts`` is a folder of hand-written ``.avsc`` contracts that record classes
        of this pipeline name (``class R(AvroRecord, contract=...)``); classes that name none
        need none."""
        if contracts is not None:
            use_contracts(contracts)
        self.name = name
        self.guarantee = guarantee
        self.default_partitions = default_partitions
        self.stages: dict[str, Stage[Any]] = {}
        self._topics: dict[str, TopicSpec] = {t.name: t for t in topics or []}

    def add(self, stage: Stage[Any]) -> Stage[Any]:
        """Add a stage; names are unique within the pipeline.

        A stage with ``repartition_by`` comes with a ``<name>.repartition`` stage in front
        of it, which rewrites its inputs, keyed by that function, to the internal topic
        ``<pipeline>.<name>.repartition``; the stage itself then reads that topic.
        """
        if stage.repartition_by is not None:
            internal = f"{self.name}.{stage.name}.repartition"
            rekey = stage.repartition_by

            async def identity(record: Any) -> Any:
                return record

            self.add(
                Stage(
                    name=f"{stage.name}.repartition",
                    inputs=stage.inputs,
                    input_type=stage.input_type,
                    outputs={internal: stage.input_type},
                    function=identity,
                    key=rekey,
                )
            )
            stage = replace(stage, inputs=(internal,), repartition_by=None)
        if stage.name in self.stages:
            raise ConfigurationError(f"pipeline {self.name} already has a stage {stage.name}")
        self.stages[stage.name] = stage
        return stage

    def stage(
        self,
        name: str,
        *,
        inputs: str | tuple[str, ...],
        outputs: str | dict[str, type[AvroRecord]],
        input_type: type[AvroRecord] | None = None,
        concurrency: int = 1,
        key: Callable[[Any], str | bytes] | None = None,
        repartition_by: Callable[[Any], str | bytes] | None = None,
        batch: bool = False,
        retry: RetryPolicy | None = None,
        tables: tuple[GlobalTable[Any], ...] = (),
        on_error: OnError = "dead-letter",
        stop_after: int | None = 100,
    ) -> Callable[[F], F]:
        """Decorator declaring the decorated ``async`` function as a stage of this pipeline.

        The record types come from the function's annotations
        (:mod:`~streamworks.pipeline.infer`): ``outputs="iot.clean"`` writes the one record
        class the function returns; ``outputs={topic: Record, ...}`` names several (or
        types the annotations do not say); ``input_type=`` overrides the parameter's.

        A record the function fails on is dead-lettered; ``stop_after`` failures in a row
        of one error class stop the stage (a bug, not bad data), and ``on_error="stop"``
        stops it at the first (see :mod:`streamworks.runtime.breaker`).
        """

        def register(function: F) -> F:
            self.add(
                Stage(
                    name=name,
                    inputs=(inputs,) if isinstance(inputs, str) else tuple(inputs),
                    input_type=input_type or input_type_of(name, function, batch=batch),
                    outputs=resolve_outputs(name, function, outputs),
                    function=cast(StageFunction, function),  # a plain def: Stage wraps it
                    concurrency=concurrency,
                    key=key,
                    repartition_by=repartition_by,
                    batch=batch,
                    retry=retry or RetryPolicy(),
                    tables=tables,
                    on_error=on_error,
                    stop_after=stop_after,
                )
            )
            return function

        return register

    def aggregate(
        self,
        name: str,
        *,
        inputs: str | tuple[str, ...],
        input_type: type[AvroRecord],
        key: Callable[[Any], str],
        aggregator: Aggregator,
        output: str,
        output_type: type[AvroRecord] | None = None,
        emit: Callable[..., AvroRecord] | None = None,
        window: WindowKind | None = None,
        mode: EmitMode = "update",
        event_time: EventTime | None = None,
        repartition: bool = True,
        close_when_idle: float | None = None,
        wait_for_origins: float = 10.0,
        standby: bool = False,
    ) -> Stage[Any]:
        """Add an aggregation stage: fan ``inputs`` in to state keyed by ``key``.

        With ``repartition`` (the default) a ``<name>.repartition`` stage first rewrites the
        inputs keyed by ``key``, so each key's state lives in exactly one partition; pass
        False when the inputs are already keyed that way (and co-partitioned). Its state is
        kept in RocksDB and the compacted ``<pipeline>.<name>.changelog`` topic; records
        later than their windows go to ``<pipeline>.<name>.late``. See
        :class:`~streamworks.pipeline.aggregation.Aggregation` for the rest.

        Without ``output_type`` (and ``emit``) the stage writes a result record of its own:
        the key, the window's start and end, one field per aggregator of a ``Combine``
        (:mod:`~streamworks.pipeline.results`).
        """
        late = late_topic_of(self.name, name)
        windowed = window is not None
        if output_type is None:
            if emit is not None:
                raise ConfigurationError(f"aggregation {name}: an emit needs its output_type")
            output_type = result_record(self.name, name, aggregator, windowed=windowed)
        spec = Aggregation(
            key=key,
            aggregator=aggregator,
            output=output,
            emit=emitter(name, emit, output_type, aggregator, windowed=windowed),
            window=window,
            mode=mode,
            event_time=event_time,
            close_when_idle=close_when_idle,
            wait_for_origins=wait_for_origins,
            standby=standby,
            changelog=changelog_topic(self.name, name),
            late=late,
        )

        async def folded_not_called(record: Any) -> Any:
            raise NotImplementedError("an aggregation stage folds records into state")

        return self.add(
            Stage(
                name=name,
                inputs=(inputs,) if isinstance(inputs, str) else tuple(inputs),
                input_type=input_type,
                outputs={output: output_type, late: input_type},
                function=folded_not_called,
                repartition_by=key if repartition else None,
                aggregation=spec,
            )
        )

    def stream(self, inputs: str | tuple[str, ...], record_type: type[AvroRecord]) -> Stream:
        """Start a chained aggregation over ``inputs`` (see :mod:`~streamworks.pipeline.chain`):
        ``stream(topic, Record).group_by(key).tumbling(60).agg(n=Count()).to(out)``."""
        topics = (inputs,) if isinstance(inputs, str) else tuple(inputs)
        return Stream(self.aggregate, topics, record_type)

    def gather(
        self,
        name: str,
        *,
        inputs: str | tuple[str, ...],
        input_type: type[AvroRecord],
        correlation: Callable[[Any], str],
        answer: Callable[[Any], str],
        value: Callable[[Any], Any],
        expected: Iterable[str],
        timeout: float,
        output: str,
        output_type: type[AvroRecord],
        emit: Callable[[str, Gathered], AvroRecord],
        repartition: bool = True,
    ) -> Stage[Any]:
        """Add a gather stage: answers (named by ``answer``) collected per ``correlation``.

        Emits ``emit(correlation_id, gathered)`` once every ``expected`` answer arrived, or
        ``timeout`` seconds (of the answers' timestamps, or of the wall clock on a quiet
        partition) after the first one, with the missing answers named. See
        :mod:`streamworks.pipeline.gather`.
        """
        window = Gather(expected, timeout=timeout)

        def emit_gathered(key: str, _: Window | None, answers: dict[str, Any]) -> AvroRecord:
            return emit(key, Gathered(answers, window.missing(answers)))

        return self.aggregate(
            name,
            inputs=inputs,
            input_type=input_type,
            key=correlation,
            aggregator=Answers(answer, value),
            window=window,
            mode="final",
            output=output,
            output_type=output_type,
            emit=emit_gathered,
            repartition=repartition,
            close_when_idle=min(1.0, timeout / 2),
        )

    def group_id(self, stage: str) -> str:
        """The consumer group of a stage's worker pool."""
        return f"{self.name}.{stage}"

    def dead_letter_topic(self, stage: str) -> str:
        """The stage's dead-letter topic."""
        return dead_letter_topic(self.name, stage)

    def topics(self) -> dict[str, TopicSpec]:
        """Every topic the pipeline touches, declared or implied, dead-letter topics included."""
        found = dict(self._topics)
        for stage in self.order():
            for topic in stage.inputs:
                found.setdefault(topic, TopicSpec(topic, None, self.default_partitions))
            internal = self._internal_format(stage, found)
            for topic, kind in stage.outputs.items():
                if topic not in found:
                    fmt = internal if self._is_internal(stage, topic) else "avro"
                    found[topic] = TopicSpec(topic, kind, self.default_partitions, format=fmt)
            dlq = self.dead_letter_topic(stage.name)
            found.setdefault(dlq, TopicSpec(dlq, None, 1))
        for stage in self.stages.values():
            for table in stage.tables:
                found.setdefault(
                    table.topic,
                    TopicSpec(
                        table.topic,
                        table.record_type,
                        self.default_partitions,
                        external=True,
                        config={"cleanup.policy": "compact"},
                    ),
                )
            if stage.aggregation is not None:
                changelog = stage.aggregation.changelog
                partitions = max(found[topic].partitions for topic in stage.inputs)
                found.setdefault(
                    changelog,
                    TopicSpec(changelog, None, partitions, config={"cleanup.policy": "compact"}),
                )
        return found

    def _is_internal(self, stage: Stage[Any], topic: str) -> bool:
        """True for the topics the pipeline adds itself: repartitions and late records."""
        late = stage.aggregation.late if stage.aggregation is not None else None
        return (
            topic == late
            or topic == f"{self.name}.{stage.name.removesuffix('.repartition')}.repartition"
        )

    @staticmethod
    def _internal_format(stage: Stage[Any], found: dict[str, TopicSpec]) -> Format:
        """The format of a stage's internal outputs: its inputs' (copied as they are), so a
        JSON pipeline needs no registry for them; Avro when the inputs differ."""
        formats = {found[topic].format for topic in stage.inputs}
        return formats.pop() if len(formats) == 1 else "avro"

    def reads(self, stage: str) -> set[str]:
        """The topics a stage's workers read: inputs, global tables, its changelog."""
        found = self.stages[stage]
        changelog = {found.aggregation.changelog} if found.aggregation is not None else set()
        return set(found.inputs) | {t.topic for t in found.tables} | changelog

    def topics_of(self, stage: str) -> set[str]:
        """Every topic a stage's workers read or write (its dead-letter topic included)."""
        return self.reads(stage) | set(self.stages[stage].outputs) | {self.dead_letter_topic(stage)}

    def upstream_of(self, stage: str) -> dict[str, int]:
        """Topic -> partitions of what feeds ``stage`` through its repartition stage.

        An aggregation that repartitions reads ``<pipeline>.<name>.repartition``; each of
        its tasks then takes records from every partition of the repartition stage's
        inputs, and those partitions (not the repartition topic's) are the *origins* its
        stream time waits for. Empty for a stage that reads its inputs as they are.
        """
        found = self.stages[stage]
        feeder = self.stages.get(f"{stage}.repartition")
        internal = f"{self.name}.{stage}.repartition"
        if feeder is None or found.inputs != (internal,):
            return {}
        specs = self.topics()
        return {topic: specs[topic].partitions for topic in feeder.inputs}

    def producers(self, topic: str) -> list[tuple[str, type[AvroRecord]]]:
        """(stage, record type) of every stage that writes ``topic``."""
        return [(s.name, s.outputs[topic]) for s in self.stages.values() if topic in s.outputs]

    def validate(self) -> None:
        """Raise :class:`PipelineError` listing every problem; return when there is none.

        Every record class must have a schema (derived, or a contract it fits), every
        stage's input must be produced by a stage or declared external, and every writer
        schema on an edge must be readable by the reader's schema (Avro resolution); on a JSON
        topic the reader must also know every field the writer writes.
        """
        problems: list[str] = []
        for record_type in self._record_types():
            try:
                contract_of(record_type)
            except SchemaError as error:
                problems.append(str(error))
        if problems:  # the edges cannot be checked without the schemas
            raise PipelineError(self.name, problems)
        declared = self.topics()
        for stage in self.stages.values():
            counts = {declared[topic].partitions for topic in stage.inputs}
            if stage.aggregation is not None and len(counts) > 1:
                problems.append(
                    f"aggregation {stage.name} reads topics with different partition counts "
                    f"{sorted(counts)}; co-partition them or let it repartition"
                )
            for topic in stage.inputs:
                spec = self._topics.get(topic)
                writers = [(f"stage {name}", kind) for name, kind in self.producers(topic)]
                if spec is not None and spec.external:
                    if spec.record_type is None:
                        problems.append(f"external topic {topic} declares no record type")
                    else:
                        writers.append((f"external topic {topic}", spec.record_type))
                if not writers:
                    problems.append(
                        f"stage {stage.name} reads {topic}, which no stage produces; "
                        "declare it external if something else writes it"
                    )
                problems.extend(
                    f"{writer} writes {kind.__name__} to {topic}, which stage {stage.name} "
                    f"cannot read as {stage.input_type.__name__}: {problem}"
                    for writer, kind in writers
                    for problem in reader_problems(
                        contract_of(stage.input_type).schema_str, contract_of(kind).schema_str
                    )
                )
                if declared[topic].format == "json":  # a JSON reader refuses unknown fields
                    problems.extend(
                        f"{writer} writes {kind.__name__} to JSON topic {topic} with fields "
                        f"{', '.join(extra)}, which {stage.input_type.__name__} of stage "
                        f"{stage.name} lacks: JSON values with unknown fields are refused"
                        for writer, kind in writers
                        if (extra := _unknown_to(stage.input_type, kind))
                    )
        if problems:
            raise PipelineError(self.name, problems)

    def subjects(self) -> dict[str, Contract]:
        """Every typed Avro topic's registry subject (``<topic>-value``) and its contract
        (a JSON topic has none)."""
        return {
            f"{spec.name}-value": contract_of(spec.record_type)
            for spec in self.topics().values()
            if spec.record_type is not None and spec.format == "avro"
        }

    def schemas(self) -> dict[str, Contract]:
        """Every typed topic's contract by topic, JSON topics included, except the internal
        ones (repartitions and late records carry an input's schema as it is)."""
        internal = {
            topic
            for stage in self.stages.values()
            for topic in stage.outputs
            if self._is_internal(stage, topic)
        }
        return {
            spec.name: contract_of(spec.record_type)
            for spec in self.topics().values()
            if spec.record_type is not None and spec.name not in internal
        }

    def _record_types(self) -> list[type[AvroRecord]]:
        """Every record class the pipeline reads or writes, each once, in declaration order."""
        found: dict[type[AvroRecord], None] = {}
        for spec in self._topics.values():
            if spec.record_type is not None:
                found[spec.record_type] = None
        for stage in self.stages.values():
            found[stage.input_type] = None
            found.update(dict.fromkeys(stage.outputs.values()))
            found.update(dict.fromkeys(table.record_type for table in stage.tables))
        return list(found)

    def order(self) -> list[Stage[Any]]:
        """Stages with producers before consumers (declaration order breaks ties)."""
        remaining = list(self.stages.values())
        done: set[str] = set()
        ordered: list[Stage[Any]] = []
        while remaining:
            for stage in remaining:
                upstream = {
                    name
                    for topic in stage.inputs
                    for name, _ in self.producers(topic)
                    if name != stage.name
                }
                if upstream <= done:
                    break
            else:
                stage = remaining[0]  # a cycle: fall back to declaration order
            remaining.remove(stage)
            done.add(stage.name)
            ordered.append(stage)
        return ordered


def _unknown_to(reader: type[AvroRecord], writer: type[AvroRecord]) -> list[str]:
    """The top-level fields of ``writer``'s schema that ``reader``'s lacks."""
    known = {item["name"] for item in contract_of(reader).schema["fields"]}
    return [
        item["name"] for item in contract_of(writer).schema["fields"] if item["name"] not in known
    ]


def dead_letter_topic(pipeline: str, stage: str) -> str:
    """``<pipeline>.<stage>.dlq``: where a stage's dead letters go."""
    return f"{pipeline}.{stage}.dlq"
