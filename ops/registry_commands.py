"""``streamworks registry``: run a schema registry instance until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import signal
from typing import Annotated

import typer
from rich.console import Console

from schemas.registry import RegistryConfig, RegistryService

__all__ = ["registry"]

console = Console(stderr=True)


def registry(
    *,
    host: Annotated[
        str, typer.Option(envvar="STREAMWORKS_REGISTRY_HOST", help="Interface to listen on.")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(envvar="STREAMWORKS_REGISTRY_PORT", help="HTTP port (0: any free).")
    ] = 8081,
    bootstrap: Annotated[
        str,
        typer.Option(
            envvar="STREAMWORKS_BOOTSTRAP_SERVERS",
            help="Kafka brokers (host:port, comma-separated).",
        ),
    ] = "127.0.0.1:9092",
    topic: Annotated[
        str,
        typer.Option(
            envvar="STREAMWORKS_REGISTRY_TOPIC", help="Compacted topic holding all state."
        ),
    ] = "_schemas",
    advertised_url: Annotated[
        str | None,
        typer.Option(
            envvar="STREAMWORKS_REGISTRY_ADVERTISED_URL",
            help="URL other instances forward writes to [default: http://<host>:<port>].",
        ),
    ] = None,
    startup_timeout: Annotated[
        float,
        typer.Option(
            envvar="STREAMWORKS_REGISTRY_STARTUP_TIMEOUT",
            help="Seconds to read the topic to its end before serving.",
        ),
    ] = 60.0,
) -> None:
    """Serve the Confluent-compatible schema registry API; all state is in TOPIC."""
    config = RegistryConfig(
        bootstrap_servers=bootstrap,
        topic=topic,
        host=host,
        port=port,
        advertised_url=advertised_url,
        startup_timeout=startup_timeout,
    )
    asyncio.run(_serve(config))


async def _serve(config: RegistryConfig) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    service = RegistryService(config)
    with console.status(f"reading {config.topic} from {config.bootstrap_servers}"):
        await service.start()
    console.print(
        f"schema registry at [bold]{service.url}[/] (state in topic {config.topic}); "
        "Ctrl-C to stop",
        highlight=False,
    )
    try:
        await stop.wait()
    finally:
        with console.status("stopping"):
            await service.stop()
