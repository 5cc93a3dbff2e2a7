"""Stage workers on the real broker: worker pools route every record and dead-letter a poison."""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka import ConsumerRecord

from streamworks.core.settings import Settings
from streamworks.runtime.dead_letters import DLQ_PREFIX, header
from streamworks.runtime.topics import ensure_topics
from streamworks.schemas.codec import AvroCodec
from streamworks.schemas.registry_client import RegistryClient
from streamworks.schemas.typed import RecordCodec
from streamworks.testing import KafkaEndpoint, consume_until, unique_name
from tests.integration.workers import produce_records, workers
from tests.kit.builders import feed
from tests.kit.pipelines import sensor_pipeline
from tests.kit.records import Alarm, Label

POISON = b"\x00\x00\x00\x00\x09not avro at all"


async def test_two_workers_per_stage_route_every_reading_and_dead_letter_a_poison(
    kafka: KafkaEndpoint, registry_url: str
) -> None:
    settings = Settings(bootstrap_servers=kafka.bootstrap_servers, registry_url=registry_url)
    prefix = unique_name("sensors")
    pipeline = sensor_pipeline(prefix)
    pipeline.validate()
    await ensure_topics(pipeline, settings)
    readings = feed(2_000)
    await produce_records(
        settings,
        f"{prefix}.readings",
        readings,
        key=lambda r: r.sensor,
        extra=[(1_000, b"poison", POISON)],
    )

    routing = ("clean", "scale", "classify")  # what routes every reading: what is counted
    async with workers(pipeline, settings, per_stage=2, stages=routing) as pool:
        expected = {r.sensor for r in readings}  # one reading per sensor
        labels = RecordCodec(Label, AvroCodec(RegistryClient(registry_url)), register=False)
        alarms = RecordCodec(Alarm, AvroCodec(RegistryClient(registry_url)), register=False)

        def sensors(seen: Sequence[ConsumerRecord[bytes, bytes]]) -> list[str]:
            return [
                labels.decode(r.value).sensor
                if r.topic == f"{prefix}.labels"
                else alarms.decode(r.value).reading.sensor
                for r in seen
            ]

        routed = await consume_until(
            kafka.bootstrap_servers,
            [f"{prefix}.labels", f"{prefix}.alarms"],
            until=lambda seen: set(sensors(seen)) >= expected,
            timeout=120,
        )
        found = sensors(routed)
        assert set(found) == expected  # lost = 0
        duplicates = len(found) - len(set(found))
        assert duplicates == 0  # no worker died, so at-least-once wrote each once
        assert {r.topic for r in routed} == {f"{prefix}.labels", f"{prefix}.alarms"}

        [letter] = await consume_until(kafka.bootstrap_servers, f"{prefix}.clean.dlq", count=1)
        assert letter.value == POISON
        headers = tuple((k, v) for k, v in letter.headers)
        assert (
            header(headers, DLQ_PREFIX + "error.class")
            == "streamworks.schemas.errors.ValueDecodeError"
        )
        assert header(headers, DLQ_PREFIX + "origin.topic") == f"{prefix}.readings"

    clean = [w for w in pool if w.stage.name == "clean"]
    assert sum(w.counts.records_in for w in clean) >= 2_001
    assert all(w.counts.balanced() for w in pool)
