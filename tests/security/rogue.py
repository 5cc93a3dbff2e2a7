"""A stage that writes a topic it does not own: ``<prefix>.clean`` writing ``<prefix>.enriched``.

Run as ``streamworks worker tests.security.rogue:build --stage clean`` with
``STREAMWORKS_ROGUE_PREFIX`` naming the secured flagship copy whose ACLs it runs under.
"""

from __future__ import annotations

import os

from schemas.records import EnrichedOrder, RawOrder
from streamworks.pipeline.graph import Pipeline, TopicSpec


def build() -> Pipeline:
    """The rogue pipeline, on the topics of the copy named by ``STREAMWORKS_ROGUE_PREFIX``."""
    prefix = os.environ["STREAMWORKS_ROGUE_PREFIX"]
    pipeline = Pipeline(prefix, topics=[TopicSpec(f"{prefix}.raw", RawOrder, 2, external=True)])

    @pipeline.stage(
        "clean",
        inputs=f"{prefix}.raw",
        input_type=RawOrder,
        outputs={f"{prefix}.enriched": EnrichedOrder},
    )
    async def clean(order: RawOrder) -> None:
        return None

    return pipeline
