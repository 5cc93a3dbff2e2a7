"""Kafka clients with the platform's safe defaults.

aiokafka's own defaults are ``acks=1``, no idempotence and auto-commit every five seconds:
a crash can then lose acknowledged writes or commit offsets of records that were never
processed. Everything in streamworks makes its clients here instead, so the safe settings
are the default and a test guards them.
"""

from __future__ import annotations

import functools
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.partitioner import DefaultPartitioner

from streams._murmur2 import murmur2
from streams.settings import Settings

__all__ = [
    "admin_client",
    "consumer",
    "consumer_config",
    "key_partitioner",
    "producer",
    "producer_config",
]


_cached_murmur2 = functools.lru_cache(maxsize=65_536)(murmur2)


def key_partitioner(key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
    """Kafka's default key hashing (murmur2, as the Java client), with hashes cached.

    murmur2 in pure Python costs about as much as encoding a small record; stages keyed by
    customer or region see the same keys again and again, so hashes are cached.
    """
    if key is None:
        return int(DefaultPartitioner()(key, all_partitions, available))
    index = int(_cached_murmur2(key)) & 0x7FFFFFFF
    return all_partitions[index % len(all_partitions)]


def producer_config(settings: Settings | None = None, **overrides: Any) -> dict[str, Any]:
    """Keyword arguments for :class:`aiokafka.AIOKafkaProducer`: acks=all, idempotent."""
    s = settings or Settings()
    config: dict[str, Any] = {
        "bootstrap_servers": s.bootstrap_servers,
        "client_id": f"{s.client_id}-producer",
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": s.linger_ms,
        "partitioner": key_partitioner,
        "request_timeout_ms": 30_000,
    }
    config.update(overrides)
    return config


def consumer_config(settings: Settings | None = None, **overrides: Any) -> dict[str, Any]:
    """Keyword arguments for :class:`aiokafka.AIOKafkaConsumer`: offsets committed by us only.

    Under exactly-once the consumer reads only committed transactional records.
    """
    s = settings or Settings()
    config: dict[str, Any] = {
        "bootstrap_servers": s.bootstrap_servers,
        "client_id": f"{s.client_id}-consumer",
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "isolation_level": (
            "read_committed" if s.guarantee == "exactly-once" else "read_uncommitted"
        ),
    }
    config.update(overrides)
    return config


def producer(settings: Settings | None = None, **overrides: Any) -> AIOKafkaProducer:
    """A producer with :func:`producer_config`; start it with ``await p.start()``."""
    return AIOKafkaProducer(**producer_config(settings, **overrides))


def consumer(*topics: str, settings: Settings | None = None, **overrides: Any) -> AIOKafkaConsumer:
    """A consumer with :func:`consumer_config`, subscribed to ``topics`` if any are given."""
    return AIOKafkaConsumer(*topics, **consumer_config(settings, **overrides))


def admin_client(settings: Settings | None = None, **overrides: Any) -> AIOKafkaAdminClient:
    """An admin client for the configured cluster; start it with ``await a.start()``."""
    s = settings or Settings()
    config: dict[str, Any] = {
        "bootstrap_servers": s.bootstrap_servers,
        "client_id": f"{s.client_id}-admin",
    }
    config.update(overrides)
    return AIOKafkaAdminClient(**config)
