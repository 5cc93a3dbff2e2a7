"""Backoff for transient failures: doubling waits with jitter, cut short by a drain."""

from __future__ import annotations

import asyncio
import contextlib
import random

from streamworks.connectors.base.config import RetryConfig

__all__ = ["Backoff"]


class Backoff:
    """Waits ``initial_s``, then twice that, up to ``max_s``, each with +-20% jitter."""

    def __init__(self, config: RetryConfig, stopping: asyncio.Event) -> None:
        self._config = config
        self._stopping = stopping
        self.attempts = 0
        """Failures since the last :meth:`reset`."""

    def reset(self) -> None:
        """Start again from the shortest wait (after a success)."""
        self.attempts = 0

    @property
    def exhausted(self) -> bool:
        """True once the configured number of attempts has failed."""
        limit = self._config.attempts
        return limit is not None and self.attempts >= limit

    def next_delay(self, asked: float | None = None) -> float:
        """The wait before the next attempt; ``asked`` (a Retry-After) wins if longer."""
        base = min(self._config.initial_s * 2**self.attempts, self._config.max_s)
        jittered = base * random.uniform(0.8, 1.2)  # noqa: S311 - spreading retries, not crypto
        return float(max(jittered, asked or 0.0))

    async def wait(self, asked: float | None = None) -> bool:
        """Count a failure and sleep; False if the worker started draining meanwhile."""
        delay = self.next_delay(asked)
        self.attempts += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=delay)
        return not self._stopping.is_set()
