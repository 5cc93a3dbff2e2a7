"""Typed records that stages use; each mirrors one contract in ``schemas/contracts``."""

from schemas.records._base import AvroRecord
from schemas.records.customers import Customer, Tier
from schemas.records.metrics import RegionRevenue
from schemas.records.orders import (
    CleanOrder,
    EnrichedOrder,
    FormattedOrder,
    InvalidOrder,
    RawOrder,
    ValidOrder,
)

__all__ = [
    "ALL_RECORDS",
    "AvroRecord",
    "CleanOrder",
    "Customer",
    "EnrichedOrder",
    "FormattedOrder",
    "InvalidOrder",
    "RawOrder",
    "RegionRevenue",
    "Tier",
    "ValidOrder",
]

ALL_RECORDS: tuple[type[AvroRecord], ...] = (
    RawOrder,
    CleanOrder,
    FormattedOrder,
    ValidOrder,
    InvalidOrder,
    EnrichedOrder,
    Customer,
    RegionRevenue,
)
"""Every record class, one per contract."""
