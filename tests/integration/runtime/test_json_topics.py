"""JSON topics on the real broker: a worker reads JSON another system wrote and writes JSON.

No schema registry runs for these topics: the worker's registry address refuses every
connection, so a stage that asked it anything would hang and fail the test.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaProducer

from streamworks import AvroRecord, Pipeline, TopicSpec
from streamworks.core.settings import Settings
from streamworks.runtime.dead_letters import DLQ_PREFIX, header
from streamworks.runtime.reply import Requester
from streamworks.runtime.topics import ensure_topics, formats_of
from streamworks.schemas.codec import AvroCodec
from streamworks.schemas.registry_client import RegistryClient
from streamworks.testing import KafkaEndpoint, consume_until, unique_name
from tests.integration.workers import workers
from tests.kit.records import Label, Level, Reading

NO_REGISTRY = "http://127.0.0.1:9"
"""Nothing listens there (the discard port): any registry call fails."""
START = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
COUNT = 200


def _pipeline(prefix: str) -> Pipeline:
    pipeline = Pipeline(
        prefix,
        topics=[
            TopicSpec(f"{prefix}.readings", Reading, 2, external=True, format="json"),
            TopicSpec(f"{prefix}.labels", Label, 2, format="json"),
        ],
    )

    @pipeline.stage("label", inputs=f"{prefix}.readings", outputs=f"{prefix}.labels")
    async def label(reading: Reading) -> Label:
        level = Level.WARN if reading.value > 80 else Level.OK
        return Label(reading.sensor, level, note=reading.at.isoformat())

    return pipeline


def _outside_readings() -> list[tuple[bytes, bytes]]:
    """What another system writes: JSON with local offsets, epoch milliseconds, and two poisons."""
    records = []
    for n in range(COUNT):
        at = START + timedelta(seconds=n)
        when: object = at.astimezone().isoformat() if n % 2 else int(at.timestamp() * 1000)
        value = {"sensor": f"s{n}", "value": float(n), "at": when}
        records.append((f"s{n}".encode(), json.dumps(value).encode()))
    records.insert(50, (b"bad", b'{"sensor": "bad", "value": "high", "unit": "C"}'))
    records.insert(120, (b"avro", b"\x00\x00\x00\x00\x01\x06abc"))
    return records


async def test_a_worker_reads_json_from_plain_producers_writes_json_and_dead_letters_the_bad(
    kafka: KafkaEndpoint,
) -> None:
    settings = Settings(bootstrap_servers=kafka.bootstrap_servers, registry_url=NO_REGISTRY)
    prefix = unique_name("json")
    pipeline = _pipeline(prefix)
    pipeline.validate()
    assert pipeline.subjects() == {}  # nothing to register
    await ensure_topics(pipeline, settings)
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers)
    await producer.start()
    try:
        for key, value in _outside_readings():
            await producer.send(f"{prefix}.readings", value, key=key)
        await producer.flush()
    finally:
        await producer.stop()

    async with workers(pipeline, settings, per_stage=1) as pool:
        labels = await consume_until(kafka.bootstrap_servers, f"{prefix}.labels", count=COUNT)
        letters = await consume_until(kafka.bootstrap_servers, f"{prefix}.label.dlq", count=2)

    written = {r.key: json.loads(r.value) for r in labels}
    assert len(labels) == COUNT  # one each: no loss, no duplicate
    assert set(written) == {f"s{n}".encode() for n in range(COUNT)}
    assert written[b"s90"] == {
        "sensor": "s90",
        "level": "WARN",
        "note": (START + timedelta(seconds=90)).isoformat(),  # read as UTC, whatever the offset
    }
    assert written[b"s7"]["note"] == (START + timedelta(seconds=7)).isoformat()

    by_key = {letter.key: letter for letter in letters}
    bad = tuple(by_key[b"bad"].headers)
    assert by_key[b"bad"].value == b'{"sensor": "bad", "value": "high", "unit": "C"}'
    assert header(bad, DLQ_PREFIX + "error.class") == "streamworks.schemas.errors.ValueDecodeError"
    reason = header(bad, DLQ_PREFIX + "error.message") or ""
    assert "value: expected a number, got 'high'" in reason
    assert "unit: unknown field" in reason
    assert "at: missing" in reason
    assert header(bad, DLQ_PREFIX + "origin.topic") == f"{prefix}.readings"
    avro = header(tuple(by_key[b"avro"].headers), DLQ_PREFIX + "error.message") or ""
    assert "Avro-framed value on a JSON topic" in avro

    [worker] = pool
    assert (worker.counts.records_in, worker.counts.dead_lettered) == (COUNT + 2, 2)
    assert worker.counts.balanced()


async def test_a_request_to_a_json_topic_gets_a_json_reply(kafka: KafkaEndpoint) -> None:
    settings = Settings(bootstrap_servers=kafka.bootstrap_servers, registry_url=NO_REGISTRY)
    prefix = unique_name("json-rr")
    pipeline = _pipeline(prefix)
    await ensure_topics(pipeline, settings)
    codec = AvroCodec(RegistryClient(NO_REGISTRY))
    formats = formats_of(pipeline)
    typed: dict[str, type[AvroRecord]] = {f"{prefix}.labels": Label}
    async with (
        workers(pipeline, settings, per_stage=1),
        Requester(settings, codec, formats=formats, reply_types=typed) as requester,
        Requester(settings, codec, formats=formats) as untyped,
    ):
        reply = await requester.request(
            f"{prefix}.readings", Reading("s1", 90.0, START), timeout=60
        )
        plain = await untyped.request(f"{prefix}.readings", Reading("s2", 1.0, START), timeout=30)
    assert reply.outputs == [(f"{prefix}.labels", Label("s1", Level.WARN, START.isoformat()))]
    assert plain.outputs == [
        (f"{prefix}.labels", {"sensor": "s2", "level": "OK", "note": START.isoformat()})
    ]
