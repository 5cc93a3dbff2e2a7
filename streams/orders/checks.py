"""Order checks run in parallel before an order is released: a scatter-gather.

``checks`` scatters each enriched order to three request topics; the ``stock``, ``fraud``
and ``shipping`` stages stand in for three services and answer on one results topic keyed
by order id; ``release`` gathers the answers per order and decides. The shipping service
has no carrier for orders whose region is unknown and simply does not answer them: those
orders are decided at the deadline, partial, with shipping named as missing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from uuid import UUID

from schemas.records import CheckResult, EnrichedOrder, OrderRelease, Tier
from streamworks import Gathered, Pipeline, To

__all__ = ["CHECKS", "add_order_checks", "fraud_check", "shipping_check", "stock_check"]

CHECKS = ("stock", "fraud", "shipping")
STOCK_PER_ORDER = 4
"""The stock service can promise at most this many items of a SKU per order."""
FRAUD_LIMIT_CENTS = 40_000
"""Orders above this need a GOLD customer to pass the fraud check."""
_SHIPPING_CENTS = {"EU-WEST": 490, "EU-NORTH": 590, "US-EAST": 690, "US-WEST": 690, "APAC": 990}


def stock_check(order: EnrichedOrder, now: datetime) -> CheckResult:
    """Passes while the quantity is within what the warehouse promises per order."""
    passed = order.quantity <= STOCK_PER_ORDER
    detail = f"{order.quantity} of {order.sku}" + ("" if passed else " exceeds stock")
    return CheckResult(order.order_id, "stock", passed, now, detail)


def fraud_check(order: EnrichedOrder, now: datetime) -> CheckResult:
    """Large orders pass only for GOLD customers."""
    passed = order.amount_cents <= FRAUD_LIMIT_CENTS or order.customer_tier is Tier.GOLD
    return CheckResult(order.order_id, "fraud", passed, now, f"{order.amount_cents} cents")


def shipping_check(order: EnrichedOrder, now: datetime) -> CheckResult | None:
    """A quote per region; no answer at all for a region without a carrier."""
    cents = _SHIPPING_CENTS.get(order.region)
    if cents is None:
        return None
    return CheckResult(order.order_id, "shipping", True, now, f"quote {cents} cents")


def _decide(now: Callable[[], datetime]) -> Callable[[str, Gathered], OrderRelease]:
    def decide(order_id: str, gathered: Gathered) -> OrderRelease:
        failed = tuple(sorted(name for name, (passed, _) in gathered.answers.items() if not passed))
        return OrderRelease(
            order_id=UUID(order_id),
            released=gathered.complete and not failed,
            complete=gathered.complete,
            decided_at=now(),
            failed=failed,
            missing=gathered.missing,
            details=tuple(
                f"{name}: {detail}" for name, (_, detail) in sorted(gathered.answers.items())
            ),
        )

    return decide


def add_order_checks(
    pipeline: Pipeline,
    *,
    enriched: str,
    prefix: str,
    clock: Callable[[], datetime],
    timeout: float = 5.0,
) -> None:
    """Add ``checks``, one stage per check, and the ``release`` gather to ``pipeline``."""
    requests = {name: f"{prefix}.checks.{name}" for name in CHECKS}
    results = f"{prefix}.checks.results"

    @pipeline.stage(
        "checks",
        inputs=enriched,
        input_type=EnrichedOrder,
        outputs={topic: EnrichedOrder for topic in requests.values()},
    )
    async def scatter(order: EnrichedOrder) -> list[To]:
        return [To(topic, order) for topic in requests.values()]

    services = {"stock": stock_check, "fraud": fraud_check, "shipping": shipping_check}
    for name, check in services.items():
        _add_check(
            pipeline, name, check=check, requests=requests[name], results=results, clock=clock
        )

    pipeline.gather(
        "release",
        inputs=results,
        input_type=CheckResult,
        correlation=lambda result: str(result.order_id),
        answer=lambda result: result.check,
        value=lambda result: [result.passed, result.detail],
        expected=CHECKS,
        timeout=timeout,
        output=f"{prefix}.released",
        output_type=OrderRelease,
        emit=_decide(clock),
        repartition=False,  # every check answers keyed by order id
    )


def _add_check(
    pipeline: Pipeline,
    name: str,
    *,
    check: Callable[[EnrichedOrder, datetime], CheckResult | None],
    requests: str,
    results: str,
    clock: Callable[[], datetime],
) -> None:
    @pipeline.stage(
        name,
        inputs=requests,
        input_type=EnrichedOrder,
        outputs={results: CheckResult},
        key=lambda result: str(result.order_id),
    )
    async def answer(order: EnrichedOrder) -> CheckResult | None:
        return check(order, clock())
