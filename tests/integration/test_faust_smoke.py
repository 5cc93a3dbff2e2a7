"""A faust-streaming agent with a RocksDB table, on the real broker, through our app factory."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import faust

from streamworks.core.settings import Settings
from streamworks.faust.app import new_app
from streamworks.testing import TopicFactory, consume_until, produce, unique_name

PARTITIONS = 3


async def test_agent_counts_in_rocksdb_and_produces_to_another_topic(
    kafka_settings: Settings, topic_factory: TopicFactory, tmp_path: Path
) -> None:
    source = await topic_factory("faust-in", partitions=PARTITIONS)
    sink = await topic_factory("faust-out", partitions=PARTITIONS)
    app = new_app(
        unique_name("faust-smoke"),
        partitions=PARTITIONS,
        settings=kafka_settings,
        datadir=tmp_path / "state",
    )
    inputs = app.topic(
        source, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )
    outputs = app.topic(sink, key_serializer="raw", value_serializer="json")
    counts = app.Table("counts", default=int, key_type=str, value_type=int)
    crashes: list[BaseException] = []

    @app.agent(inputs)
    async def count(stream: faust.StreamT[Any]) -> AsyncIterator[None]:
        async for event in stream.events():
            try:
                key = event.key.decode()
                counts[key] += 1
                await outputs.send(key=event.key, value={"key": key, "count": counts[key]})
            except Exception as error:  # faust only logs agent crashes; surface them
                crashes.append(error)
                raise
            yield None

    # With a table, start() returns after the first rebalance and the table's recovery.
    await asyncio.wait_for(app.start(), timeout=90)
    try:
        keys = [f"k{i % 7}" for i in range(70)]
        await produce(kafka_settings.bootstrap_servers, source, [(k.encode(), b"x") for k in keys])
        received = await consume_until(
            kafka_settings.bootstrap_servers,
            sink,
            count=70,
            until=lambda _seen: not crashes,
        )
        assert not crashes, f"the agent crashed: {crashes!r}"
        outputs_by_key: dict[str, list[int]] = {}
        for record in sorted(received, key=lambda r: (r.partition, r.offset)):
            value = json.loads(record.value or b"{}")
            outputs_by_key.setdefault(value["key"], []).append(value["count"])
        expected = Counter(keys)
        for key, total in expected.items():
            assert outputs_by_key[key] == list(range(1, total + 1))
        assert dict(counts.items()) == dict(expected)
        # the app's producer is the platform's safe one, not faust's default
        aiokafka_producer: Any = app.producer._producer  # type: ignore[attr-defined]
        assert aiokafka_producer._txn_manager is not None
        assert aiokafka_producer._sender._acks == -1
    finally:
        await asyncio.wait_for(app.stop(), timeout=60)
    assert any((tmp_path / "state").rglob("counts-*.db")), "the table did not live in RocksDB"
