"""Stage workers on the real broker: the flagship stages, worker pools and dead letters."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiokafka import ConsumerRecord

from schemas.records import InvalidOrder, RawOrder, ValidOrder
from streams.orders import OrderGenerator, orders_pipeline
from streamworks.core.settings import Settings
from streamworks.runtime.dead_letters import DLQ_PREFIX, header
from streamworks.runtime.topics import ensure_topics
from streamworks.schemas.codec import AvroCodec
from streamworks.schemas.registry_client import RegistryClient
from streamworks.schemas.typed import RecordCodec
from streamworks.testing import KafkaEndpoint, consume_until, produce, unique_name
from tests.integration.streams.kit import workers


async def test_two_workers_per_stage_route_every_order_and_dead_letter_a_poison(
    kafka: KafkaEndpoint, registry_url: str
) -> None:
    settings = Settings(bootstrap_servers=kafka.bootstrap_servers, registry_url=registry_url)
    generator = OrderGenerator(seed=11)
    prefix = unique_name("orders")
    pipeline = orders_pipeline(prefix=prefix, name=prefix)
    pipeline.validate()
    await ensure_topics(pipeline, settings)

    raw_codec = RecordCodec(
        RawOrder, AvroCodec(RegistryClient(registry_url)), subject=f"{prefix}.raw-value"
    )
    orders = list(generator.orders(2_000))
    records: list[tuple[bytes | None, bytes | None]] = [
        (o.order_id.encode(), raw_codec.encode(o)) for o in orders
    ]
    records.insert(1_000, (b"poison", b"\x00\x00\x00\x00\x09not avro at all"))
    await produce(kafka.bootstrap_servers, f"{prefix}.raw", records)

    routing = ("clean", "format", "validate")  # what routes every order: what is counted
    async with workers(pipeline, settings, per_stage=2, stages=routing) as pool:
        expected = {o.order_id.strip().lower() for o in orders}
        readers: dict[str, RecordCodec[Any]] = {
            f"{prefix}.valid": RecordCodec(ValidOrder, AvroCodec(RegistryClient(registry_url))),
            f"{prefix}.invalid": RecordCodec(InvalidOrder, AvroCodec(RegistryClient(registry_url))),
        }

        def order_ids(seen: Sequence[ConsumerRecord[bytes, bytes]]) -> list[str]:
            ids = []
            for r in seen:
                record = readers[r.topic].decode(r.value)
                order = record if isinstance(record, ValidOrder) else record.order
                ids.append(str(order.order_id))
            return ids

        routed = await consume_until(
            kafka.bootstrap_servers,
            list(readers),
            until=lambda seen: set(order_ids(seen)) >= expected,
            timeout=120,
        )
        ids = order_ids(routed)
        assert set(ids) == expected  # lost = 0
        duplicates = len(ids) - len(set(ids))
        assert duplicates == 0  # no worker died, so at-least-once wrote each once

        [letter] = await consume_until(kafka.bootstrap_servers, f"{prefix}.clean.dlq", count=1)
        assert letter.value == b"\x00\x00\x00\x00\x09not avro at all"
        headers = tuple((k, v) for k, v in letter.headers)
        assert (
            header(headers, DLQ_PREFIX + "error.class")
            == "streamworks.schemas.errors.ValueDecodeError"
        )
        assert header(headers, DLQ_PREFIX + "origin.topic") == f"{prefix}.raw"

    clean = [w for w in pool if w.stage.name == "clean"]
    assert sum(w.counts.records_in for w in clean) >= 2_001
    assert all(w.counts.balanced() for w in pool)
