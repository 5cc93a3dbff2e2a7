"""Parsing pool sizes and finding pipelines: clear errors for bad input."""

from __future__ import annotations

import pytest

from streamworks.core.errors import ConfigurationError
from streamworks.ops.project import load_pipeline
from streamworks.ops.run_commands import parse_pools

STAGES = ["clean", "format", "validate", "enrich"]


def test_pool_sizes_default_to_one_worker() -> None:
    assert parse_pools("clean=2, validate=3", STAGES) == {
        "clean": 2,
        "format": 1,
        "validate": 3,
        "enrich": 1,
    }
    assert parse_pools("", STAGES) == dict.fromkeys(STAGES, 1)


@pytest.mark.parametrize("text", ["nope=2", "clean=two", "clean"])
def test_bad_pool_sizes_name_the_stages(text: str) -> None:
    with pytest.raises(ConfigurationError, match="stage=count pairs for stages clean, format"):
        parse_pools(text, STAGES)


def test_pipelines_load_by_name_or_reference() -> None:
    assert list(load_pipeline("orders").stages) == [
        *STAGES,
        "revenue.repartition",
        "revenue",
        "totals",
        "checks",
        "stock",
        "fraud",
        "shipping",
        "release",
    ]
    assert load_pipeline("streams.orders.app:build").name == "orders"
    with pytest.raises(ConfigurationError, match="neither named in the project"):
        load_pipeline("no-such-pipeline")
    with pytest.raises(ConfigurationError, match="cannot load pipeline"):
        load_pipeline("streams.nowhere:build")
    with pytest.raises(ConfigurationError, match="not a Pipeline"):
        load_pipeline("streamworks.ops.project:_TABLE")
