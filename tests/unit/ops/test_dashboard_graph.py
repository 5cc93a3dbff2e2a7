"""The dashboard without a broker: the graph, its layers, and the JSON and page routes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from streamworks.connectors.files import JsonlSinkConfig
from streamworks.connectors.http import HttpSourceConfig
from streamworks.core.settings import Settings
from streamworks.ops.dashboard import Edge, LiveStatus, build_app, build_graph, layers
from streamworks.ops.status import StatusError
from tests.kit.pipelines import sensor_pipeline

PIPELINE = sensor_pipeline("o")
CONNECTORS = [
    HttpSourceConfig(name="ingest", topic="o.readings"),
    JsonlSinkConfig(name="archive", topics=["o.labels", "o.totals"], directory=Path("out")),
]


def test_the_graph_has_sources_stages_topics_and_sinks_with_partitions() -> None:
    graph = build_graph(PIPELINE, CONNECTORS)
    nodes = {n.id: n for n in graph.nodes}
    edges = {(e.source, e.target): e.kind for e in graph.edges}

    assert nodes["source:ingest"].detail == "http"
    assert nodes["sink:archive"].kind == "sink"
    assert nodes["topic:o.readings"].partitions == 2
    assert nodes["stage:classify"].dlq == "o.classify.dlq"
    assert nodes["stage:totals"].detail == "aggregation"
    assert {"stage:clean", "stage:totals.repartition", "stage:totals"} <= set(nodes)
    assert edges[("source:ingest", "topic:o.readings")] == "data"
    assert edges[("topic:o.readings", "stage:clean")] == "data"
    assert edges[("stage:classify", "topic:o.labels")] == "data"
    assert edges[("stage:classify", "topic:o.alarms")] == "data"
    assert edges[("topic:o.sensors", "stage:classify")] == "table"
    assert edges[("topic:o.totals", "sink:archive")] == "data"
    # dead letters are counts on their stage and changelogs the stage's business: no nodes
    assert not [n for n in nodes if n.endswith(".dlq") or n.endswith(".changelog")]
    assert {e.source for e in graph.edges} | {e.target for e in graph.edges} == set(nodes)


def test_layers_run_left_to_right_along_the_longest_path() -> None:
    graph = build_graph(PIPELINE, CONNECTORS)
    layer = {n.id: n.layer for n in graph.nodes}
    chain = ["source:ingest", "topic:o.readings", "stage:clean", "topic:o.clean", "stage:scale"]
    assert [layer[n] for n in chain] == [0, 1, 2, 3, 4]
    for edge in graph.edges:
        assert layer[edge.target] > layer[edge.source], edge
    # the table topic sits just before the stage joining it, not at the far left
    assert layer["topic:o.sensors"] == layer["stage:classify"] - 1
    assert [n.layer for n in graph.nodes] == sorted(n.layer for n in graph.nodes)


def test_layers_survive_cycles_and_lonely_nodes() -> None:
    edges = [Edge("a", "b"), Edge("b", "c"), Edge("c", "b"), Edge("c", "d")]
    assert layers(["a", "b", "c", "d", "alone"], edges) == {
        "a": 0,
        "b": 1,
        "c": 2,
        "d": 3,
        "alone": 0,
    }


def test_the_graph_is_plain_data() -> None:
    data = build_graph(PIPELINE).as_data()
    assert data["pipeline"] == "o"
    assert data["nodes"][0] == {
        "id": "topic:o.readings",
        "kind": "topic",
        "name": "o.readings",
        "layer": 0,
        "partitions": 2,
        "dlq": None,
        "detail": None,
    }
    assert {"source": "topic:o.readings", "target": "stage:clean", "kind": "data"} in data["edges"]


class Counted(LiveStatus):
    """Live figures without Kafka: counts its samples, fails when told to."""

    def __init__(self, max_age: float = 60.0) -> None:
        super().__init__(PIPELINE, Settings(), max_age=max_age)
        self.samples = 0
        self.failing = False

    async def _sample(self) -> dict[str, Any]:
        if self.failing:
            raise StatusError("Kafka at 127.0.0.1:1 is down", bootstrap="127.0.0.1:1")
        self.samples += 1
        return {"pipeline": "o", "bottleneck": "scale", "samples": self.samples}


async def test_the_routes_serve_the_page_the_graph_and_cached_status() -> None:
    live = Counted()
    app = build_app(build_graph(PIPELINE, CONNECTORS), live)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        page = await client.get("/")
        html = await page.text()
        assert page.status == 200
        assert '<script src="/static/dashboard.js">' in html
        assert "http" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
        script = await client.get("/static/dashboard.js")
        assert script.status == 200
        assert "data-stage" in await script.text()
        assert (await client.get("/static/dashboard.css")).status == 200

        graph = await (await client.get("/api/graph")).json()
        assert {n["id"] for n in graph["nodes"]} >= {"source:ingest", "stage:clean", "sink:archive"}

        first = await (await client.get("/api/status")).json()
        second = await (await client.get("/api/status")).json()
        assert first == second == {"pipeline": "o", "bottleneck": "scale", "samples": 1}
        assert live.samples == 1  # the second page view was served from the cache


async def test_status_resamples_when_old_and_answers_503_when_kafka_fails() -> None:
    live = Counted(max_age=0.0)
    async with TestClient(TestServer(build_app(build_graph(PIPELINE), live))) as client:
        await client.get("/api/status")
        assert (await (await client.get("/api/status")).json())["samples"] == 2
        live.failing = True
        answer = await client.get("/api/status")
        assert answer.status == 503
        assert "127.0.0.1:1 is down" in (await answer.json())["error"]
