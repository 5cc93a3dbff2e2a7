"""Windows on the real broker: random out-of-order streams against a batch recomputation.

The smaller, broker-backed twin of tests/unit/aggregate/test_aggregation_properties.py: a
seeded random stream with out-of-order and late records goes through a real aggregation
worker (RocksDB, changelog, transactions); every final window must equal the batch
truth and every late record must be on the late topic.
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from streamworks.core.settings import Settings
from streamworks.pipeline import Count, Tumbling
from streamworks.pipeline.graph import Pipeline, TopicSpec
from streamworks.runtime.topics import ensure_topics
from streamworks.testing import KafkaEndpoint, consume_until, unique_name, wait_for
from tests.integration.workers import decode_all, produce_records, workers
from tests.kit.builders import EPOCH_MS, millis, reading
from tests.kit.pipelines import window_count
from tests.kit.records import Reading, WindowCount
from tests.unit.aggregate.test_aggregation_properties import fixed_truth

GRACE_S = 3


def _stream(seed: int) -> list[tuple[str, int]]:
    """~400 records, mostly moving forward, some a little behind, a few far behind."""
    rng = random.Random(seed)
    now, events = 0, []
    for _ in range(400):
        now += rng.randint(0, 400)
        roll = rng.random()
        behind = (
            rng.randint(0, 2_500)
            if roll < 0.2
            else rng.randint(5_000, 20_000)
            if roll < 0.25
            else 0
        )
        events.append((rng.choice("abcde"), max(0, now - behind) + 7))
    return events


@pytest.mark.parametrize("seed", [1, 2])
async def test_final_windows_on_kafka_equal_the_batch_truth(
    kafka: KafkaEndpoint, registry_url: str, tmp_path: Path, seed: int
) -> None:
    bootstrap = kafka.bootstrap_servers
    name = unique_name("wtruth")
    settings = Settings(
        bootstrap_servers=bootstrap,
        registry_url=registry_url,
        state_dir=tmp_path,
        guarantee="exactly-once",
    )
    pipeline = Pipeline(
        name,
        guarantee="exactly-once",
        topics=[TopicSpec(f"{name}.in", Reading, 1, external=True)],
    )
    pipeline.aggregate(
        "count",
        inputs=f"{name}.in",
        input_type=Reading,
        key=lambda r: r.sensor,
        aggregator=Count(),
        window=Tumbling(10, grace=GRACE_S),
        mode="final",
        event_time=lambda r: r.at,
        output=f"{name}.out",
        output_type=WindowCount,
        emit=window_count,
        repartition=False,
    )
    await ensure_topics(pipeline, settings)
    events = _stream(seed)
    readings = [reading(key, ts) for key, ts in events]
    await produce_records(settings, f"{name}.in", readings, key=lambda r: r.sensor)
    truth, late = fixed_truth(events, 10_000, 10_000, GRACE_S * 1_000)
    async with workers(pipeline, settings, per_stage=1) as pool:
        await wait_for(lambda: pool[0].counts.records_in >= len(events), timeout=60)
    out = await consume_until(bootstrap, f"{name}.out", count=len(truth), timeout=30)
    emitted = Counter(
        {
            (w.key, millis(w.start) - EPOCH_MS, millis(w.end) - EPOCH_MS): w.count
            for w in decode_all(registry_url, WindowCount, out)
        }
    )
    assert len(out) == len(emitted)  # no window twice
    assert emitted == truth
    late_records = await consume_until(bootstrap, f"{name}.count.late", count=late, timeout=30)
    assert len(late_records) == late == pool[0].counts.late
    assert late > 0  # the stream really had late records
