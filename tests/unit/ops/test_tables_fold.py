"""Tables printed at 80 columns (a pipe, a small terminal) never cut an address, a path or
a topic: what does not fit its column folds onto the next line, whole."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from streamworks.ops.dlq import commands as dlq_commands
from streamworks.ops.dlq.letters import ErrorGroup
from streamworks.ops.kafka import LocalCluster, NodeStatus
from streamworks.ops.kafka.render import status_table as kafka_status_table
from streamworks.ops.status.model import PipelineStatus, StageStatus
from streamworks.ops.status.render import status_table
from streamworks.ops.topics import commands as topics_commands
from streamworks.ops.topics.model import Action, Plan

LONG_TOPIC = "orders.enriched.with-customers-and-regions.v2"


def _at_80(printable: object) -> str:
    """What a console 80 columns wide (as when piped) prints."""
    out = io.StringIO()
    Console(file=out, width=80, color_system=None).print(printable)
    return out.getvalue()


def _columns(text: str) -> list[str]:
    """Each column's cells, the pieces of a folded or wrapped cell joined, spaces dropped."""
    columns: dict[int, str] = {}
    for line in text.splitlines():
        if line.startswith("│"):
            for number, piece in enumerate(line.strip().strip("│").split("│")):
                columns[number] = columns.get(number, "") + piece.replace(" ", "")
    return list(columns.values())


def _shows(text: str, *wholes: str) -> None:
    """Nothing was cut or cropped, and each of ``wholes`` stands whole in one column."""
    assert "…" not in text, text
    rows = [line.rstrip() for line in text.splitlines() if line.startswith("│")]
    assert rows, text
    assert all(row.endswith("│") for row in rows), text  # the right edge is not cropped
    for whole in wholes:
        assert any(whole.replace(" ", "") in column for column in _columns(text)), text


def test_kafka_status_shows_whole_addresses_and_log_paths(tmp_path: Path) -> None:
    folder = tmp_path / "a-rather-long-folder-name-for-the-cluster" / "clusters" / "default"
    cluster = LocalCluster.plan(folder, nodes=1, port=19092)
    states = [NodeStatus(node, pid=4_194_303, running=True) for node in cluster.nodes]
    text = _at_80(kafka_status_table(cluster, states))
    _shows(text, "127.0.0.1:19092", "127.0.0.1:19093", str(cluster.nodes[0].log_path))


def test_pipeline_status_shows_whole_stage_names() -> None:
    stage = StageStatus(
        name="enrich-with-customers-and-regions",
        group="orders.enrich-with-customers-and-regions",
        inputs=(LONG_TOPIC,),
        kind="stage",
        workers=12,
        partitions=120,
        lag_records=12_345_678,
        lag_seconds=1234.5,
        in_per_s=123_456.0,
        out_per_s=123_456.0,
        records_in=123_456_789,
        out=123_456_789,
        produced=120_987_655,
        folded=None,
        filtered=1_234_567,
        dead_lettered=1_234_567,
        late=None,
        bottleneck=True,
    )
    text = _at_80(status_table(PipelineStatus("orders", 0.0, (stage,), stage.name)))
    _shows(text, "enrich-with-customers-and-regions", "123,456,789", "12,345,678")


def test_topics_plan_shows_whole_topic_names(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr(topics_commands, "console", Console(file=out, width=80, color_system=None))
    detail = "retention.ms 604800000 -> 86400000, cleanup.policy delete -> compact,delete"
    topics_commands.show(Plan(actions=(Action("alter-config", LONG_TOPIC, detail),)))
    _shows(out.getvalue(), LONG_TOPIC, detail)


def test_dead_letter_groups_show_whole_origin_topics(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr(dlq_commands, "console", Console(file=out, width=80, color_system=None))
    group = ErrorGroup(
        "streamworks.schemas.errors.ValueDecodeError",
        "cannot decode record value: schema id <n> not found in registry http://127.0.0.1:8081",
        count=3,
        origins={LONG_TOPIC: 3},
    )
    dlq_commands._print_groups(f"{LONG_TOPIC}.dlq", [group])
    _shows(out.getvalue(), f"{LONG_TOPIC} (3)", group.error_class, group.pattern)
