"""The shared contracts every source and every sink must keep, on real Kafka.

A connector's test module subclasses :class:`SourceContract` or :class:`SinkContract` and
fills in the hooks (a config, and how to feed or read the outside system); pytest then runs
the inherited tests against it. The tests talk about what a user sees: every record lands
once, bad records are in the dead-letter topic with their reason, a restart repeats nothing
it does not have to.
"""

from __future__ import annotations

import json
import uuid
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest

from schemas.records import EnrichedOrder, RawOrder, Tier
from streams.orders import OrderGenerator
from streamworks.connectors.base import SinkConfig, SourceConfig
from streamworks.core.messages import Headers
from streamworks.core.settings import Settings
from streamworks.runtime.dead_letters import DLQ_PREFIX, header
from streamworks.schemas.catalog import contract
from streamworks.schemas.codec import AvroCodec
from streamworks.schemas.registry_client import RegistryClient
from streamworks.schemas.typed import RecordCodec
from streamworks.testing.connectors import running
from streamworks.testing.helpers import TopicFactory, consume_until, produce, unique_name, wait_for

__all__ = [
    "SinkContract",
    "SourceContract",
    "Topics",
    "enriched_orders",
    "publish_enriched",
]

TopicMaker = Callable[..., Awaitable[str]]


class Topics:
    """A unique topic with its contract registered under ``<topic>-value``."""

    def __init__(self, factory: TopicFactory, registry_url: str) -> None:
        self._factory = factory
        self._registry = RegistryClient(registry_url)

    async def make(self, contract_topic: str, *, partitions: int = 3) -> str:
        """A new topic whose value schema is the ``contract_topic`` contract."""
        topic = await self._factory(contract_topic.replace(".", "-"), partitions=partitions)
        schema = json.dumps(contract(contract_topic).schema)
        self._registry.register(f"{topic}-value", schema)
        return topic


def enriched_orders(count: int, *, seed: int = 3) -> list[EnrichedOrder]:
    """``count`` distinct enriched orders (amounts differ, so updates are visible)."""
    base = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    rng = uuid.UUID(int=seed).int
    return [
        EnrichedOrder(
            order_id=uuid.UUID(int=(rng * 1_000_003 + n) % 2**128, version=4),
            customer_id=f"c-{n % 97:05d}",
            sku=f"SKU-{n % 50:04d}",
            quantity=1 + n % 5,
            amount_cents=100 + n,
            currency="EUR",
            ordered_at=base + timedelta(seconds=n),
            received_at=base + timedelta(seconds=n, milliseconds=5),
            enriched_at=base + timedelta(seconds=n, milliseconds=9),
            customer_tier=Tier.SILVER,
            region="EU-WEST",
        )
        for n in range(count)
    ]


@pytest.mark.usefixtures("kafka")
class SourceContract(ABC):
    """Tests every source inherits. Hooks: :meth:`config` and :meth:`offer`."""

    count: ClassVar[int] = 300
    """Orders each test offers."""

    @abstractmethod
    def config(self, name: str, topic: str, tmp_path: Path) -> SourceConfig:
        """The connector under test, producing into ``topic``."""

    @abstractmethod
    async def offer(self, orders: Sequence[RawOrder], tmp_path: Path) -> None:
        """Make the outside system hold ``orders`` (called while the source runs)."""

    def orders(self, count: int, *, first: int = 0) -> list[RawOrder]:
        """The orders a test offers: generated ones, dirty and invalid included."""
        return list(OrderGenerator(seed=11).orders(first + count))[first:]

    @pytest.fixture
    async def target(self, topic_factory: TopicFactory, schema_registry: Any) -> str:
        """The topic the source writes, with the raw-order contract registered."""
        return await Topics(topic_factory, schema_registry.url).make("orders.raw")

    @pytest.fixture
    def settings(self, kafka_settings: Settings, schema_registry: Any) -> Settings:
        """Settings for the broker and registry of the session."""
        return kafka_settings.model_copy(update={"registry_url": schema_registry.url})

    async def read_ids(self, settings: Settings, topic: str, count: int) -> Counter[str]:
        """order_id -> how often it is in ``topic`` (read_committed), once ``count`` arrived."""
        seen = await consume_until(settings.bootstrap_servers, topic, count=count, timeout=60)
        decoder = AvroCodec(RegistryClient(settings.registry_url)).decoder()
        return Counter(str(decoder.decode(m.value)["order_id"]).strip() for m in seen)

    async def test_every_offered_record_arrives_once(
        self, target: str, settings: Settings, tmp_path: Path
    ) -> None:
        orders = self.orders(self.count)
        config = self.config(unique_name("src"), target, tmp_path)
        async with running([config], settings):
            await self.offer(orders, tmp_path)
            ids = await self.read_ids(settings, target, len(orders))
        assert ids == Counter(o.order_id.strip() for o in orders)

    async def test_records_carry_the_connector_as_lineage(
        self, target: str, settings: Settings, tmp_path: Path
    ) -> None:
        config = self.config(unique_name("src"), target, tmp_path)
        async with running([config], settings):
            await self.offer(self.orders(5), tmp_path)
            seen = await consume_until(settings.bootstrap_servers, target, count=5, timeout=60)
        connectors = {header(_headers(m.headers), "streamworks.origin.connector") for m in seen}
        assert connectors == {config.name}

    async def test_a_restart_repeats_nothing(
        self, target: str, settings: Settings, tmp_path: Path
    ) -> None:
        half = self.count // 2
        first, second = self.orders(half), self.orders(half, first=half)
        config = self.config(unique_name("src"), target, tmp_path)
        async with running([config], settings):
            await self.offer(first, tmp_path)
            await self.read_ids(settings, target, len(first))
        async with running([config], settings):
            await self.offer(second, tmp_path)
            ids = await self.read_ids(settings, target, len(first) + len(second))
        assert ids == Counter(o.order_id.strip() for o in [*first, *second])


