"""Typed records of the metrics topics."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from streamworks import AvroRecord

__all__ = ["CustomerTotals", "RegionRevenue", "WindowCount"]


@dataclass(frozen=True, slots=True)
class RegionRevenue(AvroRecord, contract="metrics.revenue"):
    """Revenue and order count of one region in one closed window (``metrics.revenue``)."""

    region: str
    """Sales region; the record key."""
    currency: str
    """Currency of revenue_cents."""
    window_start: datetime
    """Inclusive start of the window (UTC)."""
    window_end: datetime
    """Exclusive end of the window (UTC)."""
    revenue_cents: int
    """Sum of amount_cents of the window's orders."""
    order_count: int
    """Number of orders in the window."""


@dataclass(frozen=True, slots=True)
class CustomerTotals(AvroRecord, contract="metrics.customers"):
    """Running totals of one customer's orders (``metrics.customers``)."""

    customer_id: str
    """Customer identifier; the record key."""
    order_count: int
    """Number of the customer's orders so far."""
    revenue_cents: int
    """Sum of amount_cents of those orders."""
    last_order_at: datetime
    """ordered_at of the latest of those orders (UTC)."""


@dataclass(frozen=True, slots=True)
class WindowCount(AvroRecord, contract="metrics.window_count"):
    """How many records one key had in one closed window (``metrics.window_count``)."""

    key: str
    """The counted key; also the record key."""
    window_start: datetime
    """Inclusive start of the window (UTC)."""
    window_end: datetime
    """Exclusive end of the window (UTC)."""
    count: int
    """Records of the key in the window."""
