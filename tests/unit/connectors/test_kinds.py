"""Connector kinds: each model is paired with the connector it builds, built-in or the project's."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import pytest

from connectors.generator import GENERATOR, GeneratorConfig, GeneratorSource
from streamworks.connectors.base import (
    ConnectorConfigError,
    Kind,
    Source,
    SourceConfig,
    SourceContext,
    kind_of,
    register_kind,
)
from streamworks.connectors.base.worker import ConnectWorker
from streamworks.connectors.files import FileSource, JsonlSink
from streamworks.connectors.http import HttpSource
from streamworks.connectors.kinds import KINDS, load_file
from streamworks.connectors.postgres.sink import PostgresSink
from streamworks.connectors.webhook import WebhookSink
from streamworks.core.settings import Settings


class Unregistered(SourceConfig):
    """A project model whose package never registered a kind for it."""

    kind: Literal["unregistered"] = "unregistered"


class Quiet(Source):
    """Produces nothing."""

    async def run(self, context: SourceContext) -> None:
        return None


def test_every_built_in_kind_is_named_as_its_model_says() -> None:
    for name, kind in KINDS.items():
        assert kind.config.model_fields["kind"].default == name
        assert kind_of(kind.config) is kind


def test_the_built_in_kinds_build_their_connectors(tmp_path: Path) -> None:
    configs: dict[str, tuple[dict[str, Any], type[Any]]] = {
        "files": ({"topic": "t", "directory": tmp_path}, FileSource),
        "http": ({"topic": "t"}, HttpSource),
        "jsonl": ({"topics": ["t"], "directory": tmp_path}, JsonlSink),
        "postgres": (
            {"topics": ["t"], "url": "postgresql://u@h/db", "table": "t", "key": ["id"]},
            PostgresSink,
        ),
        "webhook": ({"topics": ["t"], "url": "http://127.0.0.1:9/hook"}, WebhookSink),
    }
    assert set(configs) == set(KINDS)
    for name, (fields, connector_class) in configs.items():
        config = KINDS[name].config(name=f"a-{name}", **fields)
        connector = kind_of(type(config)).build(config)
        assert isinstance(connector, connector_class)
        assert connector.name == f"a-{name}"


def test_the_project_kind_named_by_reference_builds_the_generator(tmp_path: Path) -> None:
    path = tmp_path / "connect.yaml"
    path.write_text(
        "connectors:\n  - {name: load, kind: connectors.generator:GeneratorConfig, topic: t}\n"
    )
    [config] = load_file(path)
    assert isinstance(config, GeneratorConfig)
    assert kind_of(GeneratorConfig) is GENERATOR
    assert isinstance(GENERATOR.build(config), GeneratorSource)


def test_a_project_model_without_a_kind_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "connect.yaml"
    path.write_text(
        "connectors:\n  - name: a\n"
        "    kind: tests.unit.connectors.test_kinds:Unregistered\n    topic: t\n"
    )
    with pytest.raises(ConnectorConfigError) as caught:
        load_file(path)
    message = str(caught.value)
    assert ":3: connectors.0.kind: no connector kind is registered for" in message
    assert "register_kind(Kind(Unregistered, <its Source or Sink class>))" in message


def test_a_worker_refuses_a_model_without_a_kind_before_it_starts() -> None:
    with pytest.raises(ConnectorConfigError, match="no connector kind is registered"):
        ConnectWorker([Unregistered(name="a", topic="t")], Settings())


def test_a_subclass_of_a_model_is_of_its_kind() -> None:
    class Bigger(GeneratorConfig):
        pass

    assert kind_of(Bigger) is GENERATOR


def test_a_second_factory_for_a_registered_model_is_refused() -> None:
    class Mine(SourceConfig):
        kind: Literal["mine"] = "mine"

    def quiet(config: Mine) -> Quiet:
        return Quiet(config.name)

    mine = register_kind(Kind(Mine, quiet))
    assert register_kind(Kind(Mine, quiet)) == mine  # registering again changes nothing
    with pytest.raises(ConnectorConfigError, match="already the model of another kind"):
        register_kind(Kind(Mine, lambda config: Quiet(config.name)))
