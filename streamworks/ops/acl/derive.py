"""Least-privilege ACLs derived from what a pipeline and its connectors declare.

Every stage runs as its own principal ``User:<pipeline>.<stage>`` (its consumer group's
name) and every connector as ``User:connect-<name>``; the schema registry as
``User:schema-registry``. Each gets exactly what its code does, and nothing else:

- a stage reads its inputs (and its global tables), writes its outputs and its dead-letter
  topic, reads and writes its changelog, joins its own group, publishes its stats (an
  aggregation also reads them, to route table queries to the owning worker), answers
  request/reply callers on ``_replies.*`` and, under exactly-once, uses the transactional
  ids ``<pipeline>.<stage>.*`` (one per partition or task);
- a source writes its topic and dead-letter topic and keeps its position in the shared
  positions topic; exactly-once adds its one transactional id ``connect-<name>``;
- a sink reads its topics as its group and writes its dead-letter topic.

Topics are created by whoever applies the plan (``acl apply`` creates missing ones), so no
principal gets CREATE. Idempotent producers need no cluster permission since Kafka 3.0:
WRITE on a topic implies it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from streamworks.connectors.base.config import ConnectorConfig, SinkConfig, SourceConfig
from streamworks.connectors.base.positions import POSITIONS_TOPIC
from streamworks.ops.acl.model import Binding, Operation, Pattern, Resource
from streamworks.pipeline.graph import Pipeline
from streamworks.runtime.stats import STATS_TOPIC

__all__ = [
    "REGISTRY_PRINCIPAL",
    "REPLY_PREFIX",
    "connector_bindings",
    "pipeline_bindings",
    "plan",
    "principals",
    "registry_bindings",
    "user",
]

REGISTRY_PRINCIPAL = "schema-registry"
"""The Kafka user the schema registry logs in as."""
REPLY_PREFIX = "_replies."
"""Topics request/reply callers create for their answers (see streamworks.runtime.reply)."""


def user(name: str) -> str:
    """The principal of a SCRAM (or PLAIN) user name."""
    return f"User:{name}"


class _Grants:
    """Collects the bindings of one principal."""

    def __init__(self, name: str) -> None:
        self.principal = user(name)
        self.found: list[Binding] = []

    def allow(
        self,
        resource: Resource,
        name: str,
        operations: Iterable[Operation],
        why: str,
        pattern: Pattern = "LITERAL",
    ) -> None:
        self.found.extend(
            Binding(self.principal, resource, pattern, name, operation, why)
            for operation in operations
        )

    def reads(self, topic: str, why: str) -> None:
        self.allow("TOPIC", topic, ("READ", "DESCRIBE"), why)

    def writes(self, topic: str, why: str) -> None:
        self.allow("TOPIC", topic, ("WRITE", "DESCRIBE"), why)


def pipeline_bindings(pipeline: Pipeline) -> list[Binding]:
    """What every stage of ``pipeline`` needs, stage by stage."""
    found: list[Binding] = []
    for stage in pipeline.stages.values():
        group = pipeline.group_id(stage.name)
        grants = _Grants(group)
        for topic in stage.inputs:
            grants.reads(topic, "input")
        for table in stage.tables:
            grants.reads(table.topic, "global table")
        for topic in stage.outputs:
            grants.writes(topic, "output")
        grants.writes(pipeline.dead_letter_topic(stage.name), "dead letters")
        if stage.aggregation is not None:
            grants.reads(stage.aggregation.changelog, "state changelog (restore)")
            grants.writes(stage.aggregation.changelog, "state changelog")
            grants.reads(STATS_TOPIC, "finds the worker that owns a key (table queries)")
        grants.allow("GROUP", group, ("READ",), "its worker pool's consumer group")
        if pipeline.guarantee == "exactly-once":
            grants.allow(
                "TRANSACTIONAL_ID",
                f"{group}.",
                ("WRITE", "DESCRIBE"),
                "one transactional producer per partition or task",
                pattern="PREFIXED",
            )
        grants.writes(STATS_TOPIC, "worker stats")
        grants.allow(
            "TOPIC", REPLY_PREFIX, ("WRITE", "DESCRIBE"), "request/reply answers", "PREFIXED"
        )
        found.extend(grants.found)
    return _unique(found)


def connector_bindings(configs: Sequence[ConnectorConfig]) -> list[Binding]:
    """What every connector needs."""
    found: list[Binding] = []
    for config in configs:
        grants = _Grants(config.principal)
        grants.writes(config.dlq_topic, "dead letters")
        if isinstance(config, SourceConfig):
            grants.writes(config.topic, "records it produces")
            grants.reads(POSITIONS_TOPIC, "where it got to (restore)")
            grants.writes(POSITIONS_TOPIC, "where it got to")
            if config.guarantee == "exactly-once":
                grants.allow(
                    "TRANSACTIONAL_ID",
                    config.principal,
                    ("WRITE", "DESCRIBE"),
                    "records and position in one transaction",
                )
        elif isinstance(config, SinkConfig):
            for topic in config.topics:
                grants.reads(topic, "records it writes out")
            grants.allow("GROUP", config.group_id, ("READ",), "its workers' consumer group")
        found.extend(grants.found)
    return _unique(found)


def registry_bindings(topic: str = "_schemas") -> list[Binding]:
    """What the schema registry needs: its state topic, election group and writer id."""
    grants = _Grants(REGISTRY_PRINCIPAL)
    grants.reads(topic, "schemas (state)")
    grants.writes(topic, "schemas (state)")
    grants.allow("GROUP", f"{topic}-registry", ("READ",), "primary election")
    grants.allow("TRANSACTIONAL_ID", f"{topic}-registry-writer", ("WRITE", "DESCRIBE"), "writes")
    return grants.found


def plan(
    pipeline: Pipeline,
    connectors: Sequence[ConnectorConfig] = (),
    *,
    registry_topic: str | None = None,
) -> list[Binding]:
    """Every binding the pipeline, its connectors and (optionally) the registry need."""
    found = pipeline_bindings(pipeline) + connector_bindings(connectors)
    if registry_topic is not None:
        found += registry_bindings(registry_topic)
    return _unique(found)


def principals(bindings: Iterable[Binding]) -> list[str]:
    """The user names the bindings are for, in order of first appearance."""
    names = dict.fromkeys(b.principal.removeprefix("User:") for b in bindings)
    return list(names)


def _unique(bindings: Iterable[Binding]) -> list[Binding]:
    """Drop repeated rules, keeping the first reason given."""
    seen: dict[tuple[str, str, str, str, str], Binding] = {}
    for binding in bindings:
        seen.setdefault(binding.rule, binding)
    return list(seen.values())
