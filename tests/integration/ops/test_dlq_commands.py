"""``streamworks dlq inspect|replay`` on a real broker: grouping, replaying exactly once."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterable
from typing import Any

import pytest
import pytest_asyncio
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import NewTopic

from streamworks.core.errors import StageError
from streamworks.core.messages import InMessage
from streamworks.core.settings import Settings
from streamworks.kafka import clients
from streamworks.ops.dlq import marker_topic, replay
from streamworks.runtime.dead_letters import dead_letter
from streamworks.testing.helpers import unique_name, wait_for

pytestmark = pytest.mark.asyncio(loop_scope="session")

Letter = tuple[int, BaseException]  # origin offset, error


class Topics:
    """Creates named topics (a pipeline's DLQ name cannot be chosen by topic_factory)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.created: list[str] = []

    async def create(self, *names: str, partitions: int = 2) -> None:
        admin = clients.admin_client(self.settings)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(n, partitions, 1) for n in names])
        finally:
            await admin.close()
        self.created.extend(names)

    async def delete(self) -> None:
        admin = clients.admin_client(self.settings)
        await admin.start()
        try:
            existing = await admin.list_topics()
            names = [n for n in self.created + [marker_topic(n) for n in self.created]]
            await admin.delete_topics([n for n in names if n in existing])
        finally:
            await admin.close()


@pytest_asyncio.fixture(loop_scope="session")
async def topics(kafka_settings: Settings) -> AsyncIterator[Topics]:
    made = Topics(kafka_settings)
    yield made
    await made.delete()


async def write_letters(
    settings: Settings, dlq: str, origin: str, letters: Iterable[Letter]
) -> None:
    """Dead letters as a stage writes them, for records of ``origin``."""
    producer = clients.producer(settings)
    await producer.start()
    try:
        for offset, error in letters:
            message = InMessage(
                origin, 0, offset, b"key-%d" % offset, b"value-%d" % offset, 0, (("own", b"x"),)
            )
            out = dead_letter("clean", dlq, message, error, attempts=1)
            await producer.send_and_wait(dlq, out.value, key=out.key, headers=list(out.headers))
    finally:
        await producer.stop()


