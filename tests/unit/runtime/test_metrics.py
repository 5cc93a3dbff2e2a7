"""Metrics: the exposition over HTTP, the worker hooks, and the dashboard's references."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import aiohttp
import pytest
import yaml
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from streamworks.connectors.base import _metrics as connector_metrics
from streamworks.core.settings import Settings
from streamworks.registry import metrics as registry_metrics
from streamworks.runtime import metrics
from streamworks.runtime.metrics import MetricsServer, StageMetrics
from streamworks.runtime.processor import Counts

ROOT = Path(__file__).resolve().parents[3]


def _sample(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def _labels(worker: str) -> dict[str, str]:
    return {"pipeline": "shop", "stage": "clean", "worker": worker}


def test_counted_adds_every_field_of_counts() -> None:
    worker = uuid.uuid4().hex
    stage = StageMetrics("shop", "clean", worker)
    stage.counted(Counts(records_in=10, out=6, filtered=3, dead_lettered=1, records_written=7))
    stage.counted(Counts(records_in=2, out=2, records_written=2, retries=1))
    labels = _labels(worker)
    assert _sample("streamworks_records_in_total", **labels) == 12
    assert _sample("streamworks_records_out_total", **labels) == 9  # written, as in status
    assert _sample("streamworks_records_produced_total", **labels) == 8
    assert _sample("streamworks_records_filtered_total", **labels) == 3
    assert _sample("streamworks_records_dead_lettered_total", **labels) == 1
    assert _sample("streamworks_records_written_total", **labels) == 9
    assert _sample("streamworks_records_retries_total", **labels) == 1
    assert _sample("streamworks_records_late_total", **labels) == 0


def test_batches_commits_rebalances_and_restores_are_recorded() -> None:
    worker = uuid.uuid4().hex
    stage = StageMetrics("shop", "clean", worker)
    stage.batch(250, 0.02)
    stage.batch(10, 0.001)
    stage.committed(0.004)
    stage.rebalanced()
    stage.restoring(3, 50, 200)
    stage.restored(200)
    labels = _labels(worker)
    assert _sample("streamworks_batch_records_count", **labels) == 2
    assert _sample("streamworks_batch_records_sum", **labels) == 260
    assert _sample("streamworks_batch_seconds_bucket", **labels, le="0.025") == 2
    assert _sample("streamworks_batch_seconds_bucket", **labels, le="0.01") == 1
    assert _sample("streamworks_commit_seconds_count", **labels) == 1
    assert _sample("streamworks_rebalances_total", **labels) == 1
    assert _sample("streamworks_restore_progress_ratio", **labels, partition="3") == 0.25
    stage.restoring(4, 0, 0)  # an empty changelog is restored at once
    assert _sample("streamworks_restore_progress_ratio", **labels, partition="4") == 1.0
    assert _sample("streamworks_restored_records_total", **labels) == 200


def test_lag_of_revoked_partitions_is_dropped() -> None:
    worker = uuid.uuid4().hex
    stage = StageMetrics("shop", "clean", worker)
    stage.lag("orders.raw", 0, 40)
    stage.lag("orders.raw", 1, 0)
    labels = _labels(worker)
    assert _sample("streamworks_lag_records", **labels, topic="orders.raw", partition="0") == 40
    stage.forget({("orders.raw", 0)})
    assert _sample("streamworks_lag_records", **labels, topic="orders.raw", partition="0") is None
    assert _sample("streamworks_lag_records", **labels, topic="orders.raw", partition="1") == 0
    stage.forget()
    assert _sample("streamworks_lag_records", **labels, topic="orders.raw", partition="1") is None


def test_connector_figures() -> None:
    name = f"c{uuid.uuid4().hex[:8]}"
    source = connector_metrics.ConnectorMetrics(name, "generator")
    source.produced(64, 2)
    source.retried()
    sink = connector_metrics.ConnectorMetrics(name, "jsonl")
    sink.wrote(30, 0.01)
    assert (
        _sample("streamworks_connector_records_produced_total", connector=name, kind="generator")
        == 64
    )
    assert (
        _sample(
            "streamworks_connector_records_dead_lettered_total", connector=name, kind="generator"
        )
        == 2
    )
    assert _sample("streamworks_connector_retries_total", connector=name, kind="generator") == 1
    assert (
        _sample("streamworks_connector_records_written_total", connector=name, kind="jsonl") == 30
    )
    assert _sample("streamworks_connector_write_seconds_count", connector=name, kind="jsonl") == 1


async def test_server_exposes_text_format_on_loopback() -> None:
    worker = uuid.uuid4().hex
    StageMetrics("shop", "clean", worker).counted(Counts(records_in=5, out=5))
    server = MetricsServer(Settings(metrics_port=0))
    await server.start()
    try:
        assert server.address is not None
        assert server.address.startswith("127.0.0.1:")
        assert server.details() == {"metrics": server.address}
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://{server.address}/metrics") as response,
        ):
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain; version=")
            text = await response.text()
    finally:
        await server.stop()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    samples = [
        s for s in families["streamworks_records_in"].samples if s.labels.get("worker") == worker
    ]
    assert [s.value for s in samples if s.name.endswith("_total")] == [5]
    assert "process_cpu_seconds" in families  # the process collector comes along


# -- the Prometheus config and the Grafana dashboard -------------------------------------------


def _metric_names() -> set[str]:
    """Every sample name our families expose (counters' _total, histograms' parts)."""
    names: set[str] = set()
    families = [
        *metrics.RECORDS.values(),
        metrics.BATCH_SECONDS,
        metrics.BATCH_RECORDS,
        metrics.COMMIT_SECONDS,
        metrics.LAG,
        metrics.REBALANCES,
        metrics.RESTORE_PROGRESS,
        metrics.RESTORED,
        connector_metrics.PRODUCED,
        connector_metrics.WRITTEN,
        connector_metrics.DEAD_LETTERED,
        connector_metrics.RETRIES,
        connector_metrics.WRITE_SECONDS,
        registry_metrics.REQUESTS,
        registry_metrics.REQUEST_SECONDS,
    ]
    for family in families:
        for collected in family.collect():
            kind, base = collected.type, collected.name
            if kind == "counter":
                names.add(f"{base}_total")
            elif kind == "histogram":
                names.update(f"{base}_{part}" for part in ("bucket", "sum", "count"))
            else:
                names.add(base)
    return names


def _dashboard_exprs() -> list[str]:
    dashboard = json.loads((ROOT / "ops/grafana/streamworks.json").read_text())
    return [
        target["expr"]
        for panel in dashboard["panels"]
        for target in panel.get("targets", ())
        if "expr" in target
    ]


def test_every_dashboard_expression_names_known_metrics() -> None:
    known = _metric_names()
    exprs = _dashboard_exprs()
    assert len(exprs) >= 6
    functions = {"sum", "rate", "by", "histogram_quantile", "max", "le", "increase", "topk", "min"}
    for expr in exprs:
        used = {
            word
            for word in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", re.sub(r"\{[^}]*\}", "", expr))
            if word.startswith("streamworks_")
        }
        assert used, f"{expr!r} names no streamworks metric"
        assert used <= known, f"{expr!r} names unknown metrics {used - known}"
        leftovers = set(re.findall(r"\b[a-z_]+(?=\()", expr)) - functions
        assert not leftovers, f"{expr!r} calls {leftovers}"


def test_prometheus_and_provisioning_files_are_valid() -> None:
    config = yaml.safe_load((ROOT / "ops/prometheus/prometheus.yml").read_text())
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    assert {"streamworks-workers", "streamworks-connectors", "streamworks-registry"} <= jobs
    for job in config["scrape_configs"]:
        assert job.get("metrics_path", "/metrics") == "/metrics"
    provisioning = yaml.safe_load((ROOT / "ops/grafana/provisioning/dashboards.yaml").read_text())
    assert provisioning["providers"][0]["type"] == "file"
    datasources = yaml.safe_load((ROOT / "ops/grafana/provisioning/datasources.yaml").read_text())
    assert datasources["datasources"][0]["type"] == "prometheus"


@pytest.mark.parametrize("port", [-1, 70000])
def test_metrics_port_is_bounded(port: int) -> None:
    with pytest.raises(ValueError, match="metrics_port"):
        Settings(metrics_port=port)
