"""One worker process running one or more connectors until it is asked to drain.

Draining (SIGTERM in ``streamworks connect``) sets one event: sources finish their current
step (its records and position are stored), sinks finish their current batch (written,
flushed, committed) and leave their groups. A connector that fails for good stops the whole
worker with its error, so a supervisor restarts it instead of it running half-alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka.errors import KafkaError

from streamworks.connectors.base._sink_runtime import SinkRuntime
from streamworks.connectors.base._source_runtime import SourceRuntime
from streamworks.connectors.base.config import ConnectorConfig, SinkConfig, SourceConfig
from streamworks.connectors.base.errors import ConnectorConfigError
from streamworks.connectors.base.kind import kind_of
from streamworks.connectors.base.positions import POSITIONS_TOPIC
from streamworks.connectors.base.sink import Sink
from streamworks.connectors.base.source import Source
from streamworks.core.settings import Settings
from streamworks.kafka.security import check_login, explain
from streamworks.runtime.metrics import MetricsServer
from streamworks.schemas.registry_client import RegistryClient

__all__ = ["ConnectWorker", "ConnectorCounts"]

logger = logging.getLogger(__name__)

_DRAIN_S = 30.0
"""How long connectors get to finish their step after a drain starts."""


@dataclass(frozen=True)
class ConnectorCounts:
    """What one connector did in this worker."""

    name: str
    """The connector."""
    kind: str
    """Its kind."""
    records: int
    """Records produced (source) or written (sink)."""
    dead_lettered: int
    """Records sent to its dead-letter topic."""


class ConnectWorker:
    """Runs ``configs`` in this process; ``await run()`` returns after a drain or when done."""

    def __init__(self, configs: Sequence[ConnectorConfig], settings: Settings) -> None:
        self.configs = list(configs)
        self.settings = settings
        self.stopping = asyncio.Event()
        """Set it (or call :meth:`drain`) to make every connector finish and return."""
        self.started = asyncio.Event()
        """Set once every connector has started (sinks joined their groups)."""
        self.metrics = MetricsServer(settings)
        """Serves this process's ``/metrics`` while it runs (``metrics.address``)."""
        self._runtimes: list[SourceRuntime | SinkRuntime] = []
        for config in self.configs:
            if not isinstance(config, SourceConfig | SinkConfig):
                raise ConnectorConfigError(f"connector {config.name} is neither source nor sink")
            kind_of(type(config))  # an unregistered kind fails here, before anything starts

    def drain(self) -> None:
        """Ask every connector to finish its current step and stop."""
        self.stopping.set()

    def counts(self) -> list[ConnectorCounts]:
        """Per connector: records moved and dead-lettered so far."""
        out = []
        for runtime in self._runtimes:
            moved = runtime.produced if isinstance(runtime, SourceRuntime) else runtime.written
            out.append(
                ConnectorCounts(runtime.name, runtime.config.kind, moved, runtime.dead_lettered)
            )
        return out

    async def run(self) -> list[ConnectorCounts]:
        """Start every connector, run them until drained (or all sources are exhausted).

        Each connector logs in as its own principal when a users file is set; a refused
        login or missing permission stops the worker with one line naming what was refused.
        """
        logins = {
            config.name: self.settings.as_principal(config.principal) for config in self.configs
        }
        for login in {s.sasl_username: s for s in logins.values()}.values():
            await check_login(login)
        try:
            return await self._run(logins)
        except KafkaError as error:
            config = _owner(error, self.configs)
            typed = explain(error, logins[config.name], reads=_reads(config))
            if typed is None:
                raise
            raise typed from None

    async def _run(self, logins: dict[str, Settings]) -> list[ConnectorCounts]:
        registry = RegistryClient.from_settings(self.settings)
        self._runtimes = [  # Kafka clients are made inside the running loop
            SourceRuntime(config, logins[config.name], registry, self.stopping)
            if isinstance(config, SourceConfig)
            else SinkRuntime(
                config,
                _sink(config),
                logins[config.name],
                registry,
                self.stopping,
            )
            for config in self.configs
            if isinstance(config, SourceConfig | SinkConfig)
        ]
        started: list[SourceRuntime | SinkRuntime] = []
        await self.metrics.start()
        try:
            for runtime in self._runtimes:
                started.append(runtime)  # a half-started runtime still closes its clients
                await runtime.start()
            self.started.set()
            tasks = [
                asyncio.create_task(self._run_one(runtime), name=runtime.name)
                for runtime in self._runtimes
            ]
            await self._supervise(tasks)
        finally:
            for runtime in reversed(started):
                try:
                    await runtime.stop()
                except Exception:  # one failing close must not hide the others
                    logger.exception("connector %s did not stop cleanly", runtime.name)
            await self.metrics.stop()
        return self.counts()

    async def _run_one(self, runtime: SourceRuntime | SinkRuntime) -> None:
        if isinstance(runtime, SourceRuntime):
            source = _source(runtime.config)
            await source.run(runtime)
            logger.info("source %s finished: %d records", runtime.name, runtime.produced)
        else:
            await runtime.run()

    async def _supervise(self, tasks: list[asyncio.Task[None]]) -> None:
        stop: asyncio.Task[Any] = asyncio.create_task(self.stopping.wait())
        pending: set[asyncio.Task[Any]] = set(tasks)
        try:
            while pending and not self.stopping.is_set():
                done, pending = await asyncio.wait(
                    pending | {stop}, return_when=asyncio.FIRST_COMPLETED
                )
                pending.discard(stop)
                for task in done - {stop}:
                    if task.exception() is not None:
                        logger.error("connector %s failed; the worker stops", task.get_name())
                        self.stopping.set()
            if pending:
                _, late = await asyncio.wait(pending, timeout=_DRAIN_S)
                for task in late:
                    logger.warning("connector %s did not drain in time", task.get_name())
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            for task in tasks:  # the first failure is the worker's
                if task.done() and not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
        finally:
            stop.cancel()


def _source(config: SourceConfig) -> Source:
    """The source ``config`` describes, made by its registered kind."""
    built = kind_of(type(config)).build(config)
    if not isinstance(built, Source):
        raise _mismatch(config, built)
    return built


def _sink(config: SinkConfig) -> Sink:
    """The sink ``config`` describes, made by its registered kind."""
    built = kind_of(type(config)).build(config)
    if not isinstance(built, Sink):
        raise _mismatch(config, built)
    return built


def _mismatch(config: ConnectorConfig, built: object) -> ConnectorConfigError:
    wanted = "source" if isinstance(config, SourceConfig) else "sink"
    return ConnectorConfigError(
        f"the kind of connector {config.name} built a {type(built).__name__}, not a {wanted}"
    )


def _reads(config: ConnectorConfig) -> set[str]:
    return set(config.topics) if isinstance(config, SinkConfig) else {POSITIONS_TOPIC}


def _owner(error: KafkaError, configs: Sequence[ConnectorConfig]) -> ConnectorConfig:
    """The connector whose topic, group or transactional id ``error`` names (else the first)."""
    named = error.args[0] if error.args else None
    names = set(named) if isinstance(named, set | frozenset | list | tuple) else {str(named)}
    for config in configs:
        mine = _reads(config) | {config.dlq_topic, config.principal}
        if isinstance(config, SourceConfig):
            mine.add(config.topic)
        if isinstance(config, SinkConfig):
            mine.add(config.group_id)
        if names & mine:
            return config
    return configs[0]
