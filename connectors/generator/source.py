"""The generator source: the demo's and the benchmarks' load, resumable by count.

Its one position is how many orders it has produced. The orders are a pure function of the
seed, so a restarted generator regenerates and skips that many, then goes on: with
exactly-once the topic holds each generated order once, however often it was restarted.
"""

from __future__ import annotations

import asyncio
import time

from connectors.generator.config import GeneratorConfig
from streams.orders.generator import OrderGenerator
from streamworks.connectors.base.records import SourceRecord
from streamworks.connectors.base.source import Source, SourceContext

__all__ = ["GeneratorSource"]

_PARTITION = "orders"


class GeneratorSource(Source):
    """Produces ``config.count`` orders (or forever) in steps of ``config.batch``."""

    def __init__(self, config: GeneratorConfig) -> None:
        super().__init__(config.name)
        self.config = config

    async def run(self, context: SourceContext) -> None:
        """Produce until the count is reached or the worker drains."""
        c = self.config
        done = int((context.position(_PARTITION) or {}).get("produced", 0))
        generator = OrderGenerator(
            c.seed, c.customers, mix=(c.dirty, c.invalid, c.unparseable)
        ).orders(c.count if c.count is not None else 2**62)
        for _ in range(done):  # the same seed replays the same orders: skip those produced
            next(generator)
        started, base = time.monotonic(), done
        while not context.stopping.is_set() and (c.count is None or done < c.count):
            size = c.batch if c.count is None else min(c.batch, c.count - done)
            records = [
                SourceRecord(c.topic, order.to_avro(), key=order.order_id, location=f"order {n}")
                for n, order in zip(range(done, done + size), generator, strict=False)
            ]
            if not records:
                break
            done += len(records)
            await context.send(records, partition=_PARTITION, position={"produced": done})
            if c.rate is not None:  # hold the rate: sleep until this step's due time
                due = started + (done - base) / c.rate
                delay = due - time.monotonic()
                if delay > 0:
                    try:
                        await asyncio.wait_for(context.stopping.wait(), timeout=delay)
                    except TimeoutError:
                        pass
