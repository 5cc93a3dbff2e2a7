"""``streamworks worker`` and ``streamworks run``: stage workers and supervised pools."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from typing import Annotated

import typer
import uvloop
from aiokafka.errors import KafkaError
from rich.console import Console

from streamworks.core.errors import ConfigurationError, StreamworksError
from streamworks.core.settings import Settings
from streamworks.ops.autoscale import Autoscaler, Bounds, PoolScaler, parse_autoscale
from streamworks.ops.cluster_options import Bootstrap, Registry, point_at
from streamworks.ops.lifeline import bind_to_parent
from streamworks.ops.project import load_pipeline
from streamworks.ops.run_lock import run_lock
from streamworks.ops.runner import run_workers
from streamworks.ops.supervisor import GIVE_UP_AFTER, Supervisor
from streamworks.pipeline.graph import Pipeline
from streamworks.runtime.topics import ensure_topics, register_contracts
from streamworks.schemas.registry_client import RegistryClient

__all__ = ["StageFailingError", "parse_pools", "run", "worker"]

console = Console()
logger = logging.getLogger(__name__)


class StageFailingError(StreamworksError):
    """A stage's workers keep exiting right after they start."""


PipelineRef = Annotated[
    str,
    typer.Argument(
        help="A pipeline named in the project (e.g. orders) or package.module:attribute."
    ),
]


def worker(
    pipeline: PipelineRef,
    stage: Annotated[
        list[str],
        typer.Option(
            envvar="STREAMWORKS_STAGE",
            help="Stage to run; repeat it to run one worker of each in this process.",
        ),
    ],
    supervisor_pid: Annotated[
        int | None,
        typer.Option(
            envvar="STREAMWORKS_SUPERVISOR_PID",
            help="The parent process (streamworks run sets it): stop when it is gone.",
        ),
    ] = None,
    bootstrap: Bootstrap = None,
    registry: Registry = None,
) -> None:
    """Run one worker of a stage (or of each stage named) until SIGTERM; then drain, commit
    and leave.

    Workers of a stage may run side by side (each one more joins the stage's group);
    ``streamworks run`` starts them with ``--supervisor-pid`` so none outlives it, and with
    ``--processes`` packs several stages' workers into one process.
    """
    point_at(bootstrap, registry)
    # first, before the pipeline's imports: a supervisor that dies from here on is noticed
    if supervisor_pid is not None and not bind_to_parent(supervisor_pid):
        raise ConfigurationError(
            f"this worker's parent is pid {os.getppid()}, not its supervisor {supervisor_pid} "
            "(--supervisor-pid): the supervisor is gone or the pid is wrong; not starting"
        )
    found = load_pipeline(pipeline)
    unknown = [name for name in stage if name not in found.stages]
    if unknown:
        raise ConfigurationError(
            f"pipeline {found.name} has no stage {', '.join(unknown)}; "
            f"stages: {', '.join(found.stages)}"
        )
    stages = list(dict.fromkeys(stage))
    logging.getLogger("streamworks").setLevel(logging.INFO)
    counts = uvloop.run(run_workers(found, stages, Settings(), supervisor_pid=supervisor_pid))
    for name, figures in counts.items():
        console.print(f"worker of {name} stopped: {figures}")


_AUTOSCALE_EVERY_S = 2.0


def _partitions(pipeline: Pipeline, bounds: dict[str, Bounds]) -> dict[str, int]:
    """Each autoscaled stage's busiest possible pool: its inputs' largest partition count."""
    topics = pipeline.topics()
    return {
        name: max(topics[t].partitions for t in pipeline.stages[name].inputs) for name in bounds
    }


def _look(scaler: PoolScaler) -> list[str]:
    try:
        return asyncio.run(scaler.step())
    except (StreamworksError, KafkaError, OSError) as error:  # a hiccup must not stop run
        logger.warning("autoscale: could not read the pipeline's status: %s", error)
        return []


