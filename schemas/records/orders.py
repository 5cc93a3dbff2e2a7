"""Typed records of the order topics (``orders.*``), mirroring their ``.avsc`` contracts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from schemas.records.customers import Tier
from streamworks import AvroRecord

__all__ = [
    "CheckResult",
    "CleanOrder",
    "EnrichedOrder",
    "FormattedOrder",
    "InvalidOrder",
    "OrderRelease",
    "RawOrder",
    "ValidOrder",
]


@dataclass(frozen=True, slots=True)
class RawOrder(AvroRecord, contract="orders.raw"):
    """An order exactly as a source received it (``orders.raw``)."""

    order_id: str
    """The source's order identifier, as sent."""
    source: str
    """Which source produced it: http, file or generator."""
    received_at: datetime
    """When streamworks received it (UTC)."""
    customer_id: str | None = None
    """Customer identifier as sent, if any."""
    sku: str | None = None
    """Product stock-keeping unit as sent, if any."""
    quantity: str | None = None
    """Ordered quantity as sent."""
    amount: str | None = None
    """Order total as sent, e.g. "12.50"."""
    currency: str | None = None
    """Currency as sent."""
    ordered_at: str | None = None
    """When the customer ordered, as sent."""


@dataclass(frozen=True, slots=True)
class CleanOrder(AvroRecord, contract="orders.clean"):
    """A raw order with its text normalised (``orders.clean``)."""

    order_id: str
    """Order identifier, trimmed and lower-cased."""
    source: str
    """Which source produced the raw order."""
    received_at: datetime
    """When streamworks received the raw order (UTC)."""
    customer_id: str | None = None
    """Customer identifier; null when empty."""
    sku: str | None = None
    """Stock-keeping unit, upper-cased; null when empty."""
    quantity: str | None = None
    """Quantity text; null when empty."""
    amount: str | None = None
    """Amount text with a decimal point; null when empty."""
    currency: str | None = None
    """Currency code, upper-cased; null when empty."""
    ordered_at: str | None = None
    """Order time text; null when empty."""


@dataclass(frozen=True, slots=True)
class FormattedOrder(AvroRecord, contract="orders.formatted"):
    """A clean order parsed into typed fields (``orders.formatted``)."""

    order_id: UUID
    """Order identifier."""
    source: str
    """Which source produced the raw order."""
    received_at: datetime
    """When streamworks received the raw order (UTC)."""
    customer_id: str | None = None
    """Customer identifier."""
    sku: str | None = None
    """Stock-keeping unit."""
    quantity: int | None = None
    """Ordered quantity; None when unparseable."""
    amount_cents: int | None = None
    """Order total in cents; None when unparseable."""
    currency: str | None = None
    """ISO-4217 currency code."""
    ordered_at: datetime | None = None
    """When the customer ordered (UTC); None when unparseable."""
    format_errors: tuple[str, ...] = ()
    """One line per field that could not be parsed."""


@dataclass(frozen=True, slots=True)
class ValidOrder(AvroRecord, contract="orders.valid"):
    """An order that passed every validation rule (``orders.valid``)."""

    order_id: UUID
    """Order identifier."""
    customer_id: str
    """Customer identifier; the key of the customers table."""
    sku: str
    """Stock-keeping unit."""
    quantity: int
    """Ordered quantity, at least 1."""
    amount_cents: int
    """Order total in cents, positive."""
    currency: str
    """ISO-4217 currency code."""
    ordered_at: datetime
    """When the customer ordered (UTC); the event time of windows."""
    source: str
    """Which source produced the raw order."""
    received_at: datetime
    """When streamworks received the raw order (UTC)."""


@dataclass(frozen=True, slots=True)
class InvalidOrder(AvroRecord, contract="orders.invalid"):
    """A formatted order that broke validation rules (``orders.invalid``)."""

    order: FormattedOrder
    """The order as the validate stage received it."""
    violations: tuple[str, ...]
    """One line per broken rule."""
    rejected_at: datetime
    """When it was rejected (UTC)."""


@dataclass(frozen=True, slots=True)
class EnrichedOrder(AvroRecord, contract="orders.enriched"):
    """A valid order joined with its customer's tier and region (``orders.enriched``)."""

    order_id: UUID
    """Order identifier."""
    customer_id: str
    """Customer identifier."""
    sku: str
    """Stock-keeping unit."""
    quantity: int
    """Ordered quantity, at least 1."""
    amount_cents: int
    """Order total in cents, positive."""
    currency: str
    """ISO-4217 currency code."""
    ordered_at: datetime
    """When the customer ordered (UTC)."""
    received_at: datetime
    """When streamworks received the raw order (UTC)."""
    enriched_at: datetime
    """When the enrich stage joined it (UTC)."""
    customer_tier: Tier = Tier.UNKNOWN
    """The customer's tier when the order was enriched."""
    region: str = "UNKNOWN"
    """The customer's region; UNKNOWN if the customer was missing."""


@dataclass(frozen=True, slots=True)
class CheckResult(AvroRecord, contract="orders.check"):
    """One check service's answer about one order (``orders.check``)."""

    order_id: UUID
    """The checked order; the correlation id and the record key."""
    check: str
    """Which check answered, e.g. stock."""
    passed: bool
    """True when the order may go ahead as far as this check is concerned."""
    checked_at: datetime
    """When the check answered (UTC)."""
    detail: str = ""
    """A short human-readable reason or figure."""


@dataclass(frozen=True, slots=True)
class OrderRelease(AvroRecord, contract="orders.released"):
    """The decision on an order once its checks were gathered (``orders.released``)."""

    order_id: UUID
    """The order; also the record key."""
    released: bool
    """True when every check answered and passed."""
    complete: bool
    """True when every expected check answered before the deadline."""
    decided_at: datetime
    """When the decision was made (UTC)."""
    failed: tuple[str, ...] = ()
    """Checks that answered and did not pass."""
    missing: tuple[str, ...] = ()
    """Checks that did not answer before the deadline."""
    details: tuple[str, ...] = ()
    """Each answering check's detail as ``check: detail``, sorted by check."""
