"""Status without a broker: backlog arithmetic, rates from stats records, the bottleneck."""

from __future__ import annotations

import json
import re

from aiokafka import TopicPartition
from rich.console import Console

from streamworks.ops.status import (
    PipelineStatus,
    StageFigures,
    StageKind,
    StageStatus,
    WorkerHistory,
    WorkerSample,
    backlog,
    find_bottleneck,
    lag_seconds,
    mark,
    stage_figures,
    stage_status,
    status_table,
    trend,
)
from streamworks.runtime.processor import Counts

A0, A1 = TopicPartition("a", 0), TopicPartition("a", 1)


def stage(name: str, lag: int = 0, seconds: float = 0.0, **changes: object) -> StageStatus:
    figures: dict[str, object] = {
        "name": name,
        "group": f"p.{name}",
        "inputs": (f"p.{name}.in",),
        "kind": "stage",
        "workers": 1,
        "partitions": 2,
        "lag_records": lag,
        "lag_seconds": seconds,
        "in_per_s": 0.0,
        "out_per_s": 0.0,
        "records_in": 0,
        "out": 0,
        "produced": 0,
        "folded": None,
        "filtered": 0,
        "dead_lettered": 0,
        "late": None,
    }
    figures.update(changes)
    return StageStatus(**figures)  # type: ignore[arg-type]


def sample(stage: str, at: float, records_in: int, written: int, **more: object) -> WorkerSample:
    counts = Counts(records_in=records_in, out=records_in, records_written=written)
    return WorkerSample(pipeline="p", stage=stage, at=at, counts=counts, **more)  # type: ignore[arg-type]


def test_a_partition_never_committed_counts_from_its_beginning() -> None:
    found = backlog({A0: 40}, {A0: 0, A1: 10}, {A0: 100, A1: 25})
    assert (found[A0].start, found[A0].lag) == (40, 60)
    assert (found[A1].start, found[A1].lag) == (10, 15)


def test_an_offset_committed_before_what_retention_kept_starts_at_the_beginning() -> None:
    found = backlog({A0: 5}, {A0: 50}, {A0: 80})
    assert (found[A0].start, found[A0].lag) == (50, 30)
    assert backlog({A0: -1}, {A0: 0}, {A0: 0})[A0].lag == 0


def test_lag_in_seconds_is_the_age_of_the_oldest_unconsumed_record() -> None:
    assert lag_seconds(10_000, [7_500, 9_000]) == 2.5
    assert lag_seconds(10_000, []) == 0.0
    assert lag_seconds(10_000, [12_000]) == 0.0  # a producer's clock ahead of ours


def test_rates_come_from_each_workers_last_two_records_and_their_own_timestamps() -> None:
    history = WorkerHistory()
    history.add(b"p/s/w1", sample("s", 100.0, 1_000, 1_800))  # a flat-map: 2 out per input
    history.add(b"p/s/w1", sample("s", 102.0, 1_400, 2_600))
    history.add(b"p/s/w2", sample("s", 101.0, 50, 100))
    history.add(b"p/s/w2", sample("s", 105.0, 250, 500))
    figures = stage_figures(history, "p", ["s", "quiet"], now=106.0)
    assert figures["s"].in_per_s == 200.0 + 50.0
    assert figures["s"].out_per_s == 400.0 + 100.0  # records written per second
    assert figures["s"].counts.records_in == 1_650  # totals: the latest of each worker
    assert figures["quiet"].in_per_s == 0.0
    assert figures["quiet"].counts == Counts()


def test_stopped_stale_and_single_sample_workers_count_in_totals_but_not_in_rates() -> None:
    history = WorkerHistory()
    history.add(b"p/s/gone", sample("s", 10.0, 100, 100))
    history.add(b"p/s/gone", sample("s", 12.0, 300, 300))  # stale at now=100
    history.add(b"p/s/done", sample("s", 90.0, 10, 10))
    history.add(b"p/s/done", sample("s", 91.0, 20, 20, stopped=True))
    history.add(b"p/s/new", sample("s", 99.0, 5, 5))
    history.add(b"other/s/w", WorkerSample("other", "s", 99.0, Counts(records_in=7)))
    figures = stage_figures(history, "p", ["s"], now=100.0)["s"]
    assert (figures.in_per_s, figures.out_per_s) == (0.0, 0.0)
    assert figures.counts.records_in == 300 + 20 + 5


def test_a_stats_record_parses_and_a_foreign_one_is_skipped() -> None:
    value = json.loads(
        '{"pipeline": "p", "stage": "s", "worker": "w", "at": 5.5, "stopped": true,'
        ' "counts": {"records_in": 3, "out": 1, "filtered": 1, "dead_lettered": 1,'
        ' "records_written": 1, "retries": 0, "late": 0}}'
    )
    parsed = WorkerSample.parse(value)
    assert parsed is not None
    assert (parsed.stage, parsed.at, parsed.stopped, parsed.counts.filtered) == ("s", 5.5, True, 1)
    assert WorkerSample.parse({"pipeline": "p"}) is None
    assert WorkerSample.parse({**value, "counts": {"unknown": 1}}) is None


