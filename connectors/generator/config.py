"""Configuration of the synthetic order source."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from streamworks.connectors.base.config import SourceConfig

__all__ = ["GeneratorConfig"]


class GeneratorConfig(SourceConfig):
    """Seeded raw orders (``orders.raw`` records) at a fixed rate or as fast as possible."""

    kind: Literal["generator"] = "generator"
    key_field: str | None = "order_id"
    seed: int = Field(default=7, description="The same seed gives the same orders.")
    count: int | None = Field(default=None, ge=1, description="Stop after this many; None: never.")
    rate: float | None = Field(
        default=None, gt=0, description="Orders a second; None sends as fast as Kafka takes them."
    )
    batch: int = Field(default=500, ge=1, le=50_000, description="Orders per produce step.")
    customers: int = Field(default=200, ge=2, description="Distinct customers ordering.")
    dirty: float = Field(default=0.10, ge=0, le=1, description="Fraction the clean stage fixes.")
    invalid: float = Field(default=0.08, ge=0, le=1, description="Fraction breaking a rule.")
    unparseable: float = Field(default=0.02, ge=0, le=1, description="Fraction not parseable.")

    @model_validator(mode="after")
    def _mix_fits(self) -> GeneratorConfig:
        if self.dirty + self.invalid + self.unparseable > 1:
            raise ValueError("dirty + invalid + unparseable must be at most 1")
        return self
