"""``streamworks produce`` and ``streamworks consume`` as a user runs them, on the real
broker and registry: round trips through a registry subject, a pipeline's Avro and JSON
topics, rejects by line (nothing produced), keys, dead letters, and where reading starts."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import NewTopic

from streamworks.core.errors import StageError
from streamworks.core.messages import InMessage
from streamworks.core.settings import Settings
from streamworks.kafka import clients
from streamworks.pipeline.graph import dead_letter_topic
from streamworks.runtime.dead_letters import dead_letter
from streamworks.schemas import AvroCodec, RegistryClient
from streamworks.testing import KafkaEndpoint
from streamworks.testing.helpers import TopicFactory, consume_until, unique_name
from streamworks.testing.registry import RegistryThread
from tests.projects import outside_env, write_project

pytestmark = pytest.mark.asyncio(loop_scope="session")

PAYMENT = {
    "type": "record",
    "name": "Payment",
    "namespace": "shop",
    "fields": [
        {"name": "id", "type": "string"},
        {
            "name": "amount",
            "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2},
        },
        {"name": "paid_at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "ref", "type": {"type": "string", "logicalType": "uuid"}},
        {"name": "count", "type": "int"},
        {"name": "note", "type": ["null", "string"], "default": None},
    ],
}
REF = "8c0f4b8e-2f4a-4d8e-9d8a-6f3c2b1a0e9d"


def payment(n: int, **changes: Any) -> dict[str, Any]:
    """The n-th payment as a user writes it in JSON."""
    return {
        "id": f"p-{n}",
        "amount": f"{n}.50",
        "paid_at": f"2026-05-01T10:00:0{n % 10}.250Z",
        "ref": REF,
        "count": n,
        **changes,
    }


class Cli:
    """Runs ``python -m streamworks`` in a folder outside this repository's project."""

    def __init__(self, cwd: Path, **env: str) -> None:
        self.cwd = cwd
        self.env = outside_env(**env)

    def __call__(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "streamworks", *args],
            cwd=self.cwd,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def produce(self, topic: str, lines: list[dict[str, Any]], *args: str) -> str:
        """Produce ``lines`` as NDJSON on stdin; the summary line (exit 0 asserted)."""
        done = self("produce", topic, *args, stdin="".join(json.dumps(v) + "\n" for v in lines))
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def consume(self, topic: str, *args: str) -> list[dict[str, Any]]:
        """The records ``consume`` prints, parsed (exit 0 asserted)."""
        done = self("consume", topic, *args)
        assert done.returncode == 0, done.stderr
        return [json.loads(line) for line in done.stdout.splitlines()]


@pytest.fixture
def settings(kafka: KafkaEndpoint, schema_registry: RegistryThread) -> Settings:
    return Settings(bootstrap_servers=kafka.bootstrap_servers, registry_url=schema_registry.url)


@pytest.fixture
def cli(tmp_path: Path, settings: Settings) -> Cli:
    return Cli(
        tmp_path,
        STREAMWORKS_BOOTSTRAP_SERVERS=settings.bootstrap_servers,
        STREAMWORKS_REGISTRY_URL=settings.registry_url,
    )


async def payments_topic(
    topic_factory: TopicFactory, settings: Settings, partitions: int = 1
) -> str:
    """A topic whose contract is only the registry's ``<topic>-value`` subject."""
    topic = await topic_factory("payments", partitions=partitions)
    RegistryClient.from_settings(settings).register(f"{topic}-value", json.dumps(PAYMENT))
    return topic


