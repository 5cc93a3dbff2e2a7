"""The flagship order pipeline: raw orders in; clean, formatted, valid/invalid, enriched out."""

from streams.orders.generator import OrderGenerator, orders_as_csv
from streams.orders.pipeline import TOPICS, orders_pipeline
from streams.orders.rules import (
    clean_order,
    enrich_order,
    format_order,
    validate_order,
)

__all__ = [
    "TOPICS",
    "OrderGenerator",
    "clean_order",
    "enrich_order",
    "format_order",
    "orders_as_csv",
    "orders_pipeline",
    "validate_order",
]
