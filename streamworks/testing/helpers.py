"""Helpers for tests on a real broker: topics, producing, and waiting with deadlines."""

from __future__ import annotations

import asyncio
import inspect
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field

from aiokafka import ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streamworks.core.settings import Settings
from streamworks.kafka import clients
from streamworks.kafka.reading import read_until

__all__ = [
    "TopicFactory",
    "consume_until",
    "produce",
    "unique_name",
    "wait_for",
]


def unique_name(prefix: str) -> str:
    """``prefix`` plus a short random suffix, so tests never share topics or groups."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def wait_for(
    condition: Callable[[], Awaitable[bool]] | Callable[[], bool],
    *,
    timeout: float = 30.0,
    interval: float = 0.1,
    what: str = "condition",
) -> None:
    """Poll ``condition`` until it is true; fail with ``what`` in the message at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if time.monotonic() >= deadline:
            raise AssertionError(f"waited {timeout:.0f}s for {what}, it never became true")
        await asyncio.sleep(interval)


async def produce(
    bootstrap_servers: str,
    topic: str,
    records: Iterable[tuple[bytes | None, bytes | None]],
    *,
    partition: int | None = None,
    settings: Settings | None = None,
) -> int:
    """Send ``(key, value)`` records with the platform's safe producer; return how many.

    Returns only after every record is acknowledged by all in-sync replicas. ``settings``
    (a secured cluster's login) replace the plain connection to ``bootstrap_servers``.
    """
    producer = clients.producer(settings or Settings(bootstrap_servers=bootstrap_servers))
    await producer.start()
    try:
        futures = [
            await producer.send(topic, value=value, key=key, partition=partition)
            for key, value in records
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return len(futures)


async def consume_until(
    bootstrap_servers: str,
    topic: str | Sequence[str],
    *,
    count: int | None = None,
    until: Callable[[Sequence[ConsumerRecord[bytes, bytes]]], bool] | None = None,
    timeout: float = 30.0,
    isolation_level: str = "read_committed",
    settings: Settings | None = None,
) -> list[ConsumerRecord[bytes, bytes]]:
    """Read ``topic`` (or several) from the start until ``count`` arrived or ``until`` holds.

    Reads without a consumer group (nothing is committed) and, by default, only committed
    transactional records. Fails with an AssertionError naming what was seen at the deadline.
    ``settings`` (a secured cluster's login) replace the plain connection.
    """
    if count is None and until is None:
        raise ValueError("consume_until needs count= or until=")

    def done(seen: Sequence[ConsumerRecord[bytes, bytes]]) -> bool:
        if count is not None and len(seen) < count:
            return False
        return until is None or until(seen)

    topics = [topic] if isinstance(topic, str) else list(topic)
    seen, complete = await read_until(
        settings or Settings(bootstrap_servers=bootstrap_servers),
        topics,
        done,
        within_s=timeout,
        isolation_level=isolation_level,
    )
    if not complete:
        raise AssertionError(
            f"waited {timeout:.0f}s on {', '.join(topics)}: read {len(seen)} record(s)"
            + (f", expected {count}" if count is not None else ", condition not met")
        )
    return seen


@dataclass
class TopicFactory:
    """Creates uniquely named topics for one test and deletes them afterwards."""

    bootstrap_servers: str
    """The cluster to create topics in."""
    default_replication: int = 1
    """Replication factor used when a test does not choose one."""
    created: list[str] = field(default_factory=list)
    """Names created so far, deleted by :meth:`cleanup`."""

    async def __call__(
        self,
        prefix: str = "test",
        *,
        partitions: int = 1,
        replication: int | None = None,
        config: dict[str, str] | None = None,
    ) -> str:
        """Create a topic and wait until every partition has a leader; return its name."""
        name = unique_name(prefix)
        admin = self._admin()
        await admin.start()
        try:
            await admin.create_topics(
                [
                    NewTopic(
                        name,
                        num_partitions=partitions,
                        replication_factor=replication or self.default_replication,
                        topic_configs=config or {},
                    )
                ]
            )
        finally:
            await admin.close()
        self.created.append(name)
        await self._wait_leaders(name, partitions)
        return name

    async def cleanup(self) -> None:
        """Delete the topics this factory created (best effort: the broker may be gone)."""
        if not self.created:
            return
        admin = self._admin()
        try:
            await admin.start()
            await admin.delete_topics(self.created)
        except Exception:  # noqa: BLE001 - cleanup must never hide the test's own result
            return
        finally:
            await admin.close()
        self.created.clear()

    def _admin(self) -> AIOKafkaAdminClient:
        return clients.admin_client(Settings(bootstrap_servers=self.bootstrap_servers))

    async def _wait_leaders(self, topic: str, partitions: int) -> None:
        admin = self._admin()
        await admin.start()
        try:

            async def ready() -> bool:
                described = await admin.describe_topics([topic])
                found = described[0].get("partitions", []) if described else []
                return len(found) == partitions and all(p["leader"] >= 0 for p in found)

            await wait_for(ready, timeout=30, what=f"leaders of all partitions of {topic}")
        finally:
            await admin.close()
