"""A seeded generator of realistic raw orders, dirty and invalid ones included."""

from __future__ import annotations

import csv
import dataclasses
import io
import random
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta

from schemas.records import Customer, RawOrder, Tier
from streams.orders.rules import CustomerFacts

__all__ = ["OrderGenerator", "orders_as_csv"]

REGIONS = ("EU-WEST", "EU-NORTH", "US-EAST", "US-WEST", "APAC")
SKUS = tuple(f"SKU-{n:04d}" for n in range(50))
_TIERS = (Tier.BRONZE, Tier.BRONZE, Tier.BRONZE, Tier.SILVER, Tier.SILVER, Tier.GOLD)


_FUTURE = timedelta(days=100 * 365)
"""How far ahead an order with an implausible future time is placed."""


class OrderGenerator:
    """Orders from ``customers`` customers; the same seed gives the same orders.

    By default about 80% are clean, 10% dirty but fixable by the clean and format stages
    (spaces, lower case, decimal commas, epoch times), 8% break a validation rule and 2%
    cannot be parsed at all; ``mix`` sets the dirty, invalid and unparseable fractions.
    """

    def __init__(
        self,
        seed: int = 7,
        customers: int = 200,
        start: datetime | None = None,
        *,
        gap_ms: tuple[int, int] = (10, 500),
        mix: tuple[float, float, float] = (0.10, 0.08, 0.02),
    ) -> None:
        if min(mix) < 0 or sum(mix) > 1:
            raise ValueError(f"mix fractions must be >= 0 and sum to at most 1, not {mix}")
        dirty, invalid, unparseable = mix
        self._thresholds = (dirty, dirty + invalid, dirty + invalid + unparseable)
        self._random = random.Random(seed)  # noqa: S311 - test data, not cryptography
        self._customers = customers
        self._gap_ms = gap_ms
        self._clock = start or datetime(2026, 11, 26, 8, 0, tzinfo=UTC)

    def customer_directory(self) -> dict[str, CustomerFacts]:
        """customer_id -> (tier, region) for every customer but the last (a missing one)."""
        rng = random.Random(1)  # noqa: S311 - stable across generators
        return {
            self._customer_id(n): (rng.choice(_TIERS), rng.choice(REGIONS))
            for n in range(self._customers - 1)
        }

    def customers(self) -> list[Customer]:
        """The directory as records for the compacted customers topic."""
        return [
            Customer(
                customer_id=cid,
                name=f"Customer {cid[2:]}",
                region=region,
                tier=tier,
                updated_at=self._clock,
            )
            for cid, (tier, region) in self.customer_directory().items()
        ]

    def orders(self, count: int) -> Iterator[RawOrder]:
        """``count`` raw orders, spaced ``gap_ms`` apart in event time (10-500 ms by default)."""
        for _ in range(count):
            self._clock += timedelta(milliseconds=self._random.randint(*self._gap_ms))
            roll = self._random.random()
            order = self._clean()
            dirty, invalid, unparseable = self._thresholds
            if roll < dirty:
                order = self._dirty(order)
            elif roll < invalid:
                order = self._invalid(order)
            elif roll < unparseable:
                order = self._unparseable(order)
            yield order

    def _customer_id(self, n: int) -> str:
        return f"c-{n:05d}"

    def _clean(self) -> RawOrder:
        rng = self._random
        return RawOrder(
            order_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            customer_id=self._customer_id(rng.randrange(self._customers)),
            sku=rng.choice(SKUS),
            quantity=str(rng.randint(1, 5)),
            amount=f"{rng.randint(100, 50_000) / 100:.2f}",
            currency=rng.choice(("EUR", "EUR", "USD", "GBP", "SEK")),
            ordered_at=self._clock.isoformat(),
            source="generator",
            received_at=self._clock + timedelta(milliseconds=rng.randint(1, 50)),
        )

    def _dirty(self, order: RawOrder) -> RawOrder:
        kind = self._random.randrange(4)
        if kind == 0:
            return _replace(order, sku=f"  {order.sku}  ".lower(), currency=f" {order.currency} ")
        if kind == 1:
            return _replace(order, amount=(order.amount or "").replace(".", ","))
        if kind == 2:  # noqa: PLR2004
            return _replace(order, order_id=f" {order.order_id.upper()} ")
        millis = str(int(self._clock.timestamp() * 1000))
        return _replace(order, ordered_at=millis, currency=(order.currency or "").lower())

    def _invalid(self, order: RawOrder) -> RawOrder:
        kind = self._random.randrange(5)
        if kind == 0:
            return _replace(order, quantity="0")
        if kind == 1:
            return _replace(order, amount="-5.00")
        if kind == 2:  # noqa: PLR2004
            return _replace(order, currency="XXX")
        if kind == 3:  # noqa: PLR2004
            return _replace(order, customer_id="   ")
        # far in the future whatever today's date: the fixed start clock plus a few days
        # passed the wall clock on 2026-11-29 and these orders turned valid (and late-making)
        return _replace(order, ordered_at=(self._clock + _FUTURE).isoformat())

    def _unparseable(self, order: RawOrder) -> RawOrder:
        kind = self._random.randrange(3)
        if kind == 0:
            return _replace(order, amount="twelve")
        if kind == 1:
            return _replace(order, ordered_at="yesterday")
        return _replace(order, quantity="3.5")


def orders_as_csv(orders: Iterable[RawOrder]) -> str:
    """Raw orders as the CSV file an outside system would drop: a header row of the field
    names, times in ISO 8601, empty cells for nulls."""
    names = [f.name for f in dataclasses.fields(RawOrder)]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(names)
    for order in orders:
        row = order.to_avro()
        writer.writerow(["" if row[n] is None else _text(row[n]) for n in names])
    return out.getvalue()


def _text(value: object) -> object:
    return value.isoformat() if isinstance(value, datetime) else value


def _replace(order: RawOrder, **changes: str | None) -> RawOrder:
    from dataclasses import replace  # noqa: PLC0415

    return replace(order, **changes)  # type: ignore[arg-type]  # only text fields change
