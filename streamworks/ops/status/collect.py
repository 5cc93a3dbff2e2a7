"""Sampling a pipeline's status from the cluster: :class:`StatusCollector` and a one-shot.

Each sample reads, per stage, its group's members, its inputs' partitions and offsets, the
timestamps of the records at the group's positions, and its workers' stats records; it then
marks trends against the previous sample and the bottleneck.
"""

from __future__ import annotations

import asyncio
import logging
import time
from types import TracebackType

from aiokafka import TopicPartition
from aiokafka.errors import (
    CoordinatorLoadInProgressError,
    CoordinatorNotAvailableError,
    KafkaError,
    NotCoordinatorError,
)

from streamworks.core.settings import Settings
from streamworks.kafka.errors import unreachable_message
from streamworks.ops.status.bottleneck import mark
from streamworks.ops.status.cluster import ClusterReader
from streamworks.ops.status.errors import StatusError
from streamworks.ops.status.lag import backlog, lag_seconds
from streamworks.ops.status.model import PipelineStatus, StageStatus, stage_status
from streamworks.ops.status.rates import STALE_AFTER_S, WorkerHistory, stage_figures
from streamworks.pipeline.graph import Pipeline

__all__ = ["COORDINATOR_WAIT_S", "StatusCollector", "collect_status"]

logger = logging.getLogger(__name__)

COORDINATOR_WAIT_S = 30.0
"""How long a sample waits for a cluster that cannot coordinate groups yet (just started)."""
_COORDINATOR_RETRY_S = 0.5
_COORDINATOR_STARTING = (
    CoordinatorNotAvailableError,
    CoordinatorLoadInProgressError,
    NotCoordinatorError,
)


class StatusCollector:
    """Samples one pipeline's status again and again over the same connections.

    Use it as an async context manager; each :meth:`sample` compares lag with the previous
    one (the trend that marks a growing backlog as the bottleneck).
    """

    def __init__(
        self,
        pipeline: Pipeline,
        settings: Settings,
        *,
        stale_after: float = STALE_AFTER_S,
        coordinator_wait: float = COORDINATOR_WAIT_S,
    ) -> None:
        self.pipeline = pipeline
        self._coordinator_wait = coordinator_wait
        # the pipeline's guarantee decides the isolation level its workers read with
        self._settings = settings.model_copy(update={"guarantee": pipeline.guarantee})
        self._stale_after = stale_after
        self._reader = ClusterReader(self._settings)
        self._history = WorkerHistory()
        self._previous_lag: dict[str, int] | None = None

    async def __aenter__(self) -> StatusCollector:
        try:
            await self._reader.start()
        except (KafkaError, OSError) as error:
            await self._reader.close()
            raise self._error(error) from error
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._reader.close()

    async def sample(self) -> PipelineStatus:
        """The pipeline's status now.

        A cluster that has just started cannot coordinate groups until it has created and
        loaded ``__consumer_offsets``; the sample is asked again until it can, for up to
        ``coordinator_wait`` seconds.
        """
        deadline = time.monotonic() + self._coordinator_wait
        while True:
            try:
                stages = await self._stages()
                break
            except _COORDINATOR_STARTING as error:
                if time.monotonic() >= deadline:
                    raise self._error(error) from error
                logger.info("the group coordinator is not ready yet (%r); asking again", error)
                await asyncio.sleep(_COORDINATOR_RETRY_S)
            except (KafkaError, OSError) as error:
                raise self._error(error) from error
        marked, bottleneck = mark(stages, self._previous_lag)
        self._previous_lag = {s.name: s.lag_records for s in marked}
        return PipelineStatus(self.pipeline.name, time.time(), marked, bottleneck)

    async def _stages(self) -> list[StageStatus]:
        order = self.pipeline.order()
        groups = {s.name: self.pipeline.group_id(s.name) for s in order}
        members = await self._reader.members(groups.values())
        partitions = await self._reader.partitions(t for s in order for t in s.inputs)
        await self._reader.read_stats(self._history)
        figures = stage_figures(
            self._history,
            self.pipeline.name,
            groups,
            now=time.time(),
            stale_after=self._stale_after,
        )
        inputs = {
            stage.name: [TopicPartition(t, p) for t in stage.inputs for p in partitions[t]]
            for stage in order
        }
        beginning, end = await self._reader.offsets(
            sorted({tp for tps in inputs.values() for tp in tps})
        )
        positions = {}
        for stage in order:
            committed = await self._reader.committed(groups[stage.name], inputs[stage.name])
            ends = {tp: end[tp] for tp in inputs[stage.name] if tp in end}
            positions[stage.name] = backlog(committed, beginning, ends)
        heads = await self._reader.head_timestamps(
            (tp, b.start) for found in positions.values() for tp, b in found.items() if b.lag > 0
        )
        now_ms = round(time.time() * 1000)
        return [
            stage_status(
                name=stage.name,
                group=groups[stage.name],
                inputs=stage.inputs,
                kind="aggregation" if stage.aggregation is not None else "stage",
                workers=members[groups[stage.name]],
                partitions=len(inputs[stage.name]),
                lag_records=sum(b.lag for b in positions[stage.name].values()),
                lag_s=lag_seconds(
                    now_ms,
                    (
                        heads[tp, b.start]
                        for tp, b in positions[stage.name].items()
                        if b.lag > 0 and (tp, b.start) in heads
                    ),
                ),
                figures=figures[stage.name],
                missing_inputs=tuple(t for t in stage.inputs if not partitions[t]),
            )
            for stage in order
        ]

    def _error(self, error: BaseException) -> StatusError:
        where = self._settings.bootstrap_servers
        return StatusError(
            unreachable_message(error, where)
            or f"could not read the status of pipeline {self.pipeline.name} from Kafka at "
            f"{where}: {error!r}; check that the brokers are up and "
            "--bootstrap or STREAMWORKS_BOOTSTRAP_SERVERS points at them",
            bootstrap=where,
        )


async def collect_status(pipeline: Pipeline, settings: Settings) -> PipelineStatus:
    """One sample of ``pipeline``'s status (no trend: that needs two samples)."""
    async with StatusCollector(pipeline, settings) as found:
        return await found.sample()
