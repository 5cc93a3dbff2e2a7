"""Running the dashboard: inside an event loop that is already running, or as a command."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from aiohttp import web

from streamworks.connectors.base.config import ConnectorConfig
from streamworks.core.settings import Settings
from streamworks.ops.dashboard.app import build_app
from streamworks.ops.dashboard.errors import DashboardError
from streamworks.ops.dashboard.graph import build_graph
from streamworks.ops.dashboard.live import LiveStatus
from streamworks.pipeline.graph import Pipeline

__all__ = ["RunningDashboard", "start_dashboard"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunningDashboard:
    """A dashboard serving in the current event loop."""

    url: str
    """Its address, e.g. ``http://127.0.0.1:8089/``."""
    runner: web.AppRunner
    """The aiohttp runner behind it."""

    async def stop(self) -> None:
        """Stop serving and close its Kafka connections."""
        await self.runner.cleanup()


async def start_dashboard(
    pipeline: Pipeline,
    settings: Settings,
    *,
    connectors: Sequence[ConnectorConfig] = (),
    host: str = "127.0.0.1",
    port: int = 8089,
) -> RunningDashboard:
    """Serve ``pipeline``'s dashboard on ``host:port`` (0: a free port) in the running loop.

    Returns once it listens (:class:`~streamworks.ops.dashboard.errors.DashboardError` when it
    cannot); the supervisor, the demo or a test prints or opens :attr:`RunningDashboard.url`
    and calls :meth:`RunningDashboard.stop` at the end.
    """
    app = build_app(build_graph(pipeline, connectors), LiveStatus(pipeline, settings))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as error:
        await runner.cleanup()
        raise DashboardError(
            f"the dashboard cannot listen on {host}:{port}: {error.strerror or error}; "
            "pick another address with --host/--port (STREAMWORKS_DASHBOARD_HOST/_PORT)",
            host=host,
            port=port,
        ) from error
    bound = runner.addresses[0]
    shown = f"[{bound[0]}]" if ":" in str(bound[0]) else str(bound[0])
    url = f"http://{shown}:{bound[1]}/"
    logger.info("dashboard of pipeline %s at %s", pipeline.name, url)
    return RunningDashboard(url, runner)
