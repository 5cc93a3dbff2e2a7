"""What the demo starts besides the pipeline: PostgreSQL, and the connect worker process."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from rich.console import Console

from streamworks import StreamworksError
from streamworks.connectors.postgres.local import LocalPostgres

__all__ = [
    "INGEST_FILE",
    "REVENUE_TABLE",
    "SINKS_FILE",
    "ConnectProcess",
    "PostgresTables",
    "Rows",
    "ensure_postgres",
    "free_port",
]

_CONNECTORS = Path(__file__).resolve().parents[2] / "connectors"
INGEST_FILE = _CONNECTORS / "ingest.yaml"
"""The flagship's sources: the HTTP ingest and the file inbox."""
SINKS_FILE = _CONNECTORS / "sinks.yaml"
"""The flagship's sinks: enriched orders and revenue into PostgreSQL."""
_READY_TIMEOUT_S = 60.0
_DRAIN_TIMEOUT_S = 45.0

console = Console()


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def ensure_postgres(stack: ExitStack) -> str:
    """``$STREAMWORKS_POSTGRES_URL``, or a throwaway local cluster stopped with ``stack``."""
    url = os.environ.get("STREAMWORKS_POSTGRES_URL")
    if url:
        return url
    server = LocalPostgres()
    with console.status("starting a throwaway PostgreSQL"):
        seconds = server.start()
    stack.callback(server.cleanup)
    console.print(f"PostgreSQL ready in {seconds:.1f}s at {server.url} (removed at the end)")
    return server.url


class ConnectProcess:
    """``streamworks connect FILE`` as a child process, its output in ``log``."""

    def __init__(self, config: Path, env: dict[str, str], log: Path) -> None:
        self._config = config
        self._env = {**os.environ, **env}
        self._log = log
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the worker."""
        self._log.parent.mkdir(parents=True, exist_ok=True)
        with self._log.open("wb") as out:
            self._process = subprocess.Popen(  # noqa: S603 - our own CLI, no shell
                [sys.executable, "-m", "streamworks", "connect", str(self._config)],
                env=self._env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def check(self) -> None:
        """Fail with the end of its log if the worker died."""
        if self._process is not None and self._process.poll() is not None:
            tail = self._log.read_text(errors="replace").strip().splitlines()[-5:]
            raise StreamworksError(
                f"the connect worker exited with {self._process.returncode}: " + " | ".join(tail)
            )

    async def wait_ready(self, health_url: str) -> None:
        """Wait until the HTTP ingest answers its health check."""
        deadline = time.monotonic() + _READY_TIMEOUT_S
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                self.check()
                try:
                    async with session.get(health_url) as response:
                        if response.status == 200:  # noqa: PLR2004 - OK
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.2)
        raise StreamworksError(f"the HTTP ingest did not answer {health_url} in time")

    def stop(self) -> None:
        """SIGTERM: the worker drains, commits and exits."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=_DRAIN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


REVENUE_TABLE = "revenue_windows"
"""The table the revenue sink writes (connectors/sinks.yaml)."""


@dataclass(frozen=True)
class Rows:
    """What the demo's PostgreSQL tables hold."""

    orders: int = 0
    """Rows of the orders table (enriched orders, one per order id)."""
    order_cents: int = 0
    """Sum of their amounts."""
    windows: int = 0
    """Rows of revenue_windows (one per region, currency and window)."""
    window_cents: int = 0
    """Sum of their revenue."""


class PostgresTables:
    """Counts the rows the sinks wrote into one schema."""

    def __init__(self, url: str, schema: str) -> None:
        self._url = url
        self._schema = schema

    async def count(self) -> Rows:
        """Rows and totals now; zeros while the tables do not exist yet."""
        from psycopg import sql  # noqa: PLC0415 - optional: pip install 'streamworks[postgres]'

        rows = await self._select(
            "SELECT (SELECT count(*) FROM {o}), (SELECT coalesce(sum(amount_cents), 0) FROM {o}),"
            " (SELECT count(*) FROM {r}), (SELECT coalesce(sum(revenue_cents), 0) FROM {r})",
            o=sql.Identifier(self._schema, "orders"),
        )
        return Rows(*(int(v) for v in rows[0])) if rows else Rows()

    async def revenue(self) -> dict[tuple[str, str, int], tuple[int, int]]:
        """(region, currency, window start ms) -> (revenue cents, orders) of every row."""
        rows = await self._select(
            "SELECT region, currency, window_start, revenue_cents, order_count FROM {r}"
        )
        return {
            (region, currency, round(start.timestamp() * 1000)): (int(cents), int(count))
            for region, currency, start, cents, count in rows
        }

    async def _select(self, text: str, **tables: Any) -> list[tuple[Any, ...]]:
        """The rows of ``text`` (``{r}`` is the revenue table); none while a table is missing."""
        import psycopg  # noqa: PLC0415 - optional: pip install 'streamworks[postgres]'
        from psycopg import sql  # noqa: PLC0415

        query = sql.SQL(text).format(r=sql.Identifier(self._schema, REVENUE_TABLE), **tables)
        try:
            async with await psycopg.AsyncConnection.connect(self._url) as connection:
                return await (await connection.execute(query)).fetchall()
        except psycopg.errors.UndefinedTable:
            return []
        except psycopg.OperationalError as error:
            raise StreamworksError(f"cannot read the demo's tables: {error}") from error
