"""The file_sd list for Prometheus: live workers' addresses, grouped by pipeline and stage."""

from __future__ import annotations

from typing import Any

from streamworks.ops.metrics_commands import file_sd_groups


def test_live_workers_are_grouped_and_stopped_ones_left_out() -> None:
    latest: dict[bytes, dict[str, Any]] = {
        b"a": {"pipeline": "orders", "stage": "clean", "metrics": "127.0.0.1:9502"},
        b"b": {"pipeline": "orders", "stage": "clean", "metrics": "127.0.0.1:9501"},
        b"c": {"pipeline": "orders", "stage": "enrich", "metrics": "127.0.0.1:9503"},
        b"d": {
            "pipeline": "orders",
            "stage": "enrich",
            "metrics": "127.0.0.1:9504",
            "stopped": True,
        },
        b"e": {"pipeline": "orders", "stage": "format"},  # an older worker without metrics
    }
    assert file_sd_groups(latest) == [
        {
            "targets": ["127.0.0.1:9501", "127.0.0.1:9502"],
            "labels": {"pipeline": "orders", "stage": "clean"},
        },
        {"targets": ["127.0.0.1:9503"], "labels": {"pipeline": "orders", "stage": "enrich"}},
    ]
