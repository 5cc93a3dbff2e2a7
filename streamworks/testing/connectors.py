"""Running connectors inside a test: start a worker, wait until it is up, drain it after."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence

from streamworks.connectors.base.config import ConnectorConfig
from streamworks.connectors.base.worker import ConnectWorker
from streamworks.core.settings import Settings

__all__ = ["running"]

_START_TIMEOUT_S = 60.0


@contextlib.asynccontextmanager
async def running(
    configs: Sequence[ConnectorConfig], settings: Settings
) -> AsyncIterator[ConnectWorker]:
    """A :class:`ConnectWorker` running ``configs`` on this loop for the block, then drained.

    Startup errors are raised here; a connector that fails while the block runs is raised
    when the block ends.
    """
    worker = ConnectWorker(configs, settings)
    task = asyncio.create_task(worker.run())
    started = asyncio.create_task(worker.started.wait())
    done, _ = await asyncio.wait(
        {task, started}, timeout=_START_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED
    )
    if task in done and not worker.started.is_set():
        started.cancel()
        await task  # raises the startup error
        raise AssertionError("the connect worker stopped while starting")
    if not worker.started.is_set():
        worker.drain()
        task.cancel()
        raise AssertionError(f"the connect worker did not start in {_START_TIMEOUT_S:.0f}s")
    try:
        yield worker
    finally:
        worker.drain()
        await task
