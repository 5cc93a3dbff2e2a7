"""How the demo's orders reach the platform: NDJSON posted to the HTTP ingest and CSV
files dropped into the file source's inbox, at a steady pace, as outside systems would."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import aiohttp

from schemas.records import RawOrder
from streams.orders import orders_as_csv
from streamworks import StreamworksError
from streamworks.connectors.base.documents import to_json

__all__ = ["OrderFeed"]

_TICK_S = 0.1
_RETRIES = 50


class OrderFeed:
    """Sends the orders in chunks, one every tenth of a second, alternating the way in:
    one chunk is posted to the HTTP ingest as NDJSON, the next is dropped as a CSV file."""

    def __init__(self, orders: Sequence[RawOrder], *, url: str, inbox: Path, rate: int) -> None:
        self._url = url
        self._inbox = inbox
        per_tick = max(1, int(rate * _TICK_S))
        self._chunks = [
            [replace(o, source="http" if n % 2 == 0 else "file") for o in orders[i : i + per_tick]]
            for n, i in enumerate(range(0, len(orders), per_tick))
        ]
        self.posted = 0
        """Orders accepted by the HTTP ingest (202)."""
        self.filed = 0
        """Orders written to CSV files in the inbox."""
        self.total = len(orders)

    @property
    def done(self) -> bool:
        """True once every order was posted or filed."""
        return self.posted + self.filed == self.total

    async def run(self) -> None:
        """Send a chunk every tick until all are out."""
        async with aiohttp.ClientSession() as session:
            started = time.monotonic()
            for tick, chunk in enumerate(self._chunks):
                if tick % 2 == 0:
                    await self._post(session, chunk)
                else:
                    self._drop(chunk)
                delay = started + (tick + 1) * _TICK_S - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)

    async def _post(self, session: aiohttp.ClientSession, orders: list[RawOrder]) -> None:
        body = "".join(to_json(o.to_avro()) + "\n" for o in orders)
        for _ in range(_RETRIES):
            async with session.post(
                self._url, data=body, headers={"Content-Type": "application/x-ndjson"}
            ) as response:
                if response.status == 202:  # noqa: PLR2004 - Accepted
                    self.posted += len(orders)
                    return
                if response.status not in (429, 503):
                    text = await response.text()
                    raise StreamworksError(
                        f"the HTTP ingest refused demo orders: {response.status} {text[:300]}"
                    )
                await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
        raise StreamworksError(f"the HTTP ingest at {self._url} stayed busy; gave up")

    def _drop(self, orders: list[RawOrder]) -> None:
        """Write a CSV file under a temporary name, then rename it: the source sees it whole."""
        self._inbox.mkdir(parents=True, exist_ok=True)
        name = f"orders-{self.filed + self.posted:08d}.csv"
        partial = self._inbox / f".{name}.part"
        partial.write_text(orders_as_csv(orders), encoding="utf-8")
        partial.rename(self._inbox / name)
        self.filed += len(orders)
