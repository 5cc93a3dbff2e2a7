"""The pipeline the chaos scenarios break, run by worker processes as ``tests.chaos.app:build``.

``<name>.in`` (enriched orders keyed by customer) -> ``tag`` (a pass-through, several
records in flight per worker) -> ``<name>.tagged`` -> ``totals`` (running totals per
customer) -> ``<name>.totals``. Every hop is a consumer group, a producer and, under
exactly-once, a transaction, so a fault anywhere shows up in what the checker reads.

The environment names the copy: ``CHAOS_NAME`` (topics, groups), ``CHAOS_PARTITIONS``
(default 4) and ``STREAMWORKS_GUARANTEE``. An order of ``SLOW_CENTS`` takes ``SLOW_S``
seconds in ``tag``: the record still in flight when the rebalance storm kills its worker.
An order of ``ABORT_CENTS`` aborts ``tag``'s process (the crash-loop scenario's poison).
"""

from __future__ import annotations

import asyncio
import os

from schemas.records import CustomerTotals, EnrichedOrder
from streamworks.core.settings import Settings
from streamworks.pipeline.graph import Pipeline, TopicSpec
from tests.unit.streams.aggregation_helpers import customer_totals, totals

__all__ = ["ABORT_CENTS", "SLOW_CENTS", "SLOW_S", "build", "chaos_pipeline"]

SLOW_CENTS = 1
"""Amount that marks the slow order."""
SLOW_S = 8.0
"""How long ``tag`` takes for it: long enough to kill its worker while it is in flight."""
ABORT_CENTS = 0
"""Amount (no generated order has it) that makes ``tag``'s process abort on the order, as a
C extension's segfault would kill it: no exception, no dead letter, the worker is gone."""


def chaos_pipeline(name: str, *, partitions: int = 4, guarantee: str = "exactly-once") -> Pipeline:
    """The chaos pipeline on ``<name>.*`` topics."""
    pipeline = Pipeline(
        name,
        guarantee="exactly-once" if guarantee == "exactly-once" else "at-least-once",
        topics=[TopicSpec(f"{name}.in", EnrichedOrder, partitions, external=True)],
        default_partitions=partitions,
    )

    @pipeline.stage(
        "tag",
        inputs=f"{name}.in",
        input_type=EnrichedOrder,
        outputs={f"{name}.tagged": EnrichedOrder},
        concurrency=4,
    )
    async def tag(order: EnrichedOrder) -> EnrichedOrder:
        if order.amount_cents == SLOW_CENTS:
            await asyncio.sleep(SLOW_S)  # an outside call that hangs
        if order.amount_cents == ABORT_CENTS:
            os.abort()
        return order

    pipeline.aggregate(
        "totals",
        inputs=f"{name}.tagged",
        input_type=EnrichedOrder,
        key=lambda o: o.customer_id,
        aggregator=customer_totals(),
        output=f"{name}.totals",
        output_type=CustomerTotals,
        emit=totals,
        repartition=False,  # tagged is keyed by customer already
    )
    return pipeline


def build() -> Pipeline:
    """:func:`chaos_pipeline` as the environment names it."""
    return chaos_pipeline(
        os.environ["CHAOS_NAME"],
        partitions=int(os.environ.get("CHAOS_PARTITIONS", "4")),
        guarantee=Settings().guarantee,
    )
