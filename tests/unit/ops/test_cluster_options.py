"""One way to point a command at a cluster: ``--bootstrap`` on every command that connects,
``--registry`` on those that read or write Avro, each the same as its variable."""

from __future__ import annotations

import os

import pytest
from typer.testing import CliRunner

from streamworks.ops.cli import app
from streamworks.ops.cluster_options import point_at

CONNECTING = [
    ["run"],
    ["worker"],
    ["status"],
    ["dashboard"],
    ["connect"],
    ["produce"],
    ["consume"],
    ["topics", "plan"],
    ["topics", "apply"],
    ["dlq", "inspect"],
    ["dlq", "replay"],
    ["table", "get"],
    ["acl", "apply"],
    ["metrics", "targets"],
    ["registry"],
]
AVRO = [["run"], ["worker"], ["dashboard"], ["connect"], ["produce"], ["consume"]]


def _help(command: list[str]) -> str:
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("command", CONNECTING, ids=" ".join)
def test_every_command_that_connects_takes_bootstrap(command: list[str]) -> None:
    assert "--bootstrap" in _help(command)


@pytest.mark.parametrize("command", AVRO, ids=" ".join)
def test_the_commands_that_read_or_write_avro_take_registry(command: list[str]) -> None:
    assert "--registry" in _help(command)


def test_the_options_become_the_settings_of_the_command_and_what_it_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STREAMWORKS_BOOTSTRAP_SERVERS", "10.0.0.1:9092")
    monkeypatch.setenv("STREAMWORKS_REGISTRY_URL", "http://10.0.0.1:8081")
    point_at(None, None)  # not given: the variables stay
    assert os.environ["STREAMWORKS_BOOTSTRAP_SERVERS"] == "10.0.0.1:9092"
    point_at("10.0.0.2:9092", "http://10.0.0.2:8081")
    assert os.environ["STREAMWORKS_BOOTSTRAP_SERVERS"] == "10.0.0.2:9092"
    assert os.environ["STREAMWORKS_REGISTRY_URL"] == "http://10.0.0.2:8081"
