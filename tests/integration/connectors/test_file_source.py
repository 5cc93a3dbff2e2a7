"""The file source on real Kafka: the source contract, dead letters, and kill -9 mid-file."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas.records import RawOrder
from streams.orders import OrderGenerator, orders_as_csv
from streamworks.connectors.base.documents import to_json
from streamworks.connectors.files import FileSourceConfig
from streamworks.core.settings import Guarantee, Settings
from streamworks.runtime.dead_letters import DLQ_PREFIX, header
from streamworks.schemas.codec import AvroCodec
from streamworks.schemas.registry_client import RegistryClient
from streamworks.testing.connectors import running
from streamworks.testing.helpers import consume_until, unique_name, wait_for
from tests.integration.connectors.contract import SourceContract, Topics

logger = logging.getLogger(__name__)

_files = itertools.count()


def write_atomically(path: Path, data: bytes) -> None:
    """Write under a hidden name, then rename: the source never sees half a file."""
    hidden = path.with_name(f".{path.name}.tmp")
    hidden.write_bytes(data)
    hidden.rename(path)


def as_jsonl(orders: Sequence[RawOrder]) -> bytes:
    return "".join(to_json(o.to_avro()) + "\n" for o in orders).encode()


def as_csv(orders: Sequence[RawOrder]) -> bytes:
    return orders_as_csv(orders).encode()


class TestFileSource(SourceContract):
    """Orders offered as files: half of each offer as CSV, half as JSON lines."""

    def config(self, name: str, topic: str, tmp_path: Path) -> FileSourceConfig:
        inbox = tmp_path / "inbox"
        inbox.mkdir(exist_ok=True)
        return FileSourceConfig(
            name=name,
            topic=topic,
            directory=inbox,
            poll_interval_s=0.05,
            settle_s=0.2,
            batch_lines=64,
            key_field="order_id",
            guarantee="exactly-once",
        )

    async def offer(self, orders: Sequence[RawOrder], tmp_path: Path) -> None:
        n, half = next(_files), len(orders) // 2
        write_atomically(tmp_path / "inbox" / f"{n:04d}-a.csv", as_csv(orders[:half]))
        write_atomically(tmp_path / "inbox" / f"{n:04d}-b.jsonl", as_jsonl(orders[half:]))

    async def test_bad_lines_are_dead_lettered_with_file_and_line(
        self, target: str, settings: Settings, tmp_path: Path
    ) -> None:
        good = self.orders(3)
        lines = as_jsonl(good).splitlines(keepends=True)
        lines[1:1] = [b'{"order_id": \n', b'{"order_id": "x", "quantity": 3}\n']
        config = self.config(unique_name("src"), target, tmp_path)
        async with running([config], settings):
            write_atomically(tmp_path / "inbox" / "bad.jsonl", b"".join(lines))
            dead = await consume_until(settings.bootstrap_servers, config.dlq_topic, count=2)
            ids = await self.read_ids(settings, target, len(good))
        assert ids == Counter(o.order_id.strip() for o in good)
        where = {header(_headers(m.headers), DLQ_PREFIX + "origin.location") for m in dead}
        assert where == {"bad.jsonl line 2", "bad.jsonl line 3"}


def _headers(raw: Sequence[tuple[str, bytes]]) -> tuple[tuple[str, bytes], ...]:
    return tuple((k, bytes(v)) for k, v in raw)


# -- kill -9 mid-file -----------------------------------------------------------------------
_LINES = 8_000
_BATCH = 20


async def _assigned(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """Assign every partition of ``topic`` (subscribed at creation, for its metadata)."""
    parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
    assert parts, f"no metadata for {topic}"
    consumer.unsubscribe()
    consumer.assign(parts)
    return parts


async def _end_offsets(bootstrap: str, topic: str) -> int:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        parts = await _assigned(consumer, topic)
        return sum((await consumer.end_offsets(parts)).values())
    finally:
        await consumer.stop()


async def _read_all(settings: Settings, topic: str) -> list[str]:
    """Every order id in ``topic`` up to its end (read_committed), repeats included."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.bootstrap_servers,
        group_id=None,
        isolation_level="read_committed",
        enable_auto_commit=False,
    )
    await consumer.start()
    decoder = AvroCodec(RegistryClient(settings.registry_url)).decoder()
    ids: list[str] = []
    try:
        parts = await _assigned(consumer, topic)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        deadline = time.monotonic() + 60
        while [tp for tp in parts if await consumer.position(tp) < ends[tp]]:
            assert time.monotonic() < deadline, "the topic was not read to its end in 60s"
            batches = await consumer.getmany(timeout_ms=500)
            for batch in batches.values():
                ids.extend(str(decoder.decode(m.value)["order_id"]) for m in batch)
    finally:
        await consumer.stop()
    return ids


