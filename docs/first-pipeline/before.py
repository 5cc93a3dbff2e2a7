from dataclasses import dataclass
from datetime import datetime

from streamworks import AvroRecord, Combine, Count, Hopping, Mean, Pipeline, TopicSpec, Window, use_contracts

use_contracts("before_contracts")


@dataclass(frozen=True)
class Reading(AvroRecord):
    topic = "iot.reading"

    device_id: str
    temp_c: float
    at: datetime


@dataclass(frozen=True)
class Average(AvroRecord):
    topic = "iot.average"

    device_id: str
    window_start: datetime
    window_end: datetime
    avg: float | None
    n: int


pipeline = Pipeline("iot", topics=[TopicSpec("iot.readings", Reading, partitions=4, external=True)])


@pipeline.stage(
    "clean",
    inputs="iot.readings",
    input_type=Reading,
    outputs={"iot.clean": Reading},
    concurrency=8,
)
async def clean(reading: Reading) -> Reading | None:
    if not -50 <= reading.temp_c <= 150:
        return None
    return reading


def emit(device_id: str, window: Window | None, result: dict) -> Average:
    assert window is not None
    return Average(
        device_id=device_id,
        window_start=datetime.fromtimestamp(window.start_ms / 1000),
        window_end=datetime.fromtimestamp(window.end_ms / 1000),
        avg=result["avg"],
        n=result["n"],
    )


pipeline.aggregate(
    "averages",
    inputs="iot.clean",
    input_type=Reading,
    key=lambda r: r.device_id,
    aggregator=Combine({"avg": Mean(of=lambda r: r.temp_c), "n": Count()}),
    window=Hopping(300, 60, grace=120),
    event_time=lambda r: r.at,
    output="iot.averages",
    output_type=Average,
    emit=emit,
)
