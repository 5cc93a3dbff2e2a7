"""Running schema registry instances in-process for tests.

- :func:`running_registry` runs one on the caller's event loop (for async tests that talk
  to it with async HTTP clients);
- :class:`RegistryThread` runs one on its own loop in a background thread, so synchronous
  clients (confluent-kafka's, python-schema-registry-client's) can call it without
  blocking the loop that serves them. The session ``schema_registry`` fixture uses it.

Both listen on a free loopback port and take a topic name, so tests never share state.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

from streamworks.core.settings import Settings
from streamworks.registry import RegistryConfig, RegistryService
from streamworks.testing.helpers import unique_name, wait_for

__all__ = ["RegistryThread", "running_registry", "settled_primary"]


def _config(bootstrap_servers: str, topic: str | None, overrides: dict[str, Any]) -> RegistryConfig:
    base = RegistryConfig(
        bootstrap_servers=bootstrap_servers,
        topic=topic or unique_name("_schemas"),
        host="127.0.0.1",
        port=0,
    )
    return replace(base, **overrides)


@asynccontextmanager
async def running_registry(
    bootstrap_servers: str,
    *,
    topic: str | None = None,
    settings: Settings | None = None,
    **overrides: Any,
) -> AsyncIterator[RegistryService]:
    """A started registry on this loop (unique topic unless given); stopped on exit.

    ``overrides`` are :class:`RegistryConfig` fields (``users_file``, ``tls_certfile``...);
    ``settings`` replace the environment's for its Kafka clients (a secured broker's).
    """
    service = RegistryService(_config(bootstrap_servers, topic, overrides), settings)
    await service.start()
    try:
        yield service
    finally:
        await service.stop()


class RegistryThread:
    """A registry on its own event loop in a daemon thread; ``start()``, then ``stop()``."""

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        topic: str | None = None,
        settings: Settings | None = None,
        **overrides: Any,
    ):
        self.config = _config(bootstrap_servers, topic, overrides)
        self.settings = settings
        self.service: RegistryService | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"registry-{self.config.topic}", daemon=True
        )

    @property
    def url(self) -> str:
        """The registry's base URL, e.g. ``http://127.0.0.1:40123`` (https with a cert)."""
        if self.service is None:
            raise RuntimeError("the registry is not started")
        return self.service.url

    @property
    def topic(self) -> str:
        """The topic that holds this registry's state."""
        return self.config.topic

    def start(self, timeout: float = 120.0) -> RegistryThread:
        """Start the thread and the service; return once it serves."""
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        self.service = future.result(timeout)
        return self

    async def _start(self) -> RegistryService:
        # aiokafka clients must be made on the loop that runs them.
        service = RegistryService(self.config, self.settings)
        await service.start()
        return service

    def stop(self, timeout: float = 60.0) -> None:
        """Stop the service, then the loop and the thread."""
        if self.service is not None:
            asyncio.run_coroutine_threadsafe(self.service.stop(), self._loop).result(timeout)
            self.service = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self._loop.close()

    def __enter__(self) -> RegistryThread:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def settled_primary(*instances: RegistryThread, timeout: float = 60.0) -> RegistryThread:
    """The primary among ``instances`` once exactly one is and all the others know its URL.

    From then on a write through any other instance is forwarded to it. For synchronous
    tests (it runs its own short event loop); the instances must share one topic.
    """

    def primaries() -> list[RegistryService]:
        return [i.service for i in instances if i.service is not None and i.service.is_primary]

    def settled() -> bool:
        found = primaries()
        return len(found) == 1 and all(
            i.service is not None
            and i.service.state.primary is not None
            and i.service.state.primary.url == found[0].url
            for i in instances
        )

    asyncio.run(wait_for(settled, timeout=timeout, what="one primary that all instances know"))
    primary = primaries()[0]
    return next(i for i in instances if i.service is primary)
