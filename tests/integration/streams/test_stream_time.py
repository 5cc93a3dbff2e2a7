"""Stream time on the real broker: a record is late only when its producer wrote it late.

An aggregation repartitions four input partitions; the producer of one of them pauses for
several seconds of wall time while the other three run ahead. Every partition's readings
are in event-time order, so with no grace at all not one record may be late, and every
window holds all four partitions' readings.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from streamworks import Count, Pipeline, TopicSpec
from streamworks.testing import RunPipeline, unique_name, wait_for
from tests.kit.builders import EPOCH_MS, millis, reading
from tests.kit.records import Reading

pytestmark = pytest.mark.integration

PARTITIONS = 4
SECONDS = 20
SENSORS = ("a", "b", "c")
PAUSE_S = 5.0
"""How long the last partition's producer is paused: the scenario, not a wait."""


def _readings(partition: int) -> list[Reading]:
    """One reading a second for SECONDS seconds, in order; sensors rotate per partition."""
    return [
        reading(SENSORS[(second + partition) % len(SENSORS)], second * 1_000)
        for second in range(SECONDS)
    ]


@pytest.mark.timeout(180)
async def test_a_partition_whose_producer_pauses_makes_no_record_late(
    run_pipeline: RunPipeline,
) -> None:
    name = unique_name("stream-time")
    source = f"{name}.readings"
    pipeline = Pipeline(name, topics=[TopicSpec(source, Reading, PARTITIONS, external=True)])
    (
        pipeline.stream(source, Reading)
        .group_by(lambda r: r.sensor)
        .tumbling(2)  # no grace: any reading behind stream time would be late
        .agg(n=Count())
        # the last windows close once the input has been quiet for longer than the pause
        .to(
            f"{name}.counts",
            mode="final",
            event_time=lambda r: r.at,
            close_when_idle=2 * PAUSE_S,
        )
    )
    truth = Counter(
        (r.sensor, (millis(r.at) - EPOCH_MS) // 2_000 * 2_000)
        for p in range(PARTITIONS)
        for r in _readings(p)
    )

    async with run_pipeline(pipeline) as running:
        for partition in range(PARTITIONS - 1):
            await running.send(source, _readings(partition), partition=partition)
        await wait_for(
            lambda: running.counts("counts").records_in >= (PARTITIONS - 1) * SECONDS,
            timeout=60,
            what="the first three partitions folded in",
        )
        assert running.counts("counts").records_written == 0  # stream time waits for the 4th
        await asyncio.sleep(PAUSE_S)  # the last producer, paused
        await running.send(source, _readings(PARTITIONS - 1), partition=PARTITIONS - 1)
        windows = await running.read(
            f"{name}.counts", until=lambda found: sum(w.n for w in found) >= sum(truth.values())
        )
        counts = running.counts("counts")

    assert counts.late == 0
    found: Counter[tuple[str, int]] = Counter()
    for window in windows:
        found[(window.key, millis(window.window_start) - EPOCH_MS)] += window.n
    assert found == truth
    assert len(windows) == len(truth)  # each window emitted once
