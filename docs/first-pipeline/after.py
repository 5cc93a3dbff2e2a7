from dataclasses import dataclass
from datetime import datetime

from streamworks import AvroRecord, Count, Mean, Pipeline, TopicSpec


@dataclass(frozen=True)
class Reading(AvroRecord, namespace="iot"):
    device_id: str
    temp_c: float
    at: datetime


pipeline = Pipeline("iot", topics=[TopicSpec("iot.readings", Reading, partitions=4, external=True)])


@pipeline.stage("clean", inputs="iot.readings", outputs="iot.clean", concurrency=8)
async def clean(reading: Reading) -> Reading | None:
    if not -50 <= reading.temp_c <= 150:
        return None  # filtered out (counted, not lost)
    return reading  # goes to iot.clean


(
    pipeline.stream("iot.clean", Reading)
    .group_by(lambda r: r.device_id)  # the inputs are repartitioned by it
    .hopping(300, 60, grace=120)  # or .tumbling, .sliding, .session; or no window
    .agg(avg=Mean(of=lambda r: r.temp_c), n=Count())
    .to("iot.averages", event_time=lambda r: r.at)
)
