"""Table queries without a broker: partition choice, rendering, and routing between servers."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiokafka.partitioner import DefaultPartitioner

from streamworks.core.settings import Settings
from streamworks.pipeline import Window
from streamworks.pipeline.graph import Pipeline, TopicSpec
from streamworks.pipeline.stage import Stage
from streamworks.runtime.query import (
    NotATableError,
    QueryServer,
    key_partition,
    live_workers,
    render,
)
from streamworks.runtime.stats import StatsFollower
from tests.kit.builders import EPOCH_MS
from tests.kit.pipelines import count_and_sum, sensor_pipeline, total
from tests.kit.records import Reading, Total


def _pipeline(partitions: int = 4) -> Pipeline:
    pipeline = Pipeline(
        "q",
        topics=[TopicSpec("q.in", Reading, 2, external=True)],
        default_partitions=partitions,  # the count of the repartition topic the stage reads
    )
    pipeline.aggregate(
        "counts",
        inputs="q.in",
        input_type=Reading,
        key=lambda r: r.sensor,
        aggregator=count_and_sum(),
        output="q.out",
        output_type=Total,
        emit=total,
    )
    return pipeline


def test_a_key_belongs_to_the_partition_kafkas_default_partitioner_gives_it() -> None:
    pipeline = _pipeline(partitions=4)
    partitions = list(range(4))
    for key in ["c1", "c2", "sensor-42", "ü", ""]:
        expected = DefaultPartitioner()(key.encode(), partitions, partitions)
        assert key_partition(pipeline, "counts", key) == expected
    assert {key_partition(pipeline, "counts", f"c{n}") for n in range(50)} == set(partitions)


def test_the_partition_is_of_the_repartition_topic_the_stage_reads() -> None:
    pipeline = sensor_pipeline("s", partitions=3)
    assert pipeline.stages["totals"].inputs == ("s.totals.repartition",)
    assert pipeline.topics()["s.totals.repartition"].partitions == 3
    partitions = list(range(3))
    for key in ("s1", "s2", "s3"):
        expected = DefaultPartitioner()(key.encode(), partitions, partitions)
        assert key_partition(pipeline, "totals", key) == expected
    with pytest.raises(NotATableError, match="no aggregation stage 'clean'; tables: totals"):
        key_partition(pipeline, "clean", "x")


def test_windows_render_as_iso_times_with_their_results() -> None:
    window = Window(EPOCH_MS, EPOCH_MS + 60_000)
    assert render([(window, 7)], windowed=True) == [
        {
            "start": "2026-11-27T00:00:00+00:00",
            "end": "2026-11-27T00:01:00+00:00",
            "start_ms": EPOCH_MS,
            "end_ms": EPOCH_MS + 60_000,
            "result": 7,
        }
    ]
    assert render({"count": 2}, windowed=False) == {"count": 2}


def _record(worker: str, at: float, **more: Any) -> dict[str, Any]:
    return {"pipeline": "q", "stage": "counts", "worker": worker, "at": at, **more}


def test_live_workers_leave_out_stopped_silent_and_other_workers() -> None:
    now = time.time()
    latest = {
        b"a": _record("a", now - 1, query="h:1", partitions=[0]),
        b"b": _record("b", now - 0.5, query="h:2", partitions=[1, 2]),
        b"stopped": _record("s", now, query="h:3", partitions=[0], stopped=True),
        b"silent": _record("x", now - 60, query="h:4", partitions=[3]),
        b"plain": _record("p", now),  # a worker without a query server
        b"other": {**_record("o", now, query="h:5"), "stage": "else"},
    }
    found = live_workers(latest, "q", "counts", now)
    assert [(w.worker, w.address, w.partitions) for w in found] == [
        ("b", "h:2", frozenset({1, 2})),
        ("a", "h:1", frozenset({0})),
    ]


class _FakeWorker:
    def __init__(self, stage: Stage[Any], values: dict[int, dict[str, Any]]) -> None:
        self.stage = stage
        self.values = values

    @property
    def partitions(self) -> set[int]:
        return set(self.values)

    def value(self, partition: int, key: str) -> Any:
        return self.values[partition].get(key)


class _Directory(StatsFollower):
    """The stats topic as a dict the test fills."""

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass


@pytest.fixture
async def servers() -> AsyncIterator[tuple[QueryServer, QueryServer, _Directory]]:
    pipeline = _pipeline(partitions=2)
    stage = pipeline.stages["counts"]
    settings = Settings(query_host="127.0.0.1", query_port=0)
    directory = _Directory(settings)
    owner_of = {key: key_partition(pipeline, "counts", key) for key in ("c1", "c2", "c3")}
    values = {p: {k: n for n, k in enumerate(owner_of) if owner_of[k] == p} for p in (0, 1)}
    first = QueryServer(
        _FakeWorker(stage, {0: values[0]}), pipeline, settings, "w0", follower=directory
    )
    second = QueryServer(
        _FakeWorker(stage, {1: values[1]}), pipeline, settings, "w1", follower=directory
    )
    await first.start()
    await second.start()
    for server in (first, second):
        directory.latest[server.worker_id.encode()] = _record(
            server.worker_id, time.time(), **server.details()
        )
    yield first, second, directory
    await first.stop()
    await second.stop()


async def _get(address: str | None, path: str, **headers: str) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://{address}{path}", headers=headers) as response,
    ):
        body: dict[str, Any] = await response.json()
        return response.status, body


async def test_any_worker_answers_for_any_key_routing_to_its_owner(
    servers: tuple[QueryServer, QueryServer, _Directory],
) -> None:
    first, second, _ = servers
    pipeline = _pipeline(partitions=2)
    for key in ("c1", "c2", "c3"):
        partition = key_partition(pipeline, "counts", key)
        owner, other = (first, second) if partition == 0 else (second, first)
        status, local = await _get(owner.address, f"/tables/counts/{key}")
        assert status == 200
        assert local["worker"] == owner.worker_id
        assert (local["stage"], local["key"], local["partition"]) == ("counts", key, partition)
        status, routed = await _get(other.address, f"/tables/counts/{key}")
        assert status == 200
        assert routed == {**local, "routed_from": other.worker_id}


async def test_missing_keys_bad_stages_and_unknown_paths_are_clear_json(
    servers: tuple[QueryServer, QueryServer, _Directory],
) -> None:
    first, *_ = servers
    status, body = await _get(first.address, "/tables/counts/nobody%2Fhere")
    assert status == 404
    assert body["key"] == "nobody/here"
    assert "has no value in counts" in body["error"]
    status, body = await _get(first.address, "/tables/nope/c1")
    assert (status, body["error"]) == (
        404,
        "pipeline q has no aggregation stage 'nope'; tables: counts",
    )
    status, body = await _get(first.address, "/elsewhere")
    assert status == 404
    assert "Not Found" in body["error"]
    status, body = await _get(first.address, "/health")
    assert (status, body["status"], body["partitions"]) == (200, "ok", [0])


async def test_no_live_owner_is_a_503_and_a_forwarded_miss_is_never_forwarded_again(
    servers: tuple[QueryServer, QueryServer, _Directory], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second, directory = servers
    monkeypatch.setattr("streamworks.runtime.query._OWNER_WAIT_S", 0.3)
    key = next(k for k in ("c1", "c2", "c3") if key_partition(_pipeline(2), "counts", k) == 1)
    status, body = await _get(
        first.address, f"/tables/counts/{key}", **{"X-Streamworks-Routed-From": "w9"}
    )
    assert status == 503
    assert body["error"] == "worker w0 does not own partition 1 of counts"
    directory.latest[b"w1"]["stopped"] = True  # the owner left: mid-rebalance, no one has it
    status, body = await _get(first.address, f"/tables/counts/{key}")
    assert status == 503
    assert "no live worker of stage counts owns partition 1" in body["error"]
    directory.latest[b"w1"].pop("stopped")
    await second.stop()  # the directory still names it, but it does not answer
    status, body = await _get(first.address, f"/tables/counts/{key}")
    assert status == 503
    assert body["error"].startswith(f"owner w1 of partition 1 at {second.address}:")
