"""Typed records that stages use; each mirrors one contract in ``schemas/contracts``."""

from schemas.records.customers import Customer, Tier
from schemas.records.metrics import CustomerTotals, RegionRevenue, WindowCount
from schemas.records.orders import (
    CheckResult,
    CleanOrder,
    EnrichedOrder,
    FormattedOrder,
    InvalidOrder,
    OrderRelease,
    RawOrder,
    ValidOrder,
)
from streamworks import AvroRecord

__all__ = [
    "ALL_RECORDS",
    "CheckResult",
    "CleanOrder",
    "Customer",
    "CustomerTotals",
    "EnrichedOrder",
    "FormattedOrder",
    "InvalidOrder",
    "OrderRelease",
    "RawOrder",
    "RegionRevenue",
    "Tier",
    "ValidOrder",
    "WindowCount",
]

ALL_RECORDS: tuple[type[AvroRecord], ...] = (
    RawOrder,
    CleanOrder,
    FormattedOrder,
    ValidOrder,
    InvalidOrder,
    EnrichedOrder,
    Customer,
    CheckResult,
    OrderRelease,
    RegionRevenue,
    CustomerTotals,
    WindowCount,
)
"""Every record class, one per contract."""
