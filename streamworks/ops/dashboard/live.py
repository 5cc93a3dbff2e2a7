"""The live figures behind ``GET /api/status``, sampled at most about once a second.

Many open browsers share one :class:`~streamworks.ops.status.StatusCollector` (one set of Kafka
connections) and its latest sample, so a dozen pages refreshing every 2 s still cost the
cluster one sample a second.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import AsyncExitStack
from typing import Any

from streamworks.core.settings import Settings
from streamworks.ops.status import StatusCollector, StatusError
from streamworks.pipeline.graph import Pipeline

__all__ = ["MAX_AGE_S", "LiveStatus"]

logger = logging.getLogger(__name__)

MAX_AGE_S = 1.0
"""A sample younger than this is served as is."""


class LiveStatus:
    """The pipeline's latest status as JSON-ready data, with dead-letter counts per stage.

    The collector connects on first use and again after a failure, so a dashboard started
    before Kafka, or surviving a broker restart, recovers by itself.
    """

    def __init__(self, pipeline: Pipeline, settings: Settings, max_age: float = MAX_AGE_S) -> None:
        self.pipeline = pipeline
        self._settings = settings
        self._max_age = max_age
        self._collector: StatusCollector | None = None
        self._connections = AsyncExitStack()
        self._lock = asyncio.Lock()
        self._latest: dict[str, Any] | None = None
        self._sampled = 0.0

    async def current(self) -> dict[str, Any]:
        """The latest sample, taken now if the one held is older than ``max_age``.

        Raises :class:`~streamworks.ops.status.StatusError` when Kafka cannot be read.
        """
        async with self._lock:
            if self._latest is None or time.monotonic() - self._sampled >= self._max_age:
                self._latest = await self._sample()
                self._sampled = time.monotonic()
            return self._latest

    async def close(self) -> None:
        """Close the Kafka connections."""
        self._collector = None
        await self._connections.aclose()

    async def _sample(self) -> dict[str, Any]:
        if self._collector is None:
            self._collector = await self._connections.enter_async_context(
                StatusCollector(self.pipeline, self._settings)
            )
        try:
            status = await self._collector.sample()
        except StatusError:
            await self.close()  # reconnect next time
            raise
        data = status.as_data()
        data["dlq"] = {
            s.name: {"topic": self.pipeline.dead_letter_topic(s.name), "count": s.dead_lettered}
            for s in status.stages
        }
        return data