def test_the_bottleneck_is_the_oldest_backlog_and_none_when_nothing_lags() -> None:
    stages = [stage("a", 5, 0.5), stage("b", 3_000, 12.0), stage("c", 10_000, 3.0)]
    assert find_bottleneck(stages) == "b"
    assert find_bottleneck([stage("a"), stage("b")]) is None


def test_a_growing_lag_beats_an_older_backlog_that_drains() -> None:
    first, name = mark([stage("a", 100, 30.0), stage("b", 10, 1.0)])
    assert name == "a"
    assert all(s.trend is None for s in first)
    second, name = mark([stage("a", 50, 29.0), stage("b", 40, 2.0)], {"a": 100, "b": 10})
    assert name == "b"
    assert [(s.name, s.trend, s.bottleneck) for s in second] == [
        ("a", "shrinking", False),
        ("b", "growing", True),
    ]
    assert trend(5, 5) == "steady"
    assert trend(5, None) is None


def figures(stage: str, kind: StageKind, counts: Counts) -> StageStatus:
    return stage_status(
        name=stage,
        group=f"p.{stage}",
        inputs=(f"p.{stage}.in",),
        kind=kind,
        workers=1,
        partitions=2,
        lag_records=0,
        lag_s=0.0,
        figures=StageFigures(counts, in_per_s=10.0, out_per_s=4.0),
    )


def test_out_is_what_a_stage_wrote_and_its_inputs_balance_with_produced() -> None:
    # a flat-map: 10 inputs, 6 wrote 15 records between them, 3 filtered, 1 dead-lettered
    counts = Counts(records_in=10, out=6, filtered=3, dead_lettered=1, records_written=15)
    found = figures("split", "stage", counts)
    assert (found.out, found.produced, found.folded, found.late) == (15, 6, None, None)
    assert found.out_per_s == 4.0  # written per second
    assert found.produced is not None
    assert found.records_in == found.produced + found.filtered + found.dead_lettered


def test_an_aggregations_out_is_its_results_and_its_inputs_balance_with_folded_and_late() -> None:
    # 20 inputs: 15 folded into 4 windows' results, 2 filtered, 1 dead-lettered, 2 late
    counts = Counts(records_in=20, out=15, filtered=2, dead_lettered=1, late=2, records_written=4)
    found = figures("totals", "aggregation", counts)
    assert (found.out, found.folded, found.produced, found.late) == (4, 15, None, 2)
    assert found.folded is not None and found.late is not None
    assert found.records_in == found.folded + found.filtered + found.dead_lettered + found.late


def test_the_model_is_plain_data_and_the_table_marks_the_bottleneck() -> None:
    stages, name = mark([stage("a"), stage("b", 7, 2.5, dead_lettered=2)])
    status = PipelineStatus("p", 1_700_000_000.0, stages, name)
    data = json.loads(json.dumps(status.as_data()))
    assert data["bottleneck"] == "b"
    assert data["stages"][1]["lag_records"] == 7
    assert data["stages"][1]["inputs"] == ["p.b.in"]
    assert status.stage("b").bottleneck
    console = Console(record=True, width=200)
    console.print(status_table(status))
    text = console.export_text()
    assert "b ◀" in text
    assert "bottleneck: b" in text


def cells(table: str, row: str) -> dict[str, str]:
    """The printed cells of the row whose first cell is ``row``, by column header."""
    lines = [
        re.split("[│┃]", line)[1:-1] for line in table.splitlines() if "┃" in line or "│" in line
    ]
    header = [cell.strip() for cell in lines[0]]
    for line in lines[1:]:
        found = [cell.strip() for cell in line]
        if found[0] == row:
            return dict(zip(header, found, strict=True))
    raise AssertionError(f"no row {row!r} in {table}")


def test_the_table_shows_written_records_as_out_and_late_for_every_stage() -> None:
    split = figures("split", "stage", Counts(records_in=10, out=6, filtered=4, records_written=15))
    totals = figures(
        "totals", "aggregation", Counts(records_in=9, out=6, late=3, records_written=2)
    )
    status = PipelineStatus("p", 1_700_000_000.0, (split, totals), None)
    console = Console(record=True, width=200)
    console.print(status_table(status))
    text = console.export_text()
    assert cells(text, "split") == {
        "stage": "split",
        "workers": "1",
        "parts": "2",
        "lag": "0",
        "lag s": "0.0",
        "in/s": "10",
        "out/s": "4",
        "in": "10",
        "out": "15",
        "filtered": "4",
        "dlq": "0",
        "late": "-",
    }
    assert {k: cells(text, "totals")[k] for k in ("in", "out", "filtered", "dlq", "late")} == {
        "in": "9",
        "out": "2",
        "filtered": "0",
        "dlq": "0",
        "late": "3",
    }
    data = status.as_data()["stages"]
    assert [(s["kind"], s["out"], s["produced"], s["folded"], s["late"]) for s in data] == [
        ("stage", 15, 6, None, None),
        ("aggregation", 2, None, 6, 3),
    ]
