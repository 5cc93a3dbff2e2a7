"""A pipeline with one slow stage, for the autoscaling test.

``slow`` awaits 20 ms per record, one record at a time, like a call to an outside service:
one worker handles about 50 records a second. ``STREAMWORKS_SLOW_PREFIX`` names the topics
and the pipeline, so tests run isolated copies.
"""

from __future__ import annotations

import asyncio
import os

from schemas.records import CleanOrder, RawOrder
from streams.orders import clean_order
from streamworks.pipeline.graph import Pipeline, TopicSpec

__all__ = ["PARTITIONS", "SECONDS_PER_RECORD", "build"]

PARTITIONS = 4
SECONDS_PER_RECORD = 0.02


def build() -> Pipeline:
    """``<prefix>.in`` -> slow -> ``<prefix>.out``."""
    prefix = os.environ.get("STREAMWORKS_SLOW_PREFIX", "slow")
    pipeline = Pipeline(
        prefix,
        topics=[TopicSpec(f"{prefix}.in", RawOrder, partitions=PARTITIONS, external=True)],
        default_partitions=PARTITIONS,
    )

    @pipeline.stage(
        "slow",
        inputs=f"{prefix}.in",
        input_type=RawOrder,
        outputs={f"{prefix}.out": CleanOrder},
        concurrency=1,
    )
    async def slow(order: RawOrder) -> CleanOrder | None:
        await asyncio.sleep(SECONDS_PER_RECORD)  # the outside service's answer time
        return clean_order(order)

    return pipeline
