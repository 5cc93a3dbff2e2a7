"""The registry service: log reader, HTTP API, election and writes, started and stopped together.

Start-up order matters: the reader first catches up with the whole ``_schemas`` topic (so
the first answer is already the full state), then the HTTP server starts (which fixes the
URL other instances forward to), then the instance joins the election.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import ssl
import time
import uuid
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from streamworks.core.settings import Settings
from streamworks.registry.api import build_app
from streamworks.registry.auth import Authenticator
from streamworks.registry.commands import Plan
from streamworks.registry.election import Election
from streamworks.registry.errors import (
    BackendError,
    ForwardingError,
    NotPrimaryError,
    RegistrySetupError,
)
from streamworks.registry.forwarding import Forwarder, WriteOutcome, WriteRequest
from streamworks.registry.log import LogReader, LogWriter, ensure_topic
from streamworks.registry.records import PrimaryRecord
from streamworks.registry.state import RegistryState

__all__ = ["PRINCIPAL", "RegistryConfig", "RegistryService"]

logger = logging.getLogger(__name__)

PRINCIPAL = "schema-registry"
"""The Kafka principal the registry logs in as when a SASL users file is set."""


@dataclass(frozen=True)
class RegistryConfig:
    """How one registry instance runs."""

    bootstrap_servers: str = "127.0.0.1:9092"
    """Kafka brokers holding the topic."""
    topic: str = "_schemas"
    """The compacted topic with all the registry's state."""
    host: str = "127.0.0.1"
    """Interface the HTTP server listens on."""
    port: int = 8081
    """HTTP port; 0 picks a free one (see :attr:`RegistryService.url`)."""
    advertised_url: str | None = None
    """URL other instances forward writes to; by default ``http(s)://<host>:<port>``."""
    users_file: Path | None = None
    """JSON users file (:mod:`streamworks.registry.users`); None serves everyone (an open
    registry)."""
    tls_certfile: Path | None = None
    """PEM certificate (chain) to serve https with; None serves plain http."""
    tls_keyfile: Path | None = None
    """PEM private key of :attr:`tls_certfile`."""
    startup_timeout: float = 60.0
    """Seconds to read the topic to its end before serving."""
    write_timeout: float = 30.0
    """Seconds a write waits to read its own records back."""
    forward_timeout: float = 30.0
    """Seconds a secondary keeps trying to reach a primary for one write."""
    session_timeout_ms: int = 10_000
    """Election group session timeout: how soon a dead primary is replaced."""


