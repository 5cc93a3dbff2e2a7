"""The business rules of the order pipeline, as plain functions (no Kafka, no I/O)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

from schemas.records import (
    CleanOrder,
    EnrichedOrder,
    FormattedOrder,
    InvalidOrder,
    RawOrder,
    Tier,
    ValidOrder,
)

__all__ = [
    "CURRENCIES",
    "NIL_ORDER_ID",
    "CustomerFacts",
    "clean_order",
    "enrich_order",
    "format_order",
    "validate_order",
]

CURRENCIES = frozenset({"EUR", "USD", "GBP", "SEK", "CHF", "JPY"})
NIL_ORDER_ID = uuid.UUID(int=0)
MAX_QUANTITY = 1_000
MAX_AMOUNT_CENTS = 100_000_000
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
CLOCK_SKEW = timedelta(minutes=5)
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_EPOCH_MILLIS_DIGITS = 12


def _text(value: str | None) -> str | None:
    if value is None:
        return None
    stripped = value.strip()
    return stripped or None


def clean_order(raw: RawOrder) -> CleanOrder:
    """Trim text, turn empty text into null, normalise case and the decimal separator."""
    currency = _text(raw.currency)
    sku = _text(raw.sku)
    amount = _text(raw.amount)
    return CleanOrder(
        order_id=(raw.order_id.strip().lower()),
        customer_id=_text(raw.customer_id),
        sku=sku.upper() if sku else None,
        quantity=_text(raw.quantity),
        amount=amount.replace(",", ".") if amount else None,
        currency=currency.upper() if currency else None,
        ordered_at=_text(raw.ordered_at),
        source=raw.source,
        received_at=raw.received_at,
    )


def _parse_time(text: str) -> datetime:
    if text.isdigit():
        number = int(text)
        seconds = number / 1000 if len(text) >= _EPOCH_MILLIS_DIGITS else number
        return datetime.fromtimestamp(seconds, tz=UTC)
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _cents(text: str) -> int | None:
    """Exact cents of a decimal text, or None when it is not one with at most 2 decimals."""
    try:
        cents = Decimal(text) * 100
    except InvalidOperation:
        return None
    if not cents.is_finite() or cents != cents.to_integral_value():
        return None
    return int(cents)


def format_order(clean: CleanOrder) -> FormattedOrder:
    """Parse text into types; each field that fails is null and explained in format_errors."""
    errors: list[str] = []
    try:
        order_id = uuid.UUID(clean.order_id)
    except ValueError:
        order_id = NIL_ORDER_ID
        errors.append(f"order_id {clean.order_id!r} is not a UUID")
    quantity = None
    if clean.quantity is not None:
        try:
            quantity = int(clean.quantity)
        except ValueError:
            errors.append(f"quantity {clean.quantity!r} is not a whole number")
    amount_cents = _cents(clean.amount) if clean.amount is not None else None
    if clean.amount is not None and amount_cents is None:
        errors.append(f"amount {clean.amount!r} is not a number with at most two decimals")
    ordered_at = None
    if clean.ordered_at is not None:
        try:
            ordered_at = _parse_time(clean.ordered_at)
        except (ValueError, OverflowError, OSError):
            errors.append(f"ordered_at {clean.ordered_at!r} is not a time")
    currency = clean.currency
    if currency is not None and not _CURRENCY.match(currency):
        errors.append(f"currency {currency!r} is not a three-letter code")
        currency = None
    return FormattedOrder(
        order_id=order_id,
        customer_id=clean.customer_id,
        sku=clean.sku,
        quantity=quantity,
        amount_cents=amount_cents,
        currency=currency,
        ordered_at=ordered_at,
        source=clean.source,
        received_at=clean.received_at,
        format_errors=tuple(errors),
    )


def validate_order(order: FormattedOrder, now: datetime) -> ValidOrder | InvalidOrder:
    """A ValidOrder when every rule holds, else an InvalidOrder listing every broken rule."""
    broken = list(order.format_errors)
    if order.customer_id is None:
        broken.append("customer_id is missing")
    if order.sku is None:
        broken.append("sku is missing")
    if order.quantity is None:
        broken.append("quantity is missing")
    elif not 1 <= order.quantity <= MAX_QUANTITY:
        broken.append(f"quantity must be between 1 and {MAX_QUANTITY}, got {order.quantity}")
    if order.amount_cents is None:
        broken.append("amount is missing")
    elif not 0 < order.amount_cents <= MAX_AMOUNT_CENTS:
        broken.append(
            f"amount must be positive and at most 1,000,000, got {order.amount_cents / 100}"
        )
    if order.currency is None:
        broken.append("currency is missing")
    elif order.currency not in CURRENCIES:
        broken.append(f"currency {order.currency} is not accepted")
    if order.ordered_at is None:
        broken.append("ordered_at is missing")
    elif not EARLIEST <= order.ordered_at <= now + CLOCK_SKEW:
        broken.append(f"ordered_at {order.ordered_at.isoformat()} is not a plausible order time")
    if (
        broken
        or order.customer_id is None
        or order.sku is None
        or order.quantity is None
        or order.amount_cents is None
        or order.currency is None
        or order.ordered_at is None
    ):
        return InvalidOrder(order=order, violations=tuple(broken), rejected_at=now)
    return ValidOrder(
        order_id=order.order_id,
        customer_id=order.customer_id,
        sku=order.sku,
        quantity=order.quantity,
        amount_cents=order.amount_cents,
        currency=order.currency,
        ordered_at=order.ordered_at,
        source=order.source,
        received_at=order.received_at,
    )


CustomerFacts = tuple[Tier, str]
"""A customer's (tier, region)."""


def enrich_order(order: ValidOrder, facts: CustomerFacts | None, now: datetime) -> EnrichedOrder:
    """Join a valid order with its customer's tier and region (UNKNOWN when missing)."""
    tier, region = facts if facts is not None else (Tier.UNKNOWN, "UNKNOWN")
    return EnrichedOrder(
        order_id=order.order_id,
        customer_id=order.customer_id,
        sku=order.sku,
        quantity=order.quantity,
        amount_cents=order.amount_cents,
        currency=order.currency,
        ordered_at=order.ordered_at,
        received_at=order.received_at,
        enriched_at=now,
        customer_tier=tier,
        region=region,
    )
