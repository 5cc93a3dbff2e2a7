"""Builders of the flagship's enriched orders and customer totals, for the chaos suite's app."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from schemas.records import CustomerTotals, EnrichedOrder, Tier, WindowCount
from streamworks.pipeline import Combine, Count, Max, Sum, Window

EPOCH = datetime(2026, 11, 27, tzinfo=UTC)
EPOCH_MS = round(EPOCH.timestamp() * 1000)


def at(ms: int) -> datetime:
    """EPOCH plus ``ms`` milliseconds."""
    return datetime.fromtimestamp((EPOCH_MS + ms) / 1000, UTC)


def order(
    number: int, customer: str, at_ms: int, *, amount: int = 100, region: str = "EU"
) -> EnrichedOrder:
    """An enriched order ``at_ms`` after EPOCH."""
    return EnrichedOrder(
        order_id=uuid.UUID(int=number),
        customer_id=customer,
        sku="SKU-1",
        quantity=1,
        amount_cents=amount,
        currency="EUR",
        ordered_at=at(at_ms),
        received_at=at(at_ms),
        customer_tier=Tier.GOLD,
        region=region,
        enriched_at=at(at_ms),
    )


def ordered_at(record: EnrichedOrder) -> datetime:
    """The event time of an order."""
    return record.ordered_at


def window_count(key: str, window: Window | None, count: Any) -> WindowCount:
    """A WindowCount output."""
    assert window is not None
    return WindowCount(
        key=key,
        window_start=datetime.fromtimestamp(window.start_ms / 1000, UTC),
        window_end=datetime.fromtimestamp(window.end_ms / 1000, UTC),
        count=int(count),
    )


def customer_totals() -> Combine:
    """Orders, revenue and the last order time per customer: what :func:`totals` emits."""
    return Combine(
        {
            "orders": Count(),
            "revenue": Sum(of=lambda o: o.amount_cents),
            "last": Max(of=lambda o: round(o.ordered_at.timestamp() * 1000)),
        }
    )


def totals(key: str, window: Window | None, result: dict[str, Any]) -> CustomerTotals:
    """A CustomerTotals output from Combine(orders=Count, revenue=Sum, last=Max)."""
    return CustomerTotals(
        customer_id=key,
        order_count=result["orders"],
        revenue_cents=result["revenue"],
        last_order_at=datetime.fromtimestamp(result["last"] / 1000, UTC),
    )
