"""Connector files: validated configs, and errors that name the file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.generator import GeneratorConfig
from streamworks.connectors.base import ConnectorConfigError
from streamworks.connectors.kinds import load_file

GENERATOR = "connectors.generator:GeneratorConfig"
"""The reference project's own connector kind, named by reference."""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "connect.yaml"
    path.write_text(text)
    return path


def test_a_valid_file_gives_typed_configs_with_environment_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORDERS_TOPIC", "orders.raw")
    path = write(
        tmp_path,
        "connectors:\n"
        "  - name: load\n"
        f"    kind: {GENERATOR}\n"
        "    topic: ${ORDERS_TOPIC}\n"
        "    count: ${ORDER_COUNT:-500}\n",
    )
    [config] = load_file(path)
    assert isinstance(config, GeneratorConfig)
    assert (config.topic, config.count, config.dlq_topic) == ("orders.raw", 500, "connect.load.dlq")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("connectors:\n  - name: a\n    kind: generatr\n", ":3: connectors.0.kind: unknown kind"),
        (
            f"connectors:\n  - name: a\n    kind: {GENERATOR}\n    topic: t\n    rate: -1\n",
            ":5: connectors.0.rate: Input should be greater than 0",
        ),
        (
            f"connectors:\n  - name: a\n    kind: {GENERATOR}\n    topic: t\n    ratee: 5\n",
            ":5: connectors.0.ratee: Extra inputs are not permitted",
        ),
        (
            f"connectors:\n  - name: a\n    kind: {GENERATOR}\n",
            ":2: connectors.0.topic: Field required",
        ),
        ("connectors: [\n", "not valid YAML"),
        ("sources: []\n", ":1: (top level): the file must hold one key"),
        (
            "connectors:\n  - {name: a, kind: connectors.generator:GeneratorConfig, topic: t}\n"
            "  - {name: a, kind: connectors.generator:GeneratorConfig, topic: u}\n",
            ":3: connectors.1.name: two connectors are called a",
        ),
        (
            f"connectors:\n  - name: a\n    kind: {GENERATOR}\n"
            "    topic: ${NO_SUCH_VARIABLE_X}\n",
            ":4: connectors.0.topic: environment variable NO_SUCH_VARIABLE_X is not set",
        ),
    ],
)
def test_errors_name_line_and_key(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConnectorConfigError) as caught:
        load_file(path)
    assert expected in str(caught.value)
    assert str(caught.value).startswith(str(path))


def test_the_flagship_connector_files_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMWORKS_ORDERS_PREFIX", "shop")
    monkeypatch.setenv("STREAMWORKS_POSTGRES_URL", "postgresql://u@127.0.0.1:5432/db")
    from ops.demo.services import INGEST_FILE, SINKS_FILE  # noqa: PLC0415

    ingest, sinks = load_file(INGEST_FILE), load_file(SINKS_FILE)
    assert [(c.kind, c.name) for c in ingest] == [("http", "shop-http"), ("files", "shop-files")]
    assert {c.kind for c in sinks} == {"postgres"}
    assert sorted(t for c in sinks for t in getattr(c, "topics", [])) == [
        "shop.enriched",
        "shop.metrics.revenue",
    ]