async def read_all(
    settings: Settings, topic: str, partitions: int = 2
) -> list[ConsumerRecord[bytes, bytes]]:
    """Everything committed in ``topic`` now, read to its end without a group."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        isolation_level="read_committed",
        enable_auto_commit=False,
    )
    await consumer.start()
    seen: list[ConsumerRecord[bytes, bytes]] = []
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        while any([await consumer.position(tp) < end[tp] for tp in tps]):
            for records in (await consumer.getmany(timeout_ms=500)).values():
                seen.extend(records)
    finally:
        await consumer.stop()
    return seen


def keys(records: Iterable[ConsumerRecord[bytes, bytes]]) -> list[bytes]:
    return sorted(r.key or b"" for r in records)


def cli_env(settings: Settings, **extra: str) -> dict[str, str]:
    return {**os.environ, "STREAMWORKS_BOOTSTRAP_SERVERS": settings.bootstrap_servers, **extra}


def run_cli(settings: Settings, *args: str, **env: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "streamworks", "dlq", *args],
        env=cli_env(settings, **env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_inspect_groups_a_stage_s_dead_letters_by_error(
    kafka_settings: Settings, topics: Topics
) -> None:
    prefix = unique_name("dlqsensors")
    dlq, origin = f"{prefix}.clean.dlq", f"{prefix}.readings"
    await topics.create(dlq, origin)
    await write_letters(
        kafka_settings,
        dlq,
        origin,
        [(i, StageError(f"value {i} of s-{i:05d} is negative")) for i in range(5)]
        + [(5, ValueError("no field 'at'")), (6, ValueError("no field 'at'"))],
    )
    out = run_cli(
        kafka_settings,
        "inspect",
        "tests.kit.pipelines:sensors_from_env",  # the DLQ of the kit pipeline's clean stage
        "clean",
        "--json",
        KIT_PREFIX=prefix,
        STREAMWORKS_DLQ_SAMPLES="2",
    )
    found: dict[str, Any] = json.loads(out)
    assert found["topic"] == dlq
    assert found["total"] == 7
    assert [(g["error_class"], g["pattern"], g["count"]) for g in found["groups"]] == [
        ("streamworks.core.errors.StageError", "value <n> of s-<n> is negative", 5),
        ("builtins.ValueError", "no field 'at'", 2),
    ]
    first = found["groups"][0]
    assert first["origins"] == {origin: 5}
    assert len(first["samples"]) == 2
    for sample in first["samples"]:
        assert sample["key"] == f"key-{sample['origin_offset']}"
        assert sample["origin_topic"] == origin
        assert sample["message"].endswith("is negative")
    assert first["first_ms"] <= first["last_ms"]
    table = run_cli(kafka_settings, "inspect", "--topic", dlq, COLUMNS="250")
    assert "value <n> of s-<n> is negative" in table
    assert "7 dead letter(s)" in table
    assert f"{origin}[0]@" in table  # a sample's origin, not taken for markup


async def test_replay_puts_each_letter_back_once_with_replay_headers(
    kafka_settings: Settings, topics: Topics
) -> None:
    dlq, origin = unique_name("dlq"), unique_name("origin")
    await topics.create(dlq, origin)
    await write_letters(kafka_settings, dlq, origin, [(i, StageError("x")) for i in range(6)])
    await write_letters(kafka_settings, dlq, unique_name("gone"), [(99, StageError("y"))])

    dry = await replay(kafka_settings, dlq, dry_run=True)
    assert (dry.replayed, dry.no_origin) == (6, 1)
    assert await read_all(kafka_settings, origin) == []

    report = await replay(kafka_settings, dlq, batch=4)
    assert (report.replayed, report.already_replayed, report.no_origin) == (6, 0, 1)
    back = await read_all(kafka_settings, origin)
    assert keys(back) == sorted(b"key-%d" % i for i in range(6))
    for record in back:
        headers = dict(record.headers)
        assert record.value == b"value-" + (record.key or b"")[4:]
        assert not any(name.startswith("streamworks.dlq.") for name in headers)
        assert headers["own"] == b"x"
        assert headers["streamworks.replay.dlq.topic"] == dlq.encode()
        assert headers["streamworks.replay.count"] == b"1"
        assert int(headers["streamworks.replay.at"]) > 0
    places = {
        (
            dict(r.headers)["streamworks.replay.dlq.partition"],
            dict(r.headers)["streamworks.replay.dlq.offset"],
        )
        for r in back
    }
    assert len(places) == 6

    again = await replay(kafka_settings, dlq)
    assert again.replayed == 0
    assert again.no_origin == 1  # still reported, never replayed
    assert len(await read_all(kafka_settings, origin)) == 6


async def test_filtered_replay_leaves_other_errors_for_a_later_replay(
    kafka_settings: Settings, topics: Topics
) -> None:
    dlq, origin = unique_name("dlq"), unique_name("origin")
    await topics.create(dlq, origin)
    await write_letters(
        kafka_settings,
        dlq,
        origin,
        [(i, StageError("s") if i % 2 else ValueError("v")) for i in range(8)],
    )
    only = await replay(kafka_settings, dlq, error="ValueError")
    assert (only.replayed, only.filtered) == (4, 4)
    assert keys(await read_all(kafka_settings, origin)) == sorted(
        b"key-%d" % i for i in range(0, 8, 2)
    )

    rest = await replay(kafka_settings, dlq)
    assert rest.replayed == 4
    # letters before the first filtered one were committed past; the others were marked
    assert rest.already_replayed <= 4
    assert keys(await read_all(kafka_settings, origin)) == sorted(b"key-%d" % i for i in range(8))
    assert (await replay(kafka_settings, dlq)).replayed == 0


async def test_a_replay_that_dies_inside_a_transaction_leaves_nothing_doubled(
    kafka_settings: Settings, topics: Topics, monkeypatch: pytest.MonkeyPatch
) -> None:
    dlq, origin = unique_name("dlq"), unique_name("origin")
    await topics.create(dlq, origin)
    await write_letters(kafka_settings, dlq, origin, [(i, StageError("x")) for i in range(20)])
    real = AIOKafkaProducer.send_offsets_to_transaction
    calls = 0

    async def crash_on_third(self: AIOKafkaProducer, *args: Any, **kwargs: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:  # records and markers of this batch are sent, not committed
            raise KeyboardInterrupt
        await real(self, *args, **kwargs)

    monkeypatch.setattr(AIOKafkaProducer, "send_offsets_to_transaction", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        await replay(kafka_settings, dlq, batch=3)
    monkeypatch.undo()
    assert len(await read_all(kafka_settings, origin)) == 6  # two batches committed

    rest = await replay(kafka_settings, dlq, batch=3)
    assert rest.replayed == 14
    assert keys(await read_all(kafka_settings, origin)) == sorted(b"key-%d" % i for i in range(20))


async def test_replay_killed_with_sigkill_then_rerun_replays_each_letter_once(
    kafka_settings: Settings, topics: Topics
) -> None:
    total = 150
    dlq, origin = unique_name("dlq"), unique_name("origin")
    await topics.create(dlq, origin)
    await write_letters(kafka_settings, dlq, origin, [(i, StageError("x")) for i in range(total)])
    command = [sys.executable, "-m", "streamworks", "dlq", "replay", "--topic", dlq, "--batch", "2"]
    process = await asyncio.create_subprocess_exec(
        *command,
        env=cli_env(kafka_settings),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:

        async def some_replayed() -> bool:
            return len(await read_all(kafka_settings, origin)) > 0

        await wait_for(some_replayed, timeout=60, what=f"a first replayed record in {origin}")
    finally:
        process.send_signal(signal.SIGKILL)
        await process.wait()
    before = len(await read_all(kafka_settings, origin))
    assert 0 < before < total, "the replay finished before it was killed; nothing was tested"

    run_cli(kafka_settings, "replay", "--topic", dlq)
    assert keys(await read_all(kafka_settings, origin)) == sorted(
        b"key-%d" % i for i in range(total)
    )
