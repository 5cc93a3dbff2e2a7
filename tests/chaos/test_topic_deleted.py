"""Scenario (e): the input topic deleted under load, then applied again.

4,000 orders go to ``<name>.in`` at 2,000/s; as the last is acknowledged the topic is
deleted while ``tag`` still has a backlog. Each ``tag`` worker must say so in one line
naming the topic and ``streamworks topics apply``; the topic is then re-created (as
``topics apply`` does), the workers take it up again without a restart, and 4,000 more
orders are sent. Lost may only be orders the deletion removed: ones acknowledged before it
and not yet committed by ``tag`` then. Every order acknowledged after the re-apply comes
out, and, over the orders that came through, nothing is duplicated or wrongly totalled.
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import pytest

from schemas.records import EnrichedOrder
from streamworks.kafka import clients
from streamworks.ops.supervisor import Supervisor
from streamworks.runtime.topics import ensure_topics
from streamworks.testing import KafkaEndpoint
from tests.chaos.app import chaos_pipeline
from tests.chaos.checker import drain
from tests.chaos.harness import (
    Chaos,
    Feed,
    chaos_copy,
    committed,
    drained,
    end_offsets,
    orders,
    record,
    running,
    started,
)
from tests.integration.workers import decode_all

BATCH = 4_000
RATE = 2_000
POOLS = {"tag": 2, "totals": 1}


def said(logs: Path, pattern: str) -> int:
    """Lines of the workers' logs matching ``pattern``."""
    found = re.compile(pattern)
    return sum(len(found.findall(p.read_text(errors="replace"))) for p in logs.glob("*.log"))


async def until_said(
    supervisor: Supervisor, logs: Path, pattern: str, count: int, within_s: float
) -> float:
    """Seconds until the logs hold ``count`` lines matching ``pattern``."""
    began = time.monotonic()
    while said(logs, pattern) < count:
        supervisor.poll()
        assert time.monotonic() - began < within_s, f"no {count} x {pattern!r} in {within_s} s"
        await asyncio.sleep(0.2)
    return time.monotonic() - began


async def delete_input(chaos: Chaos) -> int:
    """Delete ``<name>.in``; returns the records in it that ``tag`` had not committed."""
    topic = f"{chaos.name}.in"
    done = await committed(chaos.settings, chaos.group("tag"))
    ends = await end_offsets(chaos.settings, topic, chaos.partitions)
    admin = clients.admin_client(chaos.settings)
    await admin.start()
    try:
        await admin.delete_topics([topic])
    finally:
        await admin.close()
    slack = 1 if chaos.exactly_once else 0  # a transactional input's last commit marker
    return sum(max(0, end - done.get(tp, 0) - slack) for tp, end in ends.items())


async def out_ids(chaos: Chaos) -> set[str]:
    read = await drain(chaos.settings.bootstrap_servers, [f"{chaos.name}.tagged"])
    tagged = decode_all(chaos.settings.registry_url, EnrichedOrder, read[f"{chaos.name}.tagged"])
    return {str(o.order_id) for o in tagged}


@pytest.mark.timeout(300)
async def test_a_deleted_input_loses_only_what_it_held(
    kafka: KafkaEndpoint, registry_url: str
) -> None:
    chaos = await chaos_copy(kafka, registry_url, "exactly-once")
    supervisor = chaos.supervisor(POOLS)
    feed = Feed(chaos, RATE)
    topic = f"{chaos.name}.in"
    missing = rf"topic {re.escape(topic)} is missing \(input of stage tag\)[^\n]*; create it "
    missing += rf"with: streamworks topics apply {re.escape(chaos.name)}\n"
    resumed = rf"{re.escape(chaos.group('tag'))} starts from the committed offsets \{{\d"
    began = time.monotonic()
    with running(supervisor):
        await started(supervisor, chaos.logs)
        await feed.run(orders(BATCH))
        before = len(feed.sent)
        at_risk = await delete_input(chaos)
        deleted = time.monotonic()
        noticed_s = await until_said(supervisor, chaos.logs, missing, POOLS["tag"], 30)
        assigned = said(chaos.logs, resumed)
        await ensure_topics(chaos_pipeline(chaos.name, partitions=chaos.partitions), chaos.settings)
        reapplied = time.monotonic()
        # the group takes the new topic's partitions: one start line per tag worker
        await until_said(supervisor, chaos.logs, resumed, assigned + POOLS["tag"], 60)
        resumed_s = time.monotonic() - reapplied
        feeding = asyncio.create_task(feed.run(orders(BATCH, start=BATCH)))
        await drained(chaos, supervisor, feeding)
        restarts = supervisor.restarts
    out = await out_ids(chaos)
    lost = [o for o in feed.sent if str(o.order_id) not in out]
    kept = [o for o in feed.sent if str(o.order_id) in out]
    figures = await chaos.check(Feed(chaos, RATE, sent=kept))
    record(
        "topic-deleted",
        {
            **figures.as_report(),
            "events_in": len(feed.sent),
            "lost": len(lost),
            "scenario": "e. input topic deleted and re-applied under load",
            "guarantee": chaos.guarantee,
            "detail": f"{at_risk:,} not yet processed when deleted, {len(lost):,} of them "
            f"lost; said after {noticed_s:.1f} s; resumed {resumed_s:.1f} s after apply; "
            f"{restarts} restarts",
            "at_risk": at_risk,
            "noticed_s": round(noticed_s, 1),
            "resumed_s": round(resumed_s, 1),
            "restarts": restarts,
            "seconds": round(time.monotonic() - began, 1),
            "deleted_after_s": round(deleted - began, 1),
        },
    )
    assert len(feed.sent) == 2 * BATCH
    assert all(n < before for n, o in enumerate(feed.sent) if o in lost)
    assert len(lost) <= at_risk
    assert figures.damage(exactly=True) == {}
    assert restarts == 0
