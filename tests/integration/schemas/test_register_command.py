"""``streamworks schemas register``: every contract, and with --pipeline its topics' too."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from streamworks.ops.cli import app
from streamworks.schemas.registry_client import RegistryClient
from streamworks.testing.helpers import unique_name
from streamworks.testing.registry import RegistryThread


def test_contracts_and_a_pipelines_topics_are_registered_once(
    schema_registry: RegistryThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = unique_name("shop")
    monkeypatch.setenv("STREAMWORKS_ORDERS_PREFIX", prefix)
    command = ["schemas", "register", "--registry", schema_registry.url, "--pipeline", "orders"]
    first = CliRunner().invoke(app, command)
    assert first.exit_code == 0, first.output
    client = RegistryClient(schema_registry.url)
    subjects = set(client.subjects())
    assert {"orders.raw-value", f"{prefix}.raw-value", f"{prefix}.enriched-value"} <= subjects
    assert {f"{prefix}.metrics.revenue-value", f"{prefix}.released-value"} <= subjects
    raw = client.latest(f"{prefix}.raw-value")
    assert raw.schema_id == client.latest("orders.raw-value").schema_id  # one schema, one id
    again = CliRunner().invoke(app, command)
    assert again.exit_code == 0, again.output
    assert client.latest(f"{prefix}.raw-value").version == raw.version  # nothing new
