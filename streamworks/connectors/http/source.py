"""The HTTP ingest source: an aiohttp server that produces what clients post, then answers.

A client's 202 means its records are acknowledged by every in-sync replica (and, under
exactly-once, committed). The source has no position to store: what was answered 202 is
in Kafka, and anything else is for the client to send again.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from streamworks.connectors.base.errors import ConnectorError
from streamworks.connectors.base.source import Source, SourceContext
from streamworks.connectors.http._connections import GuardedSite
from streamworks.connectors.http._flow import Flow
from streamworks.connectors.http._handlers import Ingest
from streamworks.connectors.http.config import HttpSourceConfig

__all__ = ["HttpSource"]

logger = logging.getLogger(__name__)

_SHUTDOWN_S = 20.0
"""How long requests in flight get to finish once the worker drains (it waits 30 s)."""


class HttpSource(Source):
    """Serves ``POST /topics/{topic}`` until the worker drains."""

    def __init__(self, config: HttpSourceConfig) -> None:
        super().__init__(config.name)
        self.config = config
        self.port: int | None = None
        """The port listened on, once listening (useful with ``port: 0``)."""
        self.listening = asyncio.Event()
        """Set once the server accepts connections."""

    async def run(self, context: SourceContext) -> None:
        """Serve until ``context.stopping``; then refuse new requests, finish the others."""
        c = self.config
        ingest = Ingest(c, context, Flow(context.produce, c.max_pending))
        runner = web.AppRunner(ingest.application(), access_log=None, shutdown_timeout=_SHUTDOWN_S)
        await runner.setup()
        try:
            site = GuardedSite(runner, c.host, c.port, c.read_timeout_s)
            try:
                await site.start()
            except OSError as error:
                raise ConnectorError(
                    f"connector {c.name}: cannot listen on {c.host}:{c.port} ({error}); "
                    "choose another host or port"
                ) from error
            self.port = int(runner.addresses[0][1])
            logger.info("connector %s: listening on http://%s:%d", c.name, c.host, self.port)
            self.listening.set()
            await _first(context.stopping, ingest.broken)
            ingest.closing = True
        finally:
            await runner.cleanup()  # stops listening, waits for the requests in flight
        logger.info("connector %s: stopped listening", c.name)
        if ingest.failure is not None:
            raise ingest.failure


async def _first(*events: asyncio.Event) -> None:
    waits = [asyncio.create_task(e.wait()) for e in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