@pytest.mark.usefixtures("kafka")
class SinkContract(ABC):
    """Tests every sink inherits. Hooks: :meth:`config` and :meth:`read_back`."""

    exact: ClassVar[bool] = False
    """True when a redelivered batch leaves no duplicate (the target upserts by key)."""

    @abstractmethod
    def config(self, name: str, topic: str, tmp_path: Path) -> SinkConfig:
        """The connector under test, reading ``topic`` (enriched orders, key order_id)."""

    @abstractmethod
    async def read_back(self, config: SinkConfig, tmp_path: Path) -> list[dict[str, Any]]:
        """Every record the target holds now: one dict of the record's value fields per row,
        line or delivery (so a repeated delivery shows up twice where the target keeps both)."""

    @pytest.fixture
    async def source(self, topic_factory: TopicFactory, schema_registry: Any) -> str:
        """The topic the sink reads, with the enriched-order contract registered."""
        return await Topics(topic_factory, schema_registry.url).make("orders.enriched")

    @pytest.fixture
    def settings(self, kafka_settings: Settings, schema_registry: Any) -> Settings:
        """Settings for the broker and registry of the session."""
        return kafka_settings.model_copy(update={"registry_url": schema_registry.url})

    async def publish(
        self, settings: Settings, topic: str, orders: Sequence[EnrichedOrder]
    ) -> None:
        """Write ``orders`` to ``topic`` as the enrich stage would (key = order id)."""
        await publish_enriched(settings, topic, orders)

    async def landed(
        self, config: SinkConfig, tmp_path: Path, expected: dict[str, int]
    ) -> list[dict[str, Any]]:
        """Wait until the target holds ``expected`` (order id -> amount_cents) at least."""
        rows: list[dict[str, Any]] = []

        async def arrived() -> bool:
            nonlocal rows
            rows = await self.read_back(config, tmp_path)
            latest = {str(r["order_id"]): int(r["amount_cents"]) for r in rows}
            return all(latest.get(k) == v for k, v in expected.items())

        await wait_for(arrived, timeout=60, what=f"{len(expected)} orders in the target")
        return rows

    async def test_every_record_lands(
        self, source: str, settings: Settings, tmp_path: Path
    ) -> None:
        orders = enriched_orders(400)
        config = self.config(unique_name("sink"), source, tmp_path)
        async with running([config], settings):
            await self.publish(settings, source, orders)
            rows = await self.landed(config, tmp_path, _amounts(orders))
        counts = Counter(str(r["order_id"]) for r in rows)
        assert set(counts) == {str(o.order_id) for o in orders}
        if self.exact:
            assert max(counts.values()) == 1

    async def test_undecodable_records_are_dead_lettered_and_the_rest_lands(
        self, source: str, settings: Settings, tmp_path: Path
    ) -> None:
        orders = enriched_orders(20, seed=5)
        config = self.config(unique_name("sink"), source, tmp_path)
        async with running([config], settings):
            await produce(
                settings.bootstrap_servers, source, [(b"bad-1", b"\x00\x00"), (b"bad-2", b"{}")]
            )
            await self.publish(settings, source, orders)
            await self.landed(config, tmp_path, _amounts(orders))
            dead = await consume_until(settings.bootstrap_servers, config.dlq_topic, count=2)
        assert {m.key for m in dead} == {b"bad-1", b"bad-2"}
        for m in dead:
            headers = _headers(m.headers)
            assert header(headers, DLQ_PREFIX + "stage") == config.name
            assert header(headers, DLQ_PREFIX + "origin.topic") == source
            assert "ValueDecodeError" in (header(headers, DLQ_PREFIX + "error.class") or "")

    async def test_a_restart_loses_nothing_and_updates_win(
        self, source: str, settings: Settings, tmp_path: Path
    ) -> None:
        orders = enriched_orders(200, seed=9)
        config = self.config(unique_name("sink"), source, tmp_path)
        async with running([config], settings):
            await self.publish(settings, source, orders[:100])
            await self.landed(config, tmp_path, _amounts(orders[:100]))
        updated = [replace(o, amount_cents=o.amount_cents + 1) for o in orders[:50]]
        await self.publish(settings, source, [*orders[100:], *updated])
        async with running([config], settings):
            expected = {**_amounts(orders), **_amounts(updated)}
            rows = await self.landed(config, tmp_path, expected)
        counts = Counter(str(r["order_id"]) for r in rows)
        assert set(counts) == set(expected)
        if self.exact:
            assert len(rows) == len(expected)


async def publish_enriched(settings: Settings, topic: str, orders: Sequence[EnrichedOrder]) -> None:
    """Write ``orders`` to ``topic`` as the enrich stage would (key = order id)."""
    registry = RegistryClient(settings.registry_url)
    codec = RecordCodec(EnrichedOrder, AvroCodec(registry), subject=f"{topic}-value")
    records = [(str(o.order_id).encode(), codec.encode(o)) for o in orders]
    await produce(settings.bootstrap_servers, topic, records)


def _amounts(orders: Sequence[EnrichedOrder]) -> dict[str, int]:
    return {str(o.order_id): o.amount_cents for o in orders}


def _headers(raw: Sequence[tuple[str, bytes]]) -> Headers:
    return tuple((k, bytes(v)) for k, v in raw)
