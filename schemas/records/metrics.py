"""Typed records of the metrics topics."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from schemas.records._base import AvroRecord

__all__ = ["RegionRevenue"]


@dataclass(frozen=True, slots=True)
class RegionRevenue(AvroRecord):
    """Revenue and order count of one region in one closed window (``metrics.revenue``)."""

    topic = "metrics.revenue"

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
