"""The flagship order pipeline: clean -> format -> validate -> enrich -> revenue, totals,
and the parallel order checks (scatter-gather) that release orders.

``enrich`` joins each valid order with the ``customers`` table (a global table on a
compacted topic); ``revenue`` folds enriched orders into revenue and order count per
region and currency per minute of order time (tumbling windows, emitted once closed), and
``totals`` keeps every customer's running totals (emitted on every order).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from schemas.records import (
    CleanOrder,
    Customer,
    CustomerTotals,
    EnrichedOrder,
    FormattedOrder,
    InvalidOrder,
    RawOrder,
    RegionRevenue,
    ValidOrder,
)
from streams.orders.checks import add_order_checks
from streams.orders.rules import (
    clean_order,
    enrich_order,
    format_order,
    validate_order,
)
from streamworks import (
    Combine,
    Count,
    GlobalTable,
    Guarantee,
    Max,
    OnMissing,
    Pipeline,
    Sum,
    TopicSpec,
    Tumbling,
    Window,
)

__all__ = ["REVENUE_GRACE_S", "REVENUE_WINDOW_S", "TOPICS", "orders_pipeline"]

TOPICS = ("raw", "clean", "formatted", "valid", "invalid", "enriched", "customers")
METRICS = ("revenue", "customers")
REVENUE_WINDOW_S = 60
"""Revenue windows are one minute of order time unless told otherwise."""
REVENUE_GRACE_S = 30
"""How long after a window ends its late orders still count, unless told otherwise."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _validated_key(order: ValidOrder | InvalidOrder) -> str:
    """Valid orders are keyed by customer (the enrich join's key); invalid ones by order id."""
    if isinstance(order, ValidOrder):
        return order.customer_id
    return str(order.order.order_id)


def _millis(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def _region_revenue(key: str, window: Window | None, result: dict[str, Any]) -> RegionRevenue:
    assert window is not None  # noqa: S101 - a windowed aggregation
    region, currency = key.split("/", 1)
    return RegionRevenue(
        region=region,
        currency=currency,
        window_start=datetime.fromtimestamp(window.start_ms / 1000, UTC),
        window_end=datetime.fromtimestamp(window.end_ms / 1000, UTC),
        revenue_cents=result["revenue"],
        order_count=result["orders"],
    )


def _customer_totals(key: str, window: Window | None, result: dict[str, Any]) -> CustomerTotals:
    return CustomerTotals(
        customer_id=key,
        order_count=result["orders"],
        revenue_cents=result["revenue"],
        last_order_at=datetime.fromtimestamp(result["last"] / 1000, UTC),
    )


def orders_pipeline(
    *,
    prefix: str = "orders",
    name: str = "orders",
    guarantee: Guarantee = "at-least-once",
    partitions: int = 2,
    clock: Callable[[], datetime] = _utc_now,
    missing_customer: OnMissing = OnMissing.DEFAULT,
    close_when_idle: float | None = 5.0,
    revenue_window: float = REVENUE_WINDOW_S,
    revenue_grace: float = REVENUE_GRACE_S,
) -> Pipeline:
    """The pipeline on topics ``<prefix>.raw`` ... ``<prefix>.enriched`` and the metrics
    topics ``<prefix>.metrics.revenue`` and ``<prefix>.metrics.customers``.

    ``<prefix>.customers`` (compacted, written by whoever owns customer data) feeds the
    customers table; an order whose customer is missing follows ``missing_customer`` (by
    default it is enriched with tier and region UNKNOWN). ``clock`` is injectable so tests
    are deterministic; ``close_when_idle`` lets a quiet pipeline still close its revenue
    windows on the wall clock. Revenue windows are ``revenue_window`` seconds of order
    time, with ``revenue_grace`` seconds of grace.
    """
    topic = {part: f"{prefix}.{part}" for part in TOPICS}
    metric = {part: f"{prefix}.metrics.{part}" for part in METRICS}
    pipeline = Pipeline(
        name,
        guarantee=guarantee,
        default_partitions=partitions,
        topics=[
            TopicSpec(topic["raw"], RawOrder, partitions, external=True),
            TopicSpec(
                topic["customers"],
                Customer,
                partitions,
                external=True,
                config={"cleanup.policy": "compact"},
            ),
        ],
    )
    customers = GlobalTable(topic["customers"], Customer, on_missing=missing_customer)

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
        tables=(customers,),
    )
    async def enrich(order: ValidOrder) -> EnrichedOrder:
        customer = customers.join(order.customer_id)
        facts = None if customer is None else (customer.tier, customer.region)
        return enrich_order(order, facts, clock())

    pipeline.aggregate(
        "revenue",
        inputs=topic["enriched"],
        input_type=EnrichedOrder,
        key=lambda order: f"{order.region}/{order.currency}",
        aggregator=Combine({"revenue": Sum(of=lambda o: o.amount_cents), "orders": Count()}),
        window=Tumbling(revenue_window, grace=revenue_grace),
        mode="final",
        event_time=lambda order: order.ordered_at,
        output=metric["revenue"],
        output_type=RegionRevenue,
        emit=_region_revenue,
        close_when_idle=close_when_idle,
    )
    pipeline.aggregate(
        "totals",
        inputs=topic["enriched"],
        input_type=EnrichedOrder,
        key=lambda order: order.customer_id,
        aggregator=Combine(
            {
                "orders": Count(),
                "revenue": Sum(of=lambda o: o.amount_cents),
                "last": Max(of=lambda o: _millis(o.ordered_at)),
            }
        ),
        output=metric["customers"],
        output_type=CustomerTotals,
        emit=_customer_totals,
        repartition=False,  # enriched orders are keyed by customer already
    )
    add_order_checks(pipeline, enriched=topic["enriched"], prefix=prefix, clock=clock)
    return pipeline
