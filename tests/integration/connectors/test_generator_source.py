"""The generator source keeps the source contract; its orders are a function of its seed."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from connectors.generator import GeneratorConfig
from schemas.records import RawOrder
from tests.integration.connectors.contract import SourceContract


class TestGeneratorSource(SourceContract):
    """The generator offers what its seed dictates: the contract's orders, in order."""

    def config(self, name: str, topic: str, tmp_path: Path) -> GeneratorConfig:
        return GeneratorConfig(
            name=name, topic=topic, seed=11, count=self.count, batch=64, guarantee="exactly-once"
        )

    async def offer(self, orders: Sequence[RawOrder], tmp_path: Path) -> None:
        """Nothing to do: the generator makes exactly :meth:`orders` by itself."""
