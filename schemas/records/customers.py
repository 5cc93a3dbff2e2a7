"""Typed records of the ``customers`` topic."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from streamworks import AvroRecord

__all__ = ["Customer", "Tier"]


class Tier(StrEnum):
    """Loyalty tier (Avro enum ``streamworks.customers.Tier``)."""

    UNKNOWN = "UNKNOWN"
    BRONZE = "BRONZE"
    SILVER = "SILVER"
    GOLD = "GOLD"


@dataclass(frozen=True, slots=True)
class Customer(AvroRecord, contract="customers"):
    """The latest known facts about a customer (``customers``, compacted by id)."""

    customer_id: str
    """Customer identifier; also the record key."""
    name: str
    """Display name."""
    region: str
    """Sales region, e.g. EU-WEST."""
    updated_at: datetime
    """When these facts were last changed (UTC)."""
    tier: Tier = Tier.UNKNOWN
    """Loyalty tier."""
