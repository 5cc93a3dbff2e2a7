"""Reading topics from the start without a consumer group: for checks, tests and tools."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from aiokafka import ConsumerRecord

from streamworks.core.settings import Settings
from streamworks.kafka import clients

__all__ = ["Seen", "read_until"]

Seen = Sequence[ConsumerRecord[bytes, bytes]]
"""The records read so far, in the order they arrived."""


async def read_until(
    settings: Settings,
    topics: Sequence[str],
    done: Callable[[Seen], bool],
    *,
    within_s: float,
    isolation_level: str = "read_committed",
) -> tuple[list[ConsumerRecord[bytes, bytes]], bool]:
    """Read ``topics`` from the start until ``done(seen)`` holds or ``within_s`` passes.

    Reads without a consumer group, so nothing is committed; by default only committed
    transactional records. Returns what was read and whether ``done`` held.
    """
    consumer = clients.consumer(
        *topics, settings=settings, group_id=None, isolation_level=isolation_level
    )
    seen: list[ConsumerRecord[bytes, bytes]] = []
    deadline = time.monotonic() + within_s
    try:  # a read cancelled while the consumer starts (its pipeline failed) still closes it
        await consumer.start()
        while not done(seen):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return seen, False
            batches = await consumer.getmany(timeout_ms=int(min(remaining, 0.5) * 1000))
            for batch in batches.values():
                seen.extend(batch)
    finally:
        await consumer.stop()
    return seen, True
