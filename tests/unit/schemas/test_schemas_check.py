"""`streamworks schemas check --against REV` blocks a change that would break readers."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from streamworks.ops.cli import app
from tests.kit import CONTRACTS as CONTRACTS_DIR


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    contracts = tmp_path / "contracts"
    contracts.mkdir()
    for name in ("kit.labels.avsc", "kit.readings.avsc", "kit.alarms.avsc"):
        shutil.copy(CONTRACTS_DIR / name, contracts / name)
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-qm", "contracts")
    return contracts


def _add_field(path: Path, field: dict[str, object]) -> None:
    schema = json.loads(path.read_text())
    schema["fields"].append(field)
    path.write_text(json.dumps(schema))


def _check(contracts: Path) -> tuple[int, str]:
    result = CliRunner().invoke(
        app,
        ["schemas", "check", "--against", "HEAD", "--dir", str(contracts)],
        env={"COLUMNS": "200"},
    )
    return result.exit_code, result.output


def test_unchanged_contracts_pass(repo: Path) -> None:
    code, output = _check(repo)
    assert code == 0, output
    assert "unchanged" in output


def test_a_new_field_without_default_is_blocked_and_named(repo: Path) -> None:
    _add_field(repo / "kit.labels.avsc", {"name": "site", "type": "string", "doc": "Where."})
    code, output = _check(repo)
    assert code == 1
    assert "kit.labels-value" in output
    assert "site" in output


def test_a_new_field_with_default_is_compatible(repo: Path) -> None:
    _add_field(
        repo / "kit.labels.avsc",
        {"name": "site", "type": ["null", "string"], "default": None, "doc": "Where."},
    )
    code, output = _check(repo)
    assert code == 0, output
    assert "compatible" in output


def test_a_breaking_change_in_a_nested_record_names_its_field(repo: Path) -> None:
    readings = repo / "kit.readings.avsc"
    schema = json.loads(readings.read_text())
    for field in schema["fields"]:
        if field["name"] == "value":
            field["type"] = "string"  # double -> string cannot be read
    readings.write_text(json.dumps(schema))
    code, output = _check(repo)
    assert code == 1
    assert "kit.alarms-value" in output  # the alarm embeds the reading
    assert "reading.value" in output
