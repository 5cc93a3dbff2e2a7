from quixstreams import Application
from quixstreams.dataframe.windows import Count, Mean

app = Application(broker_address="127.0.0.1:9092", consumer_group="iot")
readings = app.topic(
    "iot.readings",
    value_deserializer="json",
    timestamp_extractor=lambda value, headers, timestamp, kind: value["at"],
)
clean = app.topic("iot.clean", value_serializer="json")
averages = app.topic("iot.averages", value_serializer="json")

sdf = app.dataframe(readings)
sdf = sdf.filter(lambda r: -50 <= r["temp_c"] <= 150).to_topic(clean)
sdf = sdf.group_by("device_id")
sdf = sdf.hopping_window(300_000, 60_000, grace_ms=120_000).agg(avg=Mean("temp_c"), n=Count())
sdf.current().to_topic(averages)

if __name__ == "__main__":
    app.run()
