"""The JSONL sink on real Kafka: the sink contract, and the files a reader sees."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from streamworks.connectors.base import SinkConfig
from streamworks.connectors.files import JsonlSinkConfig
from streamworks.core.settings import Settings
from streamworks.testing.connectors import running
from streamworks.testing.helpers import unique_name
from tests.integration.connectors.contract import SinkContract, enriched_orders

_ROTATE_BYTES = 16 * 1024


def documents(directory: Path) -> list[dict[str, Any]]:
    """Every line of the complete files (what a reader that skips .part files sees)."""
    if not directory.exists():
        return []
    return [
        json.loads(line)
        for path in sorted(directory.glob("*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
    ]


class TestJsonlSink(SinkContract):
    """Lines land in small files rotated by size and by age, so tests see them soon."""

    def config(self, name: str, topic: str, tmp_path: Path) -> JsonlSinkConfig:
        return JsonlSinkConfig(
            name=name,
            topics=[topic],
            directory=tmp_path / "out",
            prefix="orders",
            rotate_bytes=_ROTATE_BYTES,
            rotate_s=0.3,
            batch_wait_ms=50,
        )

    async def read_back(self, config: SinkConfig, tmp_path: Path) -> list[dict[str, Any]]:
        return [doc["value"] for doc in documents(tmp_path / "out")]

    async def test_lines_name_their_origin_and_files_stay_small(
        self, source: str, settings: Settings, tmp_path: Path
    ) -> None:
        orders = enriched_orders(150, seed=4)
        config = self.config(unique_name("sink"), source, tmp_path)
        async with running([config], settings):
            await self.publish(settings, source, orders)
            await self.landed(config, tmp_path, {str(o.order_id): o.amount_cents for o in orders})
        out = tmp_path / "out"
        assert not list(out.glob("*.part")), "closing publishes the last file"
        files = sorted(out.glob("orders-*.jsonl"))
        assert len(files) > 1
        assert all(f.stat().st_size <= _ROTATE_BYTES for f in files)
        docs = documents(out)
        assert {d["topic"] for d in docs} == {source}
        seen = {(d["partition"], d["offset"]) for d in docs}
        assert len(seen) == len(orders)
        for partition in {p for p, _ in seen}:  # each partition's offsets, none skipped
            offsets = sorted(o for p, o in seen if p == partition)
            assert offsets == list(range(len(offsets)))
        first = docs[0]
        assert first["key"] == first["value"]["order_id"]
        assert first["timestamp"].endswith("Z")
        assert first["value"]["ordered_at"].startswith("2026-11-27T")
