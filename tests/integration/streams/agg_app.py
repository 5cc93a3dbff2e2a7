"""Small aggregation pipelines the fan-in tests run, in-process or as worker processes.

Worker processes load them by reference (``tests.integration.streams.agg_app:windows``),
named by the environment so each test gets its own topics and groups.
"""

from __future__ import annotations

import os

from schemas.records import CustomerTotals, EnrichedOrder, WindowCount
from streamworks.pipeline import Count, Tumbling
from streamworks.pipeline.graph import Pipeline, TopicSpec
from tests.unit.streams.aggregation_helpers import customer_totals, totals, window_count

__all__ = ["WINDOW_S", "totals_pipeline", "windows", "windows_pipeline"]

WINDOW_S = 10
"""Size of the windows of :func:`windows_pipeline`."""


def totals_pipeline(name: str) -> Pipeline:
    """Running totals per customer of ``<name>.in``, exactly-once, to ``<name>.out``."""
    pipeline = Pipeline(
        name,
        guarantee="exactly-once",
        topics=[TopicSpec(f"{name}.in", EnrichedOrder, 2, external=True)],
    )
    pipeline.aggregate(
        "totals",
        inputs=f"{name}.in",
        input_type=EnrichedOrder,
        key=lambda o: o.customer_id,
        aggregator=customer_totals(),
        output=f"{name}.out",
        output_type=CustomerTotals,
        emit=totals,
    )
    return pipeline


def windows_pipeline(name: str, *, standby: bool = False) -> Pipeline:
    """Orders per customer per ``WINDOW_S`` seconds of order time, final results only.

    The input is keyed by customer already (no repartition); windows of a quiet partition
    close on the wall clock after 2 s, so the last ones are emitted too.
    """
    pipeline = Pipeline(
        name,
        guarantee="exactly-once",
        topics=[TopicSpec(f"{name}.in", EnrichedOrder, 2, external=True)],
    )
    pipeline.aggregate(
        "windows",
        inputs=f"{name}.in",
        input_type=EnrichedOrder,
        key=lambda o: o.customer_id,
        aggregator=Count(),
        window=Tumbling(WINDOW_S),
        mode="final",
        event_time=lambda o: o.ordered_at,
        output=f"{name}.out",
        output_type=WindowCount,
        emit=window_count,
        repartition=False,
        close_when_idle=2.0,
        standby=standby,
    )
    return pipeline


def windows() -> Pipeline:
    """:func:`windows_pipeline` named by ``AGG_TEST_NAME``, standby per ``AGG_TEST_STANDBY``."""
    return windows_pipeline(
        os.environ["AGG_TEST_NAME"], standby=os.environ.get("AGG_TEST_STANDBY") == "1"
    )
