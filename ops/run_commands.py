"""``streamworks worker`` and ``streamworks run``: stage workers and supervised pools."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from typing import Annotated

import typer
import uvloop
from rich.console import Console

from ops.supervisor import Supervisor
from schemas.registry_client import RegistryClient
from streams.errors import ConfigurationError
from streams.pipelines import load_pipeline
from streams.runner import run_worker
from streams.settings import Settings
from streams.topics import ensure_topics, register_contracts

__all__ = ["parse_pools", "run", "worker"]

console = Console()
logger = logging.getLogger(__name__)

PipelineRef = Annotated[
    str, typer.Argument(help="Builtin pipeline name (orders) or package.module:attribute.")
]


def worker(
    pipeline: PipelineRef,
    stage: Annotated[str, typer.Option(envvar="STREAMWORKS_STAGE", help="Stage to run.")],
) -> None:
    """Run one worker of one stage until SIGTERM (it then drains, commits and leaves)."""
    found = load_pipeline(pipeline)
    if stage not in found.stages:
        raise ConfigurationError(
            f"pipeline {found.name} has no stage {stage}; stages: {', '.join(found.stages)}"
        )
    logging.getLogger("streams").setLevel(logging.INFO)
    counts = uvloop.run(run_worker(found, stage, Settings()))
    console.print(f"worker of {stage} stopped: {counts}")


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
    workers: Annotated[
        str, typer.Option(envvar="STREAMWORKS_WORKERS", help="Pool sizes, e.g. clean=2,validate=3.")
    ] = "",
) -> None:
    """Validate the pipeline, create its topics, and supervise local worker pools."""
    found = load_pipeline(pipeline)
    found.validate()
    settings = Settings()
    created = asyncio.run(ensure_topics(found, settings))
    if created:
        console.print(f"created topics: {', '.join(created)}")
    register_contracts(found, RegistryClient(settings.registry_url))
    supervisor = Supervisor(pipeline, parse_pools(workers, list(found.stages)))
    stopping = False

    def request_stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    supervisor.start()
    console.print(
        f"running {found.name}: " + ", ".join(f"{s}={n}" for s, n in supervisor.pools.items())
    )
    while not stopping:
        supervisor.poll()
        time.sleep(0.5)
    console.print("stopping: workers drain and commit")
    supervisor.stop()
