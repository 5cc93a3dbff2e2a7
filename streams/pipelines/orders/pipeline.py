"""The flagship order pipeline: clean -> format -> validate -> enrich."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from schemas.records import (
    CleanOrder,
    EnrichedOrder,
    FormattedOrder,
    InvalidOrder,
    RawOrder,
    ValidOrder,
)
from streams.pipeline import Pipeline, TopicSpec
from streams.pipelines.orders.rules import (
    CustomerFacts,
    clean_order,
    enrich_order,
    format_order,
    validate_order,
)
from streams.settings import Guarantee

__all__ = ["TOPICS", "orders_pipeline"]

TOPICS = ("raw", "clean", "formatted", "valid", "invalid", "enriched")


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _validated_key(order: ValidOrder | InvalidOrder) -> str:
    """Valid orders are keyed by customer (the enrich join's key); invalid ones by order id."""
    if isinstance(order, ValidOrder):
        return order.customer_id
    return str(order.order.order_id)


def orders_pipeline(
    customers: Mapping[str, CustomerFacts],
    *,
    prefix: str = "orders",
    name: str = "orders",
    guarantee: Guarantee = "at-least-once",
    partitions: int = 2,
    clock: Callable[[], datetime] = _utc_now,
) -> Pipeline:
    """The pipeline on topics ``<prefix>.raw`` ... ``<prefix>.enriched``.

    ``customers`` is the plain lookup the enrich stage uses until the customers table (a
    fan-in) replaces it; ``clock`` is injectable so tests are deterministic.
    """
    topic = {part: f"{prefix}.{part}" for part in TOPICS}
    pipeline = Pipeline(
        name,
        guarantee=guarantee,
        default_partitions=partitions,
        topics=[TopicSpec(topic["raw"], RawOrder, partitions, external=True)],
    )

    @pipeline.stage(
        "clean",
        inputs=topic["raw"],
        input_type=RawOrder,
        outputs={topic["clean"]: CleanOrder},
        key=lambda order: order.order_id,
    )
    async def clean(order: RawOrder) -> CleanOrder:
        return clean_order(order)

    @pipeline.stage(
        "format",
        inputs=topic["clean"],
        input_type=CleanOrder,
        outputs={topic["formatted"]: FormattedOrder},
    )
    async def format_(order: CleanOrder) -> FormattedOrder:
        return format_order(order)

    @pipeline.stage(
        "validate",
        inputs=topic["formatted"],
        input_type=FormattedOrder,
        outputs={topic["valid"]: ValidOrder, topic["invalid"]: InvalidOrder},
        key=_validated_key,
    )
    async def validate(order: FormattedOrder) -> ValidOrder | InvalidOrder:
        return validate_order(order, clock())

    @pipeline.stage(
        "enrich",
        inputs=topic["valid"],
        input_type=ValidOrder,
        outputs={topic["enriched"]: EnrichedOrder},
    )
    async def enrich(order: ValidOrder) -> EnrichedOrder:
        return enrich_order(order, customers.get(order.customer_id), clock())

    return pipeline
