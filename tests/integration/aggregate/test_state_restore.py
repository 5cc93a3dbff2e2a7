"""An aggregation's state comes back from its changelog: after a clean stop, a wiped local
store, and a stale copy of an old one."""

from __future__ import annotations

import shutil
from pathlib import Path

from streamworks.aggregate.worker import AggregationWorker
from streamworks.core.settings import Settings
from streamworks.runtime.topics import ensure_topics
from streamworks.testing import KafkaEndpoint, consume_until, unique_name
from tests.integration.workers import decode_all, produce_records, workers
from tests.kit.builders import reading
from tests.kit.pipelines import totals_pipeline, totals_truth
from tests.kit.records import Reading, Total


async def test_state_is_restored_from_the_changelog_after_wiped_or_stale_local_state(
    kafka: KafkaEndpoint, registry_url: str, tmp_path: Path
) -> None:
    bootstrap = kafka.bootstrap_servers
    settings = Settings(
        bootstrap_servers=bootstrap,
        registry_url=registry_url,
        state_dir=tmp_path / "state",
        guarantee="exactly-once",
    )
    name = unique_name("restore")
    pipeline = totals_pipeline(name)
    await ensure_topics(pipeline, settings)
    sent: list[Reading] = []

    async def phase(first: int, count: int) -> list[AggregationWorker]:
        batch = [reading(f"s{n % 13}", n, float(n)) for n in range(first, first + count)]
        sent.extend(batch)
        await produce_records(settings, f"{name}.in", batch, key=lambda r: r.sensor)
        async with workers(
            pipeline, settings, per_stage=1, stages=["totals", "totals.repartition"]
        ) as pool:
            await consume_until(
                bootstrap,
                f"{name}.out",
                until=lambda s: len(s) >= len(sent),
                timeout=90,
                isolation_level="read_committed",
            )
        return [w for w in pool if isinstance(w, AggregationWorker)]

    state = settings.state_dir / f"{name}.totals"
    first = await phase(0, 300)
    assert [r.records for r in first[0].restores] == [0, 0]  # empty changelogs
    stale = tmp_path / "stale"
    shutil.copytree(state, stale)

    second = await phase(300, 300)
    assert all(r.start > 0 for r in second[0].restores)  # resumed from its checkpoint
    shutil.rmtree(state)  # wiped local state: rebuilt from the changelog's start
    third = await phase(600, 300)
    assert sum(r.records for r in third[0].restores) > 0
    shutil.rmtree(state)
    shutil.copytree(stale, state)  # stale local state: caught up from its old checkpoint
    fourth = await phase(900, 300)
    assert fourth[0].restores[-1].records > 0

    out = await consume_until(bootstrap, f"{name}.out", count=len(sent), timeout=30)
    assert len(out) == len(sent)  # exactly one update per reading, across four workers
    last = {t.key: (t.count, t.sum) for t in decode_all(registry_url, Total, out)}
    assert last == totals_truth(sent)