def _connect(yaml_path: Path, settings: Settings) -> subprocess.Popen[bytes]:
    env = os.environ | {
        "STREAMWORKS_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "STREAMWORKS_REGISTRY_URL": settings.registry_url,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "streamworks", "connect", str(yaml_path)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


@pytest.fixture
def settings(kafka_settings: Settings, schema_registry: Any) -> Settings:
    """Settings for the session's broker and registry."""
    return kafka_settings.model_copy(update={"registry_url": schema_registry.url})


@pytest.fixture
async def raw_topic(topic_factory: Any, schema_registry: Any) -> str:
    """A fresh topic with the orders.raw contract."""
    return await Topics(topic_factory, schema_registry.url).make("orders.raw")


@pytest.mark.usefixtures("kafka")
@pytest.mark.parametrize("guarantee", ["exactly-once", "at-least-once"])
async def test_kill_9_mid_file_then_restart_produces_every_line(
    guarantee: Guarantee,
    settings: Settings,
    raw_topic: str,
    tmp_path: Path,
    record_property: Any,
) -> None:
    topic = raw_topic
    orders = list(OrderGenerator(seed=5, mix=(0, 0, 0)).orders(_LINES))
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    write_atomically(inbox / "orders.jsonl", as_jsonl(orders))
    config = {
        "name": unique_name("crash"),
        "kind": "files",
        "topic": topic,
        "directory": str(inbox),
        "batch_lines": _BATCH,
        "poll_interval_s": 0.05,
        "settle_s": 0.0,
        "exit_when_done": True,
        "guarantee": guarantee,
    }
    yaml_path = tmp_path / "connect.yaml"
    yaml_path.write_text(json.dumps({"connectors": [config]}))  # JSON is YAML

    first = _connect(yaml_path, settings)
    try:

        async def some_lines() -> bool:
            if first.poll() is not None:
                err = first.stderr.read().decode() if first.stderr else ""
                raise AssertionError(f"the connect process exited early:\n{err[-3000:]}")
            return await _end_offsets(settings.bootstrap_servers, topic) >= _LINES // 4

        await wait_for(
            some_lines,
            timeout=60,
            interval=0.02,
            what="a quarter of the lines in the topic",
        )
        first.send_signal(signal.SIGKILL)
    finally:
        first.kill()
        _, err = first.communicate(timeout=30)
    assert first.returncode == -signal.SIGKILL, err.decode()[-2000:]
    before = len(await _read_all(settings, topic))
    assert before < _LINES, "the source finished before it was killed; the test proves nothing"

    second = _connect(yaml_path, settings)
    _, err = await asyncio.to_thread(second.communicate, timeout=120)
    assert second.returncode == 0, err.decode()[-2000:]

    ids = Counter(await _read_all(settings, topic))
    expected = Counter(o.order_id for o in orders)
    missing = expected - ids
    repeated = sum((ids - expected).values())
    record_property("lines_before_kill", before)
    record_property("duplicates", repeated)
    logger.warning(
        "%s: %d of %d lines before kill -9, %d duplicates after restart",
        guarantee,
        before,
        _LINES,
        repeated,
    )
    assert not missing, f"{sum(missing.values())} lines lost"
    if guarantee == "exactly-once":
        assert repeated == 0
    else:
        assert repeated <= _BATCH, "more than one step repeated"
