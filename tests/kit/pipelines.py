"""Small pipelines of the framework tests, declared with the public API only.

Worker processes load them by reference (``tests.kit.pipelines:sensors_from_env``, ...),
named by the environment, so each test runs its own copy on topics of its own.
"""

from __future__ import annotations

import asyncio
import math
import os
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from streamworks import (
    Combine,
    Count,
    GlobalTable,
    Guarantee,
    OnMissing,
    Pipeline,
    Settings,
    Sum,
    TopicSpec,
    Tumbling,
    Window,
)
from tests.kit.records import Alarm, Label, Level, Reading, Total, WindowCount

__all__ = [
    "ALARM_ABOVE",
    "SLOW_S",
    "WARN_ABOVE",
    "WINDOW_S",
    "count_and_sum",
    "sensor_pipeline",
    "sensors_from_env",
    "slow_from_env",
    "slow_pipeline",
    "total",
    "totals_pipeline",
    "totals_truth",
    "window_count",
    "windows_from_env",
    "windows_pipeline",
]

WARN_ABOVE = 80.0
"""A scaled reading above this is labelled WARN."""
ALARM_ABOVE = 100.0
"""A scaled reading above this raises an alarm."""
WINDOW_S = 10
"""Size of the windows of :func:`windows_pipeline`."""
SLOW_S = 0.02
"""How long :func:`slow_pipeline`'s stage takes per record (about 50 records/s a worker)."""


def window_count(key: str, window: Window | None, count: Any) -> WindowCount:
    """The output of a windowed :class:`~streamworks.Count`."""
    assert window is not None, "a windowed aggregation"
    return WindowCount(
        key=key,
        start=datetime.fromtimestamp(window.start_ms / 1000, UTC),
        end=datetime.fromtimestamp(window.end_ms / 1000, UTC),
        count=int(count),
    )


def count_and_sum() -> Combine:
    """How many readings and the sum of their values: what :func:`total` emits."""
    return Combine({"count": Count(), "sum": Sum(of=lambda r: r.value)})


def total(key: str, window: Window | None, result: dict[str, Any]) -> Total:
    """The output of :func:`count_and_sum`."""
    return Total(key=key, count=result["count"], sum=result["sum"])


def sensor_pipeline(
    prefix: str = "sensors",
    *,
    partitions: int = 2,
    guarantee: Guarantee = "at-least-once",
    missing_sensor: OnMissing = OnMissing.DEFAULT,
) -> Pipeline:
    """Readings cleaned, scaled and classified, and alarms counted; named ``prefix``.

    ``<p>.readings`` -> clean -> ``<p>.clean`` -> scale -> ``<p>.scaled`` -> classify ->
    ``<p>.labels`` or ``<p>.alarms``; ``<p>.alarms`` -> totals (alarms and their values per
    sensor) -> ``<p>.totals``. ``clean`` drops NaN readings; ``classify`` joins each
    reading with its sensor's entry in ``<p>.sensors`` (a compacted topic of labels, whose
    note says where the sensor is).
    """
    topic = {
        part: f"{prefix}.{part}"
        for part in ("readings", "clean", "scaled", "labels", "alarms", "sensors", "totals")
    }
    pipeline = Pipeline(
        prefix,
        guarantee=guarantee,
        default_partitions=partitions,
        topics=[
            TopicSpec(topic["readings"], Reading, partitions, external=True),
            TopicSpec(
                topic["sensors"],
                Label,
                partitions,
                external=True,
                config={"cleanup.policy": "compact"},
            ),
        ],
    )
    sensors = GlobalTable(topic["sensors"], Label, on_missing=missing_sensor)

    @pipeline.stage(
        "clean",
        inputs=topic["readings"],
        input_type=Reading,
        outputs={topic["clean"]: Reading},
        key=lambda r: r.sensor,
    )
    async def clean(reading: Reading) -> Reading | None:
        if math.isnan(reading.value):
            return None
        return Reading(reading.sensor.strip().lower(), reading.value, reading.at)

    @pipeline.stage(
        "scale", inputs=topic["clean"], input_type=Reading, outputs={topic["scaled"]: Reading}
    )
    async def scale(reading: Reading) -> Reading:
        return Reading(reading.sensor, reading.value / 10, reading.at)  # sensors send tenths

    @pipeline.stage(
        "classify",
        inputs=topic["scaled"],
        input_type=Reading,
        outputs={topic["labels"]: Label, topic["alarms"]: Alarm},
        key=lambda out: out.sensor if isinstance(out, Label) else out.reading.sensor,
        tables=(sensors,),
    )
    async def classify(reading: Reading) -> Label | Alarm:
        if reading.value > ALARM_ABOVE:
            return Alarm(reading, Level.ALARM, (f"above {ALARM_ABOVE:g}",))
        known = sensors.join(reading.sensor)
        level = Level.WARN if reading.value > WARN_ABOVE else Level.OK
        return Label(reading.sensor, level, None if known is None else known.note)

    pipeline.aggregate(
        "totals",
        inputs=topic["alarms"],
        input_type=Alarm,
        key=lambda alarm: alarm.reading.sensor,
        aggregator=Combine({"count": Count(), "sum": Sum(of=lambda a: a.reading.value)}),
        output=topic["totals"],
        output_type=Total,
        emit=total,
    )
    return pipeline


