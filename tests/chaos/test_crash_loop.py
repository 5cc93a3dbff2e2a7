"""Scenario b (issue 21): a record that aborts its worker process, under exactly-once.

Among 3,000 orders comes one on which ``tag`` calls ``os.abort()`` (as a segfaulting C
extension would end it): no exception, no dead letter, the process is gone, and every
worker that reads the partition next dies the same way. The supervisor folds each death
into the crash-loop ledger; after 3 deaths with the order in the batch the next worker
processes the suspect offsets one at a time, dies on the poison alone, and the one after
dead-letters it as ``CrashLoop`` (:mod:`streamworks.runtime.crashloop`).

What a user cares about: the poison is dead-lettered once, with ``CrashLoop`` and the exit
(``killed by SIGABRT``) as the reason; every other order comes out once with the right
totals; the pipeline never gives up; one log line names the record.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest

from streamworks.runtime.dead_letters import DLQ_PREFIX, header
from streamworks.testing import KafkaEndpoint
from tests.chaos.app import ABORT_CENTS, chaos_pipeline
from tests.chaos.checker import drain
from tests.chaos.harness import (
    INPUTS,
    Feed,
    caught_up,
    chaos_copy,
    orders,
    record,
    running,
    started,
)

ORDERS = 3_000
RATE = 750
POOLS = {"tag": 2, "totals": 1}


@pytest.mark.timeout(300)
async def test_a_record_that_aborts_its_worker_is_quarantined(
    kafka: KafkaEndpoint, registry_url: str, tmp_path: Path
) -> None:
    chaos = await chaos_copy(kafka, registry_url, "exactly-once")
    chaos.env["STREAMWORKS_STATE_DIR"] = str(tmp_path / "state")
    good = orders(ORDERS)
    [base] = orders(1, start=ORDERS)
    poison = replace(base, amount_cents=ABORT_CENTS)
    supervisor = chaos.supervisor(POOLS)
    feed = Feed(chaos, RATE)
    began = time.monotonic()
    with running(supervisor):
        await started(supervisor, chaos.logs)
        await feed.run([*good[: ORDERS // 2], poison, *good[ORDERS // 2 :]])
        fed = time.monotonic()
        await caught_up(chaos, supervisor, INPUTS, within_s=200)
        settled = time.monotonic()
        stopped = supervisor.failing()
    figures = await chaos.check(replace(feed, sent=good))
    dlq = chaos_pipeline(chaos.name, partitions=chaos.partitions).dead_letter_topic("tag")
    letters = (await drain(kafka.bootstrap_servers, [dlq]))[dlq]
    lines = [
        line
        for log in sorted(chaos.logs.glob("tag-*.log"))
        for line in log.read_text(errors="replace").splitlines()
        if "CrashLoop at" in line
    ]
    reasons = [header(tuple(r.headers), DLQ_PREFIX + "error.message") or "" for r in letters]
    record(
        "crash-loop",
        {
            **figures.as_report(),
            "scenario": "b. a record that aborts its worker",
            "guarantee": chaos.guarantee,
            "detail": f"{len(letters)} CrashLoop dead letter(s) after {supervisor.restarts} "
            f"worker deaths; caught up {settled - fed:.0f} s after the feed ended",
            "deaths": supervisor.restarts,
            "dead_letters": reasons,
            "seconds": round(time.monotonic() - began, 1),
        },
    )
    assert stopped == [], f"the run gave up on {stopped}"
    assert [header(tuple(r.headers), DLQ_PREFIX + "error.class") for r in letters] == ["CrashLoop"]
    assert "killed by SIGABRT" in reasons[0]
    assert letters[0].key == poison.customer_id.encode()
    assert supervisor.restarts >= 3  # it took 3 deaths to suspect it, and one to find it
    assert len(lines) == 1, lines
    # every other order out once, in order, with the right totals
    assert figures.events_in == ORDERS
    assert figures.damage(exactly=True) == {}
    assert figures.events_out == ORDERS