async def end_offsets(settings: Settings, topic: str, partitions: int = 1) -> list[int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        ends = await consumer.end_offsets(tps)
    finally:
        await consumer.stop()
    return [ends[tp] for tp in tps]


def decoded_payment(value: dict[str, Any]) -> dict[str, Any]:
    """A consumed payment with its time parsed, to compare with what was produced."""
    return {**value, "paid_at": datetime.fromisoformat(value["paid_at"])}


async def test_records_of_a_registry_subject_round_trip_in_the_wire_format(
    cli: Cli, settings: Settings, topic_factory: TopicFactory
) -> None:
    topic = await payments_topic(topic_factory, settings, partitions=2)
    sent = [payment(1), payment(2, amount=3.5, paid_at=1_777_629_600_000, note="late")]

    assert cli.produce(topic, sent, "--key", "id") == f"produced 2 records to {topic}"

    seen = sorted(cli.consume(topic), key=lambda r: r["key"])
    assert [r["key"] for r in seen] == ["p-1", "p-2"]
    assert {r["key_format"] for r in seen} == {"text"}
    assert [decoded_payment(r["value"]) for r in seen] == [
        {
            "id": "p-1",
            "amount": "1.50",
            "paid_at": datetime(2026, 5, 1, 10, 0, 1, 250_000, tzinfo=UTC),
            "ref": REF,
            "count": 1,
            "note": None,
        },
        {
            "id": "p-2",
            "amount": "3.50",
            "paid_at": datetime(2026, 5, 1, 10, 0, tzinfo=UTC),
            "ref": REF,
            "count": 2,
            "note": "late",
        },
    ]
    subject = RegistryClient.from_settings(settings).latest(f"{topic}-value")
    assert {(r["value_format"], r["schema_id"]) for r in seen} == {("avro", subject.schema_id)}
    # the bytes are what any registry-aware reader of the subject decodes
    raw = await consume_until(settings.bootstrap_servers, topic, count=2)
    decoder = AvroCodec(RegistryClient.from_settings(settings)).decoder(subject.schema)
    assert sorted(decoder.decode(r.value)["id"] for r in raw) == ["p-1", "p-2"]


async def test_a_batch_with_a_bad_line_is_refused_by_line_and_nothing_is_produced(
    cli: Cli, settings: Settings, topic_factory: TopicFactory
) -> None:
    topic = await payments_topic(topic_factory, settings)
    text = "\n".join(
        [
            json.dumps(payment(1)),
            json.dumps(payment(2, amount="abc")),
            "{not json",
            json.dumps(payment(4)),
        ]
    )

    done = cli("produce", topic, stdin=text)

    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert any(line.startswith("rejected line 2: ") and "amount" in line for line in lines)
    assert any(line.startswith("rejected line 3: not JSON") for line in lines)
    assert "2 record(s) rejected, nothing produced" in done.stderr
    assert "produced" not in done.stdout
    assert await end_offsets(settings, topic) == [0]


async def test_skip_bad_produces_the_good_records_and_still_lists_the_rejects(
    cli: Cli, settings: Settings, topic_factory: TopicFactory, tmp_path: Path
) -> None:
    topic = await payments_topic(topic_factory, settings)
    batch = tmp_path / "batch.json"  # one JSON array, from a file this time
    batch.write_text(json.dumps([payment(1), payment(2, count="two"), payment(3)], indent=2) + "\n")

    done = cli("produce", topic, str(batch), "--skip-bad")

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"produced 2 records to {topic}"
    assert "rejected line 9: " in done.stderr  # where the second object starts
    assert "count: expected" in done.stderr
    assert "skipped 1 rejected record(s)" in done.stderr
    assert [r["value"]["id"] for r in cli.consume(topic)] == ["p-1", "p-3"]


async def test_a_missing_key_field_is_a_reject_and_a_missing_topic_an_error(
    cli: Cli, settings: Settings, topic_factory: TopicFactory
) -> None:
    topic = await payments_topic(topic_factory, settings)
    done = cli("produce", topic, "--key", "shop", stdin=json.dumps(payment(1)))
    assert done.returncode == 1
    assert "rejected line 1: no key: field shop is missing" in done.stderr

    missing = unique_name("nowhere")
    for args in (("produce", missing), ("consume", missing)):
        done = cli(*args, stdin=json.dumps(payment(1)))
        assert done.returncode == 1
        [line] = done.stderr.strip().splitlines()
        assert line.startswith(f"error: topic {missing} does not exist on ")
    assert await end_offsets(settings, topic) == [0]
    admin = clients.admin_client(settings)
    await admin.start()
    try:
        assert missing not in await admin.list_topics()  # produce did not create it
    finally:
        await admin.close()


PYPROJECT = """\
[project]
name = "meters"
version = "0.1.0"

[tool.streamworks]
pipelines = { meters = "meters.pipeline:pipeline" }
"""

RECORDS = '''\
from dataclasses import dataclass
from datetime import datetime

from streamworks import AvroRecord


@dataclass(frozen=True)
class Reading(AvroRecord, namespace="meters"):
    """One meter reading."""

    meter: str
    kwh: float
    at: datetime
    note: str | None = None
'''

PIPELINE = """\
import os

from meters.records import Reading
from streamworks import Pipeline, TopicSpec

pipeline = Pipeline(
    "meters",
    topics=[
        TopicSpec(os.environ["METERS_AVRO"], Reading, 1, external=True),
        TopicSpec(os.environ["METERS_JSON"], Reading, 1, external=True, format="json"),
    ],
)
"""


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    yield write_project(
        tmp_path / "meters-project",
        {
            "pyproject.toml": PYPROJECT,
            "meters/__init__.py": "",
            "meters/records.py": RECORDS,
            "meters/pipeline.py": PIPELINE,
        },
    )


READINGS = [
    {"meter": "m-1", "kwh": 2, "at": "2026-05-01T12:00:00+02:00"},
    {"meter": "m-2", "kwh": 0.5, "at": 1_777_629_600_000, "note": "estimated"},
]
EXPECTED = [
    {"meter": "m-1", "kwh": 2.0, "at": datetime(2026, 5, 1, 10, tzinfo=UTC), "note": None},
    {"meter": "m-2", "kwh": 0.5, "at": datetime(2026, 5, 1, 10, tzinfo=UTC), "note": "estimated"},
]


async def test_a_pipelines_record_class_is_the_contract_of_its_avro_and_json_topics(
    project: Path, settings: Settings, topic_factory: TopicFactory
) -> None:
    avro_topic = await topic_factory("meters-avro")
    json_topic = await topic_factory("meters-json")
    cli = Cli(
        project,
        STREAMWORKS_BOOTSTRAP_SERVERS=settings.bootstrap_servers,
        STREAMWORKS_REGISTRY_URL=settings.registry_url,
        METERS_AVRO=avro_topic,
        METERS_JSON=json_topic,
    )

    for topic in (avro_topic, json_topic):
        assert cli.produce(topic, READINGS, "--key", "meter") == f"produced 2 records to {topic}"
        seen = cli.consume(topic)
        assert [r["key"] for r in seen] == ["m-1", "m-2"]
        values = [{**r["value"], "at": datetime.fromisoformat(r["value"]["at"])} for r in seen]
        assert values == EXPECTED

    # Avro under the subject the derived schema was registered with, as a stage writes it
    registered = RegistryClient.from_settings(settings).latest(f"{avro_topic}-value")
    assert '"namespace":"meters"' in registered.schema
    assert {r["value_format"] for r in cli.consume(avro_topic)} == {"avro"}
    # JSON as a JSON topic holds it: an object per record, no registry framing
    raw = await consume_until(settings.bootstrap_servers, json_topic, count=2)
    assert json.loads(raw[1].value or b"")["note"] == "estimated"
    assert {r["value_format"] for r in cli.consume(json_topic)} == {"json"}

    done = cli("produce", avro_topic, stdin='{"meter": "m-3", "kwh": "lots", "at": 0}\n')
    assert done.returncode == 1
    assert "rejected line 1: " in done.stderr
    assert "kwh: expected a number, got 'lots'" in done.stderr


async def test_consume_reads_a_dead_letter_topic_with_its_explanation_readable(
    cli: Cli, settings: Settings, topic_factory: TopicFactory
) -> None:
    origin = await payments_topic(topic_factory, settings)
    assert cli.produce(origin, [payment(1)], "--key", "id")
    [original] = await consume_until(settings.bootstrap_servers, origin, count=1)
    dlq = dead_letter_topic(unique_name("shop"), "clean")
    admin = clients.admin_client(settings)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(dlq, 1, 1)])
        letters = [
            (original.value, StageError("amount 1.50 below the minimum")),
            (b"\x00\x00\x0f\x42\x3f" + b"\x02", ValueError("unknown schema")),  # id 999999
            (b"\xff\xfe", ValueError("garbage")),
        ]
        producer = clients.producer(settings)
        await producer.start()
        try:
            for offset, (value, error) in enumerate(letters):
                message = InMessage(origin, 0, offset, b"p-1", value, 0, (("trace", b"t-1"),))
                out = dead_letter("clean", dlq, message, error, attempts=3)
                await producer.send_and_wait(dlq, out.value, key=out.key, headers=list(out.headers))
        finally:
            await producer.stop()

        first, unknown, garbage = cli.consume(dlq)
    finally:
        await admin.delete_topics([dlq])
        await admin.close()

    assert first["value"]["id"] == "p-1"
    assert first["value_format"] == "avro"
    headers = first["headers"]
    assert headers["streamworks.dlq.error.message"] == "amount 1.50 below the minimum"
    assert headers["streamworks.dlq.error.class"] == "streamworks.core.errors.StageError"
    assert headers["streamworks.dlq.stage"] == "clean"
    assert headers["streamworks.dlq.attempts"] == "3"
    assert (headers["streamworks.dlq.origin.topic"], headers["streamworks.dlq.origin.offset"]) == (
        origin,
        "0",
    )
    assert headers["trace"] == "t-1"
    assert unknown["value_format"] == "base64"
    assert "schema id 999999 is not in the registry" in unknown["value_error"]
    assert (garbage["value"], garbage["value_format"]) == ("//4=", "base64")


