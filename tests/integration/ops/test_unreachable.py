"""A broker or a registry that is down: every command says so in one line and exits 1.

Each command runs as a user runs it, against a loopback port that nothing listens on; no
traceback, no log line from aiokafka, and the address it tried is named.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "streamworks"]
REPO = Path(__file__).resolve().parents[3]  # the reference project: pipeline orders


@pytest.fixture(scope="module")
def closed_address() -> str:
    """host:port of a loopback port that was free a moment ago and that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        host, port = probe.getsockname()
    return f"{host}:{port}"


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
        timeout=120,  # the commands give up on their own long before this
    )


def _one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.mark.parametrize(
    "command",
    [
        ["status", "orders"],
        ["status", "orders", "--json"],
        ["topics", "plan", "orders"],
        ["topics", "apply", "orders"],
        ["run", "orders"],
        ["worker", "orders", "--stage", "clean"],
        ["dlq", "inspect", "orders", "clean"],
        ["dlq", "replay", "orders", "clean"],
        ["consume", "orders.raw"],
        ["registry", "--port", "0"],
    ],
    ids=" ".join,
)
def test_a_down_broker_is_one_line_naming_it(command: list[str], closed_address: str) -> None:
    line = _one_line(_run(command, STREAMWORKS_BOOTSTRAP_SERVERS=closed_address))
    assert f"no Kafka broker answers at {closed_address}" in line
    assert "streamworks kafka up" in line


@pytest.mark.parametrize(
    "command",
    [
        ["status", "orders"],
        ["topics", "plan", "orders"],
        ["run", "orders"],
        ["worker", "orders", "--stage", "clean"],
        ["dlq", "inspect", "orders", "clean"],
        ["consume", "orders.raw"],
    ],
    ids=" ".join,
)
def test_bootstrap_given_as_an_option_is_the_one_used(
    command: list[str], closed_address: str
) -> None:
    # the variable points elsewhere: the option wins, as for every typer option
    line = _one_line(
        _run([*command, "--bootstrap", closed_address], STREAMWORKS_BOOTSTRAP_SERVERS="127.0.0.1:1")
    )
    assert f"no Kafka broker answers at {closed_address}" in line


def test_produce_to_a_down_broker_is_the_same_one_line(closed_address: str, tmp_path: Path) -> None:
    records = tmp_path / "orders.jsonl"
    records.write_text('{"order_id": "o-1"}\n')
    line = _one_line(
        _run(["produce", "orders.raw", str(records)], STREAMWORKS_BOOTSTRAP_SERVERS=closed_address)
    )
    assert f"no Kafka broker answers at {closed_address}" in line


def test_a_down_registry_is_one_line_naming_it(closed_address: str) -> None:
    url = f"http://{closed_address}"
    line = _one_line(_run(["schemas", "register"], STREAMWORKS_REGISTRY_URL=url))
    assert f"the schema registry at {url} does not answer" in line
    assert "streamworks registry" in line
