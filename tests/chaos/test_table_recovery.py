"""Scenario 4: table recovery. The running-totals table is restored from its changelog
after four faults and must equal the truth each time, without a hang.

Orders go in through ``tag`` (one worker, running throughout) rather than straight to
``<name>.tagged``: the checker's in / out / lost / duplicated figures then cover the whole
run, and every restart of ``totals`` begins with a backlog that ``tag`` wrote meanwhile.
For each case the ``totals`` worker is stopped, the fault applied, a new one started (with
a deadline on its restores: a hang fails), more orders fed, and the worker stopped again:

1. wiped local state: the state directory is deleted; the restore replays everything.
2. stale local state below the changelog's start: the stores saved after the build come
   back with a phantom customer added, and the changelog loses its records below the
   oldest of its keys' latest ones (DeleteRecords; nothing the table needs), so the saved
   checkpoints lie below its start: the stores must be rebuilt (phantom gone), not continued.
3. an empty changelog partition: partition 3 gets its first orders only now, and its
   local store claims offset 40 and a position far ahead, as one left from an earlier
   topic of the same name would; the restore must not hang, nor trust that store.
4. aborted transactions: bogus totals (and a position far ahead) are written to every
   changelog partition in a transaction that is aborted; the next worker is killed with
   SIGKILL while a transaction of its own is open, its state directory is deleted, and its
   successor replays the whole changelog, both aborted transactions in it.

After each case the table on ``<name>.totals`` (the last running total per customer) and
in the RocksDB stores must equal the batch truth over every acknowledged order; at the end
the changelog's committed records must too, and the checker's figures must be clean.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from schemas.records import EnrichedOrder
from streamworks.aggregate.processor import META
from streamworks.ops.supervisor import Supervisor
from streamworks.pipeline.aggregation import changelog_topic
from streamworks.testing import KafkaEndpoint
from tests.chaos.checker import check, open_transactions
from tests.chaos.harness import (
    APP,
    Chaos,
    Feed,
    caught_up,
    chaos_copy,
    end_offsets,
    orders,
    record,
    running,
    started,
)
from tests.chaos.recovery_helpers import (
    Restore,
    Totals,
    aborted_records,
    changelog_table,
    checkpoint,
    delete_below,
    last_offsets,
    open_transaction,
    partition_of,
    restored,
    stored,
    table,
    tamper,
    truth,
    write_aborted,
)

PARTITIONS = 4
EMPTY = 3
"""The partition no order reaches before case 3."""
RATE = 1000
INPUT = {"tag": "in", "totals": "tagged"}
RESTORE_WITHIN_S = 90.0
"""Process start, group join (after a SIGKILL: the dead member's session timeout) and the
restore; a busy machine needs most of it, a hang takes longer."""
CASES = {
    "0-build": "0. build the table",
    "1-wiped": "1. wiped local state",
    "2-stale": "2. stale local state below the changelog's start",
    "3-empty": "3. empty changelog partition (local store claims offset 40)",
    "4-aborted": "4. aborted transactions in the changelog (and a kill -9 mid-transaction)",
}
"""Each case's log folder, and what the report calls it."""
PHANTOM = "c999"
FAR_AHEAD = 10**9


@dataclass
class Recovery:
    """The run: a chaos copy with a state directory of its own, its feed and what was found."""

    chaos: Chaos
    state: Path
    tags: Supervisor
    feed: Feed
    numbered: int = 0
    cases: list[dict[str, Any]] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        return {**self.chaos.env, "STREAMWORKS_STATE_DIR": str(self.state)}

    @property
    def stores(self) -> Path:
        return self.state / self.chaos.group("totals")

    @property
    def changelog(self) -> str:
        return changelog_topic(self.chaos.name, "totals")

    @property
    def bootstrap(self) -> str:
        return self.chaos.settings.bootstrap_servers

    def orders(self, count: int, *, empty_partition_too: bool) -> list[EnrichedOrder]:
        """The next ``count`` orders, without partition ``EMPTY``'s unless told."""
        batch = orders(count, start=self.numbered)
        self.numbered += count
        if empty_partition_too:
            return batch
        return [o for o in batch if partition_of(o.customer_id, PARTITIONS) != EMPTY]

    def totals(self, case: str) -> Supervisor:
        """One totals worker, logging to a folder of the case's own."""
        return Supervisor(APP, {"totals": 1}, env=self.env, log_dir=self.chaos.logs / case)

    async def restart(self, case: str, batch: list[EnrichedOrder]) -> dict[str, Any]:
        """Start a totals worker, wait for its restores, feed ``batch``, stop it, verify."""
        supervisor = self.totals(case)
        with running(supervisor):
            began = time.monotonic()
            log = self.chaos.logs / case / "totals-1.log"
            found = await restored(
                log, PARTITIONS, [supervisor, self.tags], within_s=RESTORE_WITHIN_S
            )
            ready = time.monotonic() - began
            await self.feed.run(batch)
            await caught_up(self.chaos, supervisor, INPUT, within_s=120)
        return await self.verify(case, found, ready)

    async def verify(self, case: str, found: dict[int, Restore], ready: float) -> dict[str, Any]:
        """The case's figures: its restores, and the table (output and stores) against the
        truth. Called with the worker stopped, so its stores are checkpointed and free."""
        expected = truth(self.feed.sent)
        output = await table(self.bootstrap, self.chaos.settings.registry_url, self.chaos.name)
        held = stored(self.stores, PARTITIONS)
        restores = [found[p] for p in sorted(found)]
        figures = {
            "case": CASES[case],
            "restore_s": round(sum(r.seconds for r in restores), 3),
            "records": sum(r.records for r in restores),
            "wiped": sorted({r.wiped for r in restores if r.wiped}) or None,
            "ready_s": round(ready, 1),
            "partitions": [
                {
                    "partition": r.partition,
                    "records": r.records,
                    "offsets": f"{r.start}..{r.end}",
                    "seconds": r.seconds,
                    "wiped": r.wiped,
                }
                for r in restores
            ],
            "orders_so_far": len(self.feed.sent),
            "table_wrong": _wrong(expected, output),
            "store_wrong": _wrong(expected, held),
        }
        self.cases.append(figures)
        return figures


def _wrong(expected: dict[str, Totals], found: dict[str, Totals]) -> int:
    """Customers whose totals differ from the truth, plus keys the truth does not have."""
    keys = set(expected) | set(found)
    return sum(1 for key in keys if expected.get(key) != found.get(key))


async def _cut_changelog_above(run: Recovery, stale: dict[int, int | None]) -> dict[int, int]:
    """Delete each changelog partition's records below the oldest of its keys' latest ones
    (nothing the table needs goes), which must lie past the saved store's checkpoint."""
    latest = await last_offsets(run.bootstrap, run.changelog, PARTITIONS)
    cut = {p: min(offsets.values()) for p, offsets in latest.items()}
    for p, offset in cut.items():
        checkpoint = stale[p]
        assert checkpoint is not None and checkpoint < offset, (
            f"partition {p}: cutting at {offset} leaves the saved checkpoint {checkpoint} valid"
        )
    await delete_below(run.chaos.settings, run.changelog, cut)
    return cut


def _bogus(run: Recovery) -> dict[int, list[tuple[str, Any]]]:
    """For every changelog partition: absurd totals for its customers, and a position far
    ahead (a store holding it would skip every order to come)."""
    records: dict[int, list[tuple[str, Any]]] = {p: [] for p in range(PARTITIONS)}
    for customer in sorted({o.customer_id for o in run.feed.sent}):
        records[partition_of(customer, PARTITIONS)].append((customer, [10**6, 10**9, 0]))
    position = {"t": 0, "o": {f"{run.chaos.name}.tagged": FAR_AHEAD}, "w": {}}
    for pairs in records.values():
        pairs.append((META, position))
    return records


async def _kill_and_replay(run: Recovery, case: str, batch: list[EnrichedOrder]) -> dict[str, Any]:
    """Case 4's worker: started over the aborted transaction, killed with SIGKILL midway
    through ``batch``, its state deleted; its successor replays the whole changelog."""
    supervisor = run.totals(case)
    logs = run.chaos.logs / case
    before = len(run.feed.sent)
    with running(supervisor):
        first = await restored(
            logs / "totals-1.log", PARTITIONS, [supervisor, run.tags], within_s=RESTORE_WITHIN_S
        )
        feeding = asyncio.create_task(run.feed.run(batch))
        while len(run.feed.sent) < before + len(batch) // 2:
            assert not feeding.done(), "the feed ended before the kill"
            await asyncio.sleep(0.05)
        victim = supervisor.workers("totals")[0].process
        mid_transaction = await open_transaction(
            run.bootstrap, run.changelog, PARTITIONS, within_s=5
        )
        os.kill(victim.pid, signal.SIGKILL)
        killed = time.monotonic()
        await asyncio.to_thread(victim.wait, 30)
        shutil.rmtree(run.state)  # the successor starts from nothing: a full replay
        found = await restored(
            logs / "totals-2.log", PARTITIONS, [supervisor, run.tags], within_s=RESTORE_WITHIN_S
        )
        back = time.monotonic() - killed
        await feeding
        await caught_up(run.chaos, supervisor, INPUT, within_s=120)
        assert supervisor.restarts == 1
    figures = await run.verify(case, found, back)
    figures["killed_mid_transaction"] = mid_transaction
    figures["before_kill"] = {  # the first restore: from the checkpoint over the aborted one
        "records": sum(r.records for r in first.values()),
        "restore_s": round(sum(r.seconds for r in first.values()), 3),
        "offsets": [f"{r.start}..{r.end}" for r in first.values()],
    }
    return figures


async def _wiped(run: Recovery) -> dict[str, Any]:
    """Case 1: no local state at all."""
    shutil.rmtree(run.state)
    return await run.restart("1-wiped", run.orders(1000, empty_partition_too=False))


async def _stale_below_start(run: Recovery, saved: Path) -> dict[str, Any]:
    """Case 2: the stores saved after the build (plus a phantom), the changelog cut above
    their checkpoints."""
    saved_at = {p: checkpoint(saved / str(p)) for p in range(PARTITIONS)}
    tamper(saved / "0", {PHANTOM: [7, 700, 0]})
    cut = await _cut_changelog_above(run, saved_at)
    shutil.rmtree(run.stores)
    shutil.copytree(saved, run.stores)
    figures = await run.restart("2-stale", run.orders(1000, empty_partition_too=False))
    figures["changelog_cut_at"] = cut
    return figures


async def _empty_changelog(run: Recovery) -> dict[str, Any]:
    """Case 3: partition ``EMPTY``'s changelog is empty; its store says otherwise."""
    ends = await end_offsets(run.chaos.settings, run.changelog, PARTITIONS)
    assert [end for tp, end in ends.items() if tp.partition == EMPTY] == [0]
    position = {"t": 0, "o": {f"{run.chaos.name}.tagged": FAR_AHEAD}, "w": {}}
    tamper(run.stores / str(EMPTY), {META: position, PHANTOM: [7, 700, 0]}, moved_to=40)
    return await run.restart("3-empty", run.orders(1000, empty_partition_too=True))


async def _aborted(run: Recovery) -> dict[str, Any]:
    """Case 4: an aborted transaction of bogus values, then a worker killed in its own."""
    injected = await write_aborted(run.chaos.settings, run.changelog, _bogus(run))
    figures = await _kill_and_replay(run, "4-aborted", run.orders(3000, empty_partition_too=True))
    aborted = await aborted_records(run.bootstrap, run.changelog, PARTITIONS)
    figures["aborted_records"] = {"written_by_test": injected, "left_by_kill": aborted - injected}
    return figures


async def _report(run: Recovery, build: dict[str, Any], began: float) -> dict[str, Any]:
    """The checker's figures over the whole run, the changelog's own, and the cases."""
    bootstrap, registry = run.bootstrap, run.chaos.settings.registry_url
    figures = await check(bootstrap, registry, run.chaos.name, run.feed.sent, exactly_once=True)
    from_changelog = await changelog_table(bootstrap, run.changelog, PARTITIONS)
    cases = run.cases[1:]
    diverged = sum(1 for c in cases if c["table_wrong"] or c["store_wrong"])
    return {
        **figures.as_report(),
        "scenario": "4. table recovery",
        "guarantee": "exactly-once",
        "detail": "restore "
        + " / ".join(f"{c['restore_s']:.1f}" for c in cases)
        + " s ("
        + " / ".join(f"{c['records']:,}" for c in cases)
        + " records); "
        + ("table = truth each time" if not diverged else f"table wrong in {diverged} case(s)"),
        "cases": cases,
        "build": build,
        "changelog_diff": _wrong(truth(run.feed.sent), from_changelog),
        "changelog_open_transactions": await open_transactions(bootstrap, [run.changelog]),
        "seconds": round(time.monotonic() - began, 1),
    }


@pytest.mark.timeout(420)
async def test_table_equals_the_truth_after_each_recovery(
    kafka: KafkaEndpoint, registry_url: str, tmp_path: Path
) -> None:
    chaos = await chaos_copy(kafka, registry_url, "exactly-once", partitions=PARTITIONS)
    state = tmp_path / "state"
    tags = Supervisor(
        APP, {"tag": 1}, env={**chaos.env, "STREAMWORKS_STATE_DIR": str(state)}, log_dir=chaos.logs
    )
    run = Recovery(chaos, state, tags, Feed(chaos, RATE))
    began = time.monotonic()
    with running(tags):
        await started(tags, chaos.logs)
        build = await run.restart("0-build", run.orders(2000, empty_partition_too=False))
        saved = tmp_path / "saved"
        shutil.copytree(run.stores, saved)
        await _wiped(run)
        await _stale_below_start(run, saved)
        await _empty_changelog(run)
        await _aborted(run)
    report = await _report(run, build, began)
    record("table-recovery", report)

    cases = report["cases"]
    for case in cases:
        assert case["table_wrong"] == case["store_wrong"] == 0, case
    wiped = [{r["partition"]: r["wiped"] for r in c["partitions"] if r["wiped"]} for c in cases]
    assert wiped[0] == wiped[3] == {}, "nothing to wipe: no local state"
    assert set(wiped[1]) == {0, 1, 2}, wiped[1]  # cut below their checkpoints
    assert all("below the changelog's start" in why for why in wiped[1].values())
    assert list(wiped[2]) == [EMPTY], wiped[2]
    assert "beyond the changelog's end" in wiped[2][EMPTY]
    assert report["events_in"] == report["events_out"] == len(run.feed.sent)
    assert report["lost"] == report["duplicated"] == 0
    assert report["wrong_aggregates"] == report["duplicated_aggregates"] == 0
    assert report["hanging_transactions"] == report["changelog_open_transactions"] == 0
    assert report["changelog_diff"] == 0
    assert cases[3]["aborted_records"]["written_by_test"] > 0
