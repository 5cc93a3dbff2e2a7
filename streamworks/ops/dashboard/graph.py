"""A pipeline as a graph for the dashboard: sources, stages, topics and sinks, laid out in layers.

Edges run topic -> stage -> topic (and source -> topic -> sink for connectors); a stage's
global tables are edges of kind ``table``. Dead-letter and changelog topics are left out:
the dead letters are a count on their stage, the changelogs are the stage's own business.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from streamworks.connectors.base.config import ConnectorConfig, SinkConfig, SourceConfig
from streamworks.pipeline.graph import Pipeline

__all__ = ["Edge", "Graph", "Node", "NodeKind", "build_graph", "layers"]

NodeKind = Literal["source", "stage", "topic", "sink"]
"""What a node stands for."""


@dataclass(frozen=True)
class Node:
    """One box of the drawing."""

    id: str
    """Unique id, ``<kind>:<name>``."""
    kind: NodeKind
    """Source connector, stage, topic or sink connector."""
    name: str
    """Stage, topic or connector name."""
    layer: int
    """Column from the left: the longest path from a node without inputs."""
    partitions: int | None = None
    """A topic's partition count; None for other nodes."""
    dlq: str | None = None
    """A stage's or connector's dead-letter topic."""
    detail: str | None = None
    """A connector's kind, a stage's role (``aggregation``), or None."""


@dataclass(frozen=True)
class Edge:
    """One arrow: records flow from ``source`` to ``target``."""

    source: str
    """Node id the records come from."""
    target: str
    """Node id they go to."""
    kind: Literal["data", "table"] = "data"
    """``table`` when the target joins the source as a global table."""


@dataclass(frozen=True)
class Graph:
    """The whole drawing: nodes (with their layers) and edges."""

    pipeline: str
    """Pipeline name."""
    nodes: tuple[Node, ...]
    """Every node, ordered by layer, then as declared."""
    edges: tuple[Edge, ...]
    """Every arrow."""

    def as_data(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return {
            "pipeline": self.pipeline,
            "nodes": [asdict(n) for n in self.nodes],
            "edges": [asdict(e) for e in self.edges],
        }


def build_graph(pipeline: Pipeline, connectors: Sequence[ConnectorConfig] = ()) -> Graph:
    """The graph of ``pipeline`` with the given connectors attached to their topics."""
    topics = pipeline.topics()
    found: dict[str, dict[str, Any]] = {}
    edges: list[Edge] = []

    def topic(name: str) -> str:
        spec = topics.get(name)
        partitions = spec.partitions if spec is not None else None
        found.setdefault(f"topic:{name}", {"kind": "topic", "name": name, "partitions": partitions})
        return f"topic:{name}"

    for connector in connectors:
        if isinstance(connector, SourceConfig):
            node = f"source:{connector.name}"
            found[node] = _connector(connector, "source")
            edges.append(Edge(node, topic(connector.topic)))
    for stage in pipeline.order():
        node = f"stage:{stage.name}"
        role = "aggregation" if stage.aggregation is not None else None
        found[node] = {
            "kind": "stage",
            "name": stage.name,
            "dlq": pipeline.dead_letter_topic(stage.name),
            "detail": role,
        }
        edges.extend(Edge(topic(name), node) for name in stage.inputs)
        edges.extend(Edge(topic(table.topic), node, "table") for table in stage.tables)
        edges.extend(Edge(node, topic(name)) for name in stage.outputs)
    for connector in connectors:
        if isinstance(connector, SinkConfig):
            node = f"sink:{connector.name}"
            found[node] = _connector(connector, "sink")
            edges.extend(Edge(topic(name), node) for name in connector.topics)
    depth = layers(found, edges)
    nodes = [Node(id=key, layer=depth[key], **attributes) for key, attributes in found.items()]
    order = {key: index for index, key in enumerate(found)}
    nodes.sort(key=lambda n: (n.layer, order[n.id]))
    return Graph(pipeline.name, tuple(nodes), tuple(edges))


def _connector(config: ConnectorConfig, kind: NodeKind) -> dict[str, Any]:
    return {"kind": kind, "name": config.name, "dlq": config.dlq_topic, "detail": config.kind}


def layers(nodes: Iterable[str], edges: Iterable[Edge]) -> dict[str, int]:
    """Each node's column: one past its deepest predecessor; a node without predecessors
    sits just left of its nearest successor (0 when it has none).

    Cycles (a stage feeding its own input) do not loop: an edge that closes a cycle is
    ignored, found by a depth-first search in declaration order.
    """
    names = list(nodes)
    outgoing: dict[str, list[str]] = {n: [] for n in names}
    for edge in edges:
        outgoing.setdefault(edge.source, []).append(edge.target)
        outgoing.setdefault(edge.target, [])
    finished: list[str] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    back: set[tuple[str, str]] = set()
    for start, targets in outgoing.items():
        if start in state:
            continue
        stack = [(start, iter(targets))]
        state[start] = 1
        while stack:
            node, pending = stack[-1]
            target = next(pending, None)
            if target is None:
                stack.pop()
                state[node] = 2
                finished.append(node)
            elif state.get(target) == 1:
                back.add((node, target))
            elif target not in state:
                state[target] = 1
                stack.append((target, iter(outgoing[target])))
    depth = dict.fromkeys(outgoing, 0)
    fed: set[str] = set()
    for node in reversed(finished):  # a topological order once back edges are gone
        for target in outgoing[node]:
            if (node, target) not in back:
                depth[target] = max(depth[target], depth[node] + 1)
                fed.add(target)
    for node, targets in outgoing.items():
        if node not in fed and targets:  # a start (a table topic) sits next to its readers
            depth[node] = max(0, min(depth[t] for t in targets) - 1)
    return depth
