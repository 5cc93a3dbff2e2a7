"""The HTTP source on real Kafka and a real registry: the contract, and a bad-input corpus.

The corpus test interleaves every bad request of the shared corpus with good batches and
checks what a client and a consumer see: only the expected 4xx answers, every good record in
the topic exactly once with its key, and a source that still answers 202 afterwards.
"""

from __future__ import annotations

import json
import socket
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import SecretStr

from schemas.records import RawOrder
from streamworks.connectors.http import HttpSourceConfig
from streamworks.core.settings import Settings
from streamworks.schemas.codec import AvroCodec
from streamworks.schemas.registry_client import RegistryClient
from streamworks.testing.connectors import running
from streamworks.testing.helpers import consume_until, unique_name, wait_for
from tests.integration.connectors.contract import SourceContract, Topics
from tests.unit.connectors.test_http_corpus import BAD_REQUESTS, LIMIT, TOKEN, send_corpus

_BATCH = 100


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def as_json(order: RawOrder) -> dict[str, Any]:
    """A raw order as a client would post it (times as ISO 8601 text)."""
    value = order.to_avro()
    value["received_at"] = order.received_at.isoformat()
    return value


async def until_serving(session: aiohttp.ClientSession, url: str) -> None:
    """Wait until the source answers its health check."""

    async def healthy() -> bool:
        try:
            async with session.get(f"{url}/health") as answer:
                return answer.status == 200
        except aiohttp.ClientConnectionError:
            return False

    await wait_for(healthy, timeout=30, what=f"{url}/health to answer 200")


async def post_ndjson(
    session: aiohttp.ClientSession,
    url: str,
    values: Sequence[dict[str, Any]],
    headers: dict[str, str] | None = None,
) -> None:
    """POST ``values`` as one NDJSON batch and insist on a 202."""
    body = b"".join(json.dumps(v).encode() + b"\n" for v in values)
    sent = {"Content-Type": "application/x-ndjson", **(headers or {})}
    async with session.post(url, data=body, headers=sent) as answer:
        assert answer.status == 202, await answer.text()
        assert (await answer.json())["accepted"] == len(values)


class TestHttpSource(SourceContract):
    """Clients post the contract's orders as NDJSON batches; each lands once."""

    port = 0

    def config(self, name: str, topic: str, tmp_path: Path) -> HttpSourceConfig:
        self.port = free_port()
        self.topic = topic
        return HttpSourceConfig(
            name=name, topic=topic, port=self.port, key_field="order_id", guarantee="exactly-once"
        )

    async def offer(self, orders: Sequence[RawOrder], tmp_path: Path) -> None:
        url = f"http://127.0.0.1:{self.port}"
        async with aiohttp.ClientSession() as session:
            await until_serving(session, url)
            for start in range(0, len(orders), _BATCH):
                batch = [as_json(o) for o in orders[start : start + _BATCH]]
                await post_ndjson(session, f"{url}/topics/{self.topic}", batch)


@pytest.mark.usefixtures("kafka")
async def test_a_bad_input_corpus_gets_only_4xx_and_every_good_record_lands_once(
    topic_factory: Any, schema_registry: Any, kafka_settings: Settings
) -> None:
    settings = kafka_settings.model_copy(update={"registry_url": schema_registry.url})
    topic = await Topics(topic_factory, schema_registry.url).make("orders.raw")
    config = HttpSourceConfig(
        name=unique_name("http"),
        topic=topic,
        port=free_port(),
        key_field="order_id",
        token=SecretStr(TOKEN),
        max_body_bytes=LIMIT,
    )
    auth = {"Authorization": f"Bearer {TOKEN}"}
    url = f"http://127.0.0.1:{config.port}"
    posted: list[str] = []

    def good(n: int) -> dict[str, Any]:
        posted.append(f"good-{n}")
        return {"order_id": f"good-{n}", "source": "http", "received_at": 1_795_770_000_000 + n}

    async with running([config], settings), aiohttp.ClientSession() as session:
        await until_serving(session, url)
        target = f"{url}/topics/{topic}"
        wrong: list[tuple[str, int, int]] = []
        for n, bad in enumerate(BAD_REQUESTS):
            wrong += await send_corpus(session, url, topic, [bad])
            await post_ndjson(session, target, [good(2 * n), good(2 * n + 1)], auth)
        async with session.post(target, json=good(10_000), headers=auth) as answer:
            assert answer.status == 202  # still serving after the whole corpus
        seen = await consume_until(settings.bootstrap_servers, topic, count=len(posted))
        ends = await _end_offsets(settings.bootstrap_servers, topic)
    assert wrong == []
    decoder = AvroCodec(RegistryClient(settings.registry_url)).decoder()
    ids = Counter(str(decoder.decode(m.value)["order_id"]) for m in seen)
    assert ids == Counter(posted)
    assert sum(ends) == len(posted)  # nothing else was ever written to the topic
    assert all(m.key == decoder.decode(m.value)["order_id"].encode() for m in seen)


async def _end_offsets(bootstrap: str, topic: str) -> list[int]:
    """The end offset of each partition of ``topic`` (records ever written, without
    transactions)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        return list((await consumer.end_offsets(partitions)).values())
    finally:
        await consumer.stop()
