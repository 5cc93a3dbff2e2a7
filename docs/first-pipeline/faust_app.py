from datetime import timedelta

import faust


class Reading(faust.Record, serializer="json"):
    device_id: str
    temp_c: float
    at: float


class Average(faust.Record, serializer="json"):
    device_id: str
    avg: float
    n: int


app = faust.App("iot", broker="kafka://127.0.0.1:9092")
readings = app.topic("iot.readings", value_type=Reading)
clean = app.topic("iot.clean", value_type=Reading)
averages_topic = app.topic("iot.averages", value_type=Average)
sums = (
    app.Table("averages", default=lambda: (0.0, 0))
    .hopping(300, 60, expires=timedelta(seconds=420))
    .relative_to_field(Reading.at)
)


@app.agent(readings)
async def clean_readings(stream):
    async for reading in stream:
        if -50 <= reading.temp_c <= 150:
            await clean.send(key=reading.device_id, value=reading)


@app.agent(clean)
async def average(stream):
    async for reading in stream.group_by(Reading.device_id):
        total, n = sums[reading.device_id].value()
        total, n = total + reading.temp_c, n + 1
        sums[reading.device_id] = (total, n)
        await averages_topic.send(key=reading.device_id, value=Average(reading.device_id, total / n, n))