async def test_reading_starts_at_an_offset_or_a_time_and_stops_after_count(
    cli: Cli, settings: Settings, topic_factory: TopicFactory
) -> None:
    topic = await topic_factory("timed", partitions=2)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    producer = clients.producer(settings)
    await producer.start()
    try:  # ten records a second apart in partition 0, two from 1970 in partition 1
        placed = [(0, n, start + timedelta(seconds=n)) for n in range(10)]
        placed += [(1, n, datetime(1970, 1, 1, 0, 0, n, tzinfo=UTC)) for n in (10, 11)]
        for partition, n, at in placed:
            millis = int(at.timestamp() * 1000)
            value = json.dumps({"n": n}).encode()
            await producer.send_and_wait(topic, value, partition=partition, timestamp_ms=millis)
    finally:
        await producer.stop()

    def numbers(*args: str) -> list[int]:
        seen = sorted(cli.consume(topic, *args), key=lambda r: (r["partition"], r["offset"]))
        return [r["value"]["n"] for r in seen]

    everything = cli.consume(topic, "--partition", "0")
    assert [r["value"]["n"] for r in everything] == list(range(10))
    assert everything[3]["timestamp"] == "2026-01-01T00:00:03.000+00:00"
    assert numbers() == list(range(12))
    assert numbers("--partition", "1") == [10, 11]
    assert numbers("--from", "4", "--partition", "0", "-n", "3") == [4, 5, 6]
    assert numbers("--from", "1") == [*range(1, 10), 11]
    assert len(numbers("-n", "5")) == 5
    assert numbers("--from", "2026-01-01T01:00:07+01:00") == [7, 8, 9]
    assert numbers("--from", "2027-01-01T00:00:00") == []
    assert numbers("--from", "99") == []
    done = cli("consume", topic, "--partition", "2")
    assert done.returncode == 1
    assert f"topic {topic} has no partition 2; its partitions are 0 to 1" in done.stderr
    done = cli("consume", topic, "--from", "yesterday")
    assert done.returncode == 1
    assert done.stderr.startswith("error: --from: 'yesterday' is not beginning, end, an offset")


async def test_follow_waits_for_records_produced_after_it_started(
    cli: Cli, settings: Settings, topic_factory: TopicFactory
) -> None:
    topic = await payments_topic(topic_factory, settings)
    follower = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "streamworks", "consume", topic, "--follow", "-n", "3"),
        cwd=cli.cwd,
        env=cli.env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        cli.produce(topic, [payment(1)])
        cli.produce(topic, [payment(2), payment(3)])
        out, err = await asyncio.wait_for(follower.communicate(), timeout=120)
    finally:
        if follower.returncode is None:
            follower.kill()
            await follower.wait()
    assert follower.returncode == 0, err
    ids = [json.loads(line)["value"]["id"] for line in out.decode().splitlines()]
    assert ids == ["p-1", "p-2", "p-3"]
