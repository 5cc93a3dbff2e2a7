"""Admission and group commit: how many records are in flight, and producing them together.

Every request waits until its records are acknowledged before it is answered. Produced one
request at a time, small requests would each pay a full Kafka round trip; instead, records
of requests that arrive while a produce call is in flight queue up and go out together in
the next call (a group commit). Nothing waits for a timer: an idle server produces at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from streamworks.core.messages import OutRecord

__all__ = ["Flow"]

logger = logging.getLogger(__name__)

Produce = Callable[[Sequence[OutRecord]], Awaitable[None]]


class Flow:
    """Counts records in flight (``max_pending``) and produces queued records together."""

    def __init__(self, produce: Produce, max_pending: int) -> None:
        self._produce = produce
        self._max_pending = max_pending
        self.pending = 0
        """Records admitted and not yet acknowledged (or refused)."""
        self._queue: list[tuple[list[OutRecord], asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None

    def admit(self, count: int) -> bool:
        """Reserve room for ``count`` records; False when that would pass ``max_pending``.

        A batch larger than ``max_pending`` is let through alone, when nothing else is in
        flight, so that no valid request is refused for ever.
        """
        if self.pending and self.pending + count > self._max_pending:
            return False
        self.pending += count
        return True

    def release(self, count: int) -> None:
        """Give back the room of ``count`` records (acknowledged, refused or failed)."""
        self.pending -= count

    @property
    def full(self) -> bool:
        """No more records fit."""
        return self.pending >= self._max_pending

    async def commit(self, records: list[OutRecord]) -> None:
        """Return once ``records`` are acknowledged; raise the produce error if they are not."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((records, done))
        if self._task is None:
            self._task = asyncio.create_task(self._drain(), name="http-group-commit")
        await done

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                records = [r for chunk, _ in batch for r in chunk]
                try:
                    await self._produce(records)
                except Exception as error:  # noqa: BLE001 - handed to every waiting request
                    for _, done in batch:
                        if not done.done():
                            done.set_exception(error)
                else:
                    for _, done in batch:
                        if not done.done():
                            done.set_result(None)
        finally:
            self._task = None