def parse_pools(text: str, stages: list[str]) -> dict[str, int]:
    """``clean=2,validate=3`` -> sizes for every stage (1 for those not named)."""
    pools = dict.fromkeys(stages, 1)
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, size = part.partition("=")
        if name not in pools or not size.isdigit():
            raise ConfigurationError(
                f"--workers wants stage=count pairs for stages {', '.join(stages)}, not {part!r}"
            )
        pools[name] = int(size)
    return pools


def run(
    pipeline: PipelineRef,
    *,
    workers: Annotated[
        str, typer.Option(envvar="STREAMWORKS_WORKERS", help="Pool sizes, e.g. clean=2,validate=3.")
    ] = "",
    autoscale: Annotated[
        str,
        typer.Option(
            envvar="STREAMWORKS_AUTOSCALE",
            help="Elastic pools from lag, e.g. validate=1:4 (min:max workers).",
        ),
    ] = "",
    processes: Annotated[
        int,
        typer.Option(
            envvar="STREAMWORKS_PROCESSES",
            min=0,
            help="Pack the workers into this many processes (0: a process per worker).",
        ),
    ] = 0,
    bootstrap: Bootstrap = None,
    registry: Registry = None,
) -> None:
    """Validate the pipeline, create its topics, and supervise local worker pools.

    With ``--autoscale`` the named stages' pools grow while they fall behind and shrink
    when idle (see :mod:`streamworks.ops.autoscale`), never past their input partitions.
    With ``--processes N`` the workers share N processes, each running several stages in
    one event loop (every stage still its own consumer group, transactions and metrics).
    A second ``run`` of the pipeline from the same state directory is refused while this
    one runs (:mod:`streamworks.ops.run_lock`), and the workers never outlive it, even when
    it is killed (:mod:`streamworks.ops.lifeline`).
    """
    point_at(bootstrap, registry)
    found = load_pipeline(pipeline)
    found.validate()
    settings = Settings()
    with run_lock(found.name, settings.state_dir):
        _supervise(found, pipeline, settings, workers, autoscale, processes)


def _supervise(  # noqa: PLR0917 - the run command's options, passed on
    found: Pipeline,
    pipeline: str,
    settings: Settings,
    workers: str,
    autoscale: str,
    processes: int,
) -> None:
    created = asyncio.run(ensure_topics(found, settings))
    if created:
        console.print(f"created topics: {', '.join(created)}")
    register_contracts(found, RegistryClient.from_settings(settings))
    pools = parse_pools(workers, list(found.stages))
    bounds = parse_autoscale(autoscale, list(found.stages))
    for name, bound in bounds.items():
        pools[name] = max(bound.low, min(pools[name], bound.high))
    supervisor = Supervisor(pipeline, pools, processes=processes or None)
    scaler = (
        PoolScaler(found, settings, supervisor, Autoscaler(bounds, _partitions(found, bounds)))
        if bounds
        else None
    )
    stopping = False

    def request_stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    supervisor.start()
    console.print(
        f"running {found.name}: "
        + ", ".join(f"{s}={n}" for s, n in supervisor.pools.items())
        + (f" in {supervisor.processes} processes" if processes else "")
    )
    next_look = time.monotonic()
    while not stopping:
        supervisor.poll()
        failing = supervisor.failing()
        if failing:
            supervisor.stop()
            if set(failing) <= supervisor.stopped:
                raise StageFailingError(
                    f"stage {', '.join(failing)} stopped itself (its error is above); "
                    "stopped the pipeline"
                )
            raise StageFailingError(
                f"the workers of {', '.join(failing)} exited {GIVE_UP_AFTER} times in a row soon "
                "after starting (their last error is above); stopped the pipeline"
            )
        if scaler is not None and time.monotonic() >= next_look:
            for change in _look(scaler):
                console.print(f"autoscale: {change}")
            next_look = time.monotonic() + _AUTOSCALE_EVERY_S
        time.sleep(0.5)
    console.print("stopping: workers drain and commit")
    supervisor.stop()
