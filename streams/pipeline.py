"""Pipelines: named graphs of stages and topics, validated before anything runs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from schemas.catalog import contract
from schemas.compatibility import reader_problems
from schemas.records import AvroRecord
from streams.dead_letters import dead_letter_topic
from streams.errors import ConfigurationError
from streams.settings import Guarantee
from streams.stage import RetryPolicy, Stage, StageFunction

__all__ = ["Pipeline", "PipelineError", "TopicSpec"]


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


class Pipeline:
    """Stages and the topics between them, with one processing guarantee."""

    def __init__(
        self,
        name: str,
        *,
        guarantee: Guarantee = "at-least-once",
        topics: list[TopicSpec] | None = None,
        default_partitions: int = 2,
    ) -> None:
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
        input_type: type[AvroRecord],
        outputs: dict[str, type[AvroRecord]],
        concurrency: int = 1,
        key: Callable[[Any], str | bytes] | None = None,
        repartition_by: Callable[[Any], str | bytes] | None = None,
        batch: bool = False,
        retry: RetryPolicy | None = None,
    ) -> Callable[[StageFunction], StageFunction]:
        """Decorator declaring the decorated ``async`` function as a stage of this pipeline."""

        def register(function: StageFunction) -> StageFunction:
            self.add(
                Stage(
                    name=name,
                    inputs=(inputs,) if isinstance(inputs, str) else tuple(inputs),
                    input_type=input_type,
                    outputs=dict(outputs),
                    function=function,
                    concurrency=concurrency,
                    key=key,
                    repartition_by=repartition_by,
                    batch=batch,
                    retry=retry or RetryPolicy(),
                )
            )
            return function

        return register

    def group_id(self, stage: str) -> str:
        """The consumer group of a stage's worker pool."""
        return f"{self.name}.{stage}"

    def dead_letter_topic(self, stage: str) -> str:
        """The stage's dead-letter topic."""
        return dead_letter_topic(self.name, stage)

    def topics(self) -> dict[str, TopicSpec]:
        """Every topic the pipeline touches, declared or implied, dead-letter topics included."""
        found = dict(self._topics)
        for stage in self.stages.values():
            for topic, kind in stage.outputs.items():
                found.setdefault(topic, TopicSpec(topic, kind, self.default_partitions))
            for topic in stage.inputs:
                found.setdefault(topic, TopicSpec(topic, None, self.default_partitions))
            dlq = self.dead_letter_topic(stage.name)
            found.setdefault(dlq, TopicSpec(dlq, None, 1))
        return found

    def producers(self, topic: str) -> list[tuple[str, type[AvroRecord]]]:
        """(stage, record type) of every stage that writes ``topic``."""
        return [(s.name, s.outputs[topic]) for s in self.stages.values() if topic in s.outputs]

    def validate(self) -> None:
        """Raise :class:`PipelineError` listing every problem; return when there is none.

        Every stage's input must be produced by a stage or declared external, and every
        writer schema on an edge must be readable by the reader's schema (Avro resolution).
        """
        problems: list[str] = []
        for stage in self.stages.values():
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
                        contract(stage.input_type.topic).schema_str, contract(kind.topic).schema_str
                    )
                )
        if problems:
            raise PipelineError(self.name, problems)

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