class RegistryService:
    """One registry instance. ``await start()``, serve, ``await stop()``."""

    def __init__(self, config: RegistryConfig, settings: Settings | None = None) -> None:
        """``settings`` default to the environment's (TLS, SASL) with ``config``'s brokers,
        logged in as :data:`PRINCIPAL`."""
        self.config = config
        self.settings = settings or _environment_settings(config.bootstrap_servers)
        self.authenticator = (
            Authenticator(config.users_file) if config.users_file is not None else None
        )
        self._tls = _server_tls(config)
        self.state = RegistryState()
        self.instance = uuid.uuid4().hex[:12]
        self.reader = LogReader(self.settings, config.topic, self.state)
        self.election = Election(
            self.settings,
            config.topic,
            elected=self._elected,
            deposed=self._deposed,
            session_timeout_ms=config.session_timeout_ms,
        )
        self._forwarder = Forwarder(
            self.instance, timeout=config.forward_timeout, tls=_peer_tls(self.settings)
        )
        self._writer: LogWriter | None = None
        self._primary = False
        self._promotion: asyncio.Task[None] | None = None
        self._write_lock = asyncio.Lock()
        self._runner: web.AppRunner | None = None
        self.connections: weakref.WeakSet[asyncio.Transport] = weakref.WeakSet()
        """The transports of the requests served (the API adds each), closed by stop()."""
        self.url = ""
        """Where this instance answers, known once started."""

    @property
    def is_primary(self) -> bool:
        """True when this instance is elected, its writer started and its announcement read."""
        return self._primary

    async def start(self) -> None:
        """Catch up with the topic, serve HTTP, and join the election."""
        await ensure_topic(self.settings, self.config.topic)
        await self.reader.start(self.config.startup_timeout)
        self._runner = web.AppRunner(build_app(self), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port, ssl_context=self._tls)
        await site.start()
        port = int(self._runner.addresses[0][1])
        scheme = "https" if self._tls is not None else "http"
        self.url = (
            self.config.advertised_url or f"{scheme}://{_public_host(self.config.host)}:{port}"
        )
        await self.election.start()
        logger.info(
            "schema registry %s serving %s at %s", self.instance, self.config.topic, self.url
        )
        if self.authenticator is None:
            logger.warning(
                "schema registry at %s is open: without a users file anyone who reaches it "
                "may read and write every subject (see streamworks registry --users-file)",
                self.url,
            )

    async def stop(self) -> None:
        """Leave the election first (so another instance takes over), then stop serving."""
        await self.election.stop()
        await self._deposed()
        if self._runner is not None:
            await self._runner.cleanup()
            # Over TLS a closed connection first waits (up to 30 s) for the client's
            # close_notify, which a client holding an idle connection never sends; a loop
            # closed meanwhile would leave the socket open. Drop every one at once.
            for transport in list(self.connections):
                transport.abort()
        await self._forwarder.close()
        await self.reader.stop()

    async def wait_primary(self, within: float) -> None:
        """Wait until this instance is primary (for tests and tools)."""
        deadline = time.monotonic() + within
        while not self._primary:
            if time.monotonic() > deadline:
                raise BackendError(f"instance {self.url} did not become primary in {within:.0f}s")
            await asyncio.sleep(0.05)

    # -- writes ---------------------------------------------------------------------------

    async def write(
        self,
        command: Callable[[RegistryState], Plan[Any]],
        request: WriteRequest,
        *,
        forwarded: bool,
    ) -> WriteOutcome:
        """Run a write here when primary, else forward it to the primary; retry while electing."""
        if forwarded:
            return await self._write_here(command)
        deadline = time.monotonic() + self.config.forward_timeout
        while True:
            try:
                if self._primary:
                    return await self._write_here(command)
                return await self._forward(request)
            except ForwardingError as error:
                if time.monotonic() > deadline:
                    raise ForwardingError(f"no primary took the write in time: {error}") from error
                logger.debug("write not taken yet, retrying: %s", error)
                await asyncio.sleep(0.2)

    async def _write_here(self, command: Callable[[RegistryState], Plan[Any]]) -> WriteOutcome:
        async with self._write_lock:
            writer = self._writer
            if writer is None or not self._primary:
                raise NotPrimaryError(f"instance {self.url} is not the primary")
            plan = command(self.state)
            offset = self.reader.position
            if plan.records:
                try:
                    offset = await writer.write(plan.records)
                except NotPrimaryError:
                    logger.warning("fenced by a newer primary of %s", self.config.topic)
                    self.election.fenced()
                    await self._deposed()
                    raise
                await self.reader.wait_position(offset, self.config.write_timeout)
        return WriteOutcome(200, json.dumps(plan.result, separators=(",", ":")).encode(), offset)

    async def _forward(self, request: WriteRequest) -> WriteOutcome:
        primary = self.state.primary
        if primary is None or primary.instance == self.instance:
            raise ForwardingError("no primary is known yet")
        outcome = await self._forwarder.send(primary.url, request)
        if outcome.offset is not None:
            await self.reader.wait_position(outcome.offset, self.config.write_timeout)
        return outcome

    # -- election -------------------------------------------------------------------------

    async def _elected(self) -> None:
        self._promotion = asyncio.create_task(self._promote(), name="registry-promotion")

    async def _promote(self) -> None:
        """Fence older writers, announce this URL on the log, and take writes once read back."""
        while self.election.leader:
            writer = LogWriter(self.settings, self.config.topic)
            try:
                await writer.start()
                offset = await writer.write([PrimaryRecord(self.url, self.instance)])
                await self.reader.wait_position(offset, self.config.write_timeout)
            except asyncio.CancelledError:
                await writer.stop()
                raise
            except (BackendError, ForwardingError) as error:
                logger.warning("could not take over as primary, retrying: %s", error)
                await writer.stop()
                await asyncio.sleep(1.0)
                continue
            self._writer = writer
            self._primary = True
            logger.info("instance %s is the primary of %s", self.url, self.config.topic)
            return

    async def _deposed(self) -> None:
        self._primary = False
        promotion, self._promotion = self._promotion, None
        if promotion is not None and promotion is not asyncio.current_task():
            promotion.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await promotion
        writer, self._writer = self._writer, None
        if writer is not None:
            await writer.stop()


def _environment_settings(bootstrap_servers: str) -> Settings:
    """The environment's settings (TLS and SASL included) for ``bootstrap_servers``."""
    settings = Settings().model_copy(update={"bootstrap_servers": bootstrap_servers})
    return settings.as_principal(PRINCIPAL)


def _server_tls(config: RegistryConfig) -> ssl.SSLContext | None:
    """The https context of the certificate and key, or None to serve http."""
    if config.tls_certfile is None and config.tls_keyfile is None:
        return None
    if config.tls_certfile is None:
        raise RegistrySetupError("a registry TLS key is given without its certificate (--tls-cert)")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(config.tls_certfile, config.tls_keyfile)
    except (OSError, ssl.SSLError) as error:
        raise RegistrySetupError(
            f"cannot load the registry TLS certificate {config.tls_certfile} "
            f"and key {config.tls_keyfile}: {error}"
        ) from error
    return context


def _peer_tls(settings: Settings) -> ssl.SSLContext | None:
    """How to verify the primary's certificate when forwarding: the registry CA, if set."""
    if settings.registry_cafile is None:
        return None
    return ssl.create_default_context(cafile=str(settings.registry_cafile))


def _public_host(host: str) -> str:
    """A host name others can reach when listening on every interface."""
    return socket.gethostname() if host in ("", "0.0.0.0", "::") else host  # noqa: S104