def sensors_from_env() -> Pipeline:
    """:func:`sensor_pipeline` named by ``KIT_PREFIX``, with ``KIT_PARTITIONS`` partitions
    (default 2) and the guarantee of the settings (``STREAMWORKS_GUARANTEE``)."""
    return sensor_pipeline(
        os.environ["KIT_PREFIX"],
        partitions=int(os.environ.get("KIT_PARTITIONS", "2")),
        guarantee=Settings().guarantee,
    )


def totals_pipeline(name: str) -> Pipeline:
    """Running count and sum per sensor of ``<name>.in``, exactly-once, to ``<name>.out``."""
    pipeline = Pipeline(
        name,
        guarantee="exactly-once",
        topics=[TopicSpec(f"{name}.in", Reading, 2, external=True)],
    )
    pipeline.aggregate(
        "totals",
        inputs=f"{name}.in",
        input_type=Reading,
        key=lambda r: r.sensor,
        aggregator=count_and_sum(),
        output=f"{name}.out",
        output_type=Total,
        emit=total,
    )
    return pipeline


def totals_truth(readings: Iterable[Reading]) -> dict[str, tuple[int, float]]:
    """What :func:`totals_pipeline` must end with: sensor -> (readings, sum of values)."""
    truth: dict[str, tuple[int, float]] = {}
    for r in readings:
        count, total = truth.get(r.sensor, (0, 0.0))
        truth[r.sensor] = (count + 1, total + r.value)
    return truth


def windows_pipeline(name: str, *, standby: bool = False) -> Pipeline:
    """Readings per sensor per ``WINDOW_S`` seconds of event time, final results only.

    The input is keyed by sensor already (no repartition); windows of a quiet partition
    close on the wall clock after 2 s, so the last ones are emitted too.
    """
    pipeline = Pipeline(
        name,
        guarantee="exactly-once",
        topics=[TopicSpec(f"{name}.in", Reading, 2, external=True)],
    )
    pipeline.aggregate(
        "windows",
        inputs=f"{name}.in",
        input_type=Reading,
        key=lambda r: r.sensor,
        aggregator=Count(),
        window=Tumbling(WINDOW_S),
        mode="final",
        event_time=lambda r: r.at,
        output=f"{name}.out",
        output_type=WindowCount,
        emit=window_count,
        repartition=False,
        close_when_idle=2.0,
        standby=standby,
    )
    return pipeline


def windows_from_env() -> Pipeline:
    """:func:`windows_pipeline` named by ``KIT_PREFIX``, standby when ``KIT_STANDBY`` is 1."""
    return windows_pipeline(os.environ["KIT_PREFIX"], standby=os.environ.get("KIT_STANDBY") == "1")


def slow_pipeline(name: str, partitions: int = 4) -> Pipeline:
    """``<name>.in`` -> slow -> ``<name>.out``: one record at a time, ``SLOW_S`` each, like
    a call to an outside service."""
    pipeline = Pipeline(
        name,
        topics=[TopicSpec(f"{name}.in", Reading, partitions, external=True)],
        default_partitions=partitions,
    )

    @pipeline.stage(
        "slow",
        inputs=f"{name}.in",
        input_type=Reading,
        outputs={f"{name}.out": Reading},
        concurrency=1,
    )
    async def slow(reading: Reading) -> Reading:
        await asyncio.sleep(SLOW_S)  # the outside service's answer time
        return reading

    return pipeline


def slow_from_env() -> Pipeline:
    """:func:`slow_pipeline` named by ``KIT_PREFIX``."""
    return slow_pipeline(os.environ["KIT_PREFIX"])
