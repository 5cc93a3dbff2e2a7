"""``streamworks registry users add|remove``: the password comes from stdin, never argv."""

from __future__ import annotations

import stat
from pathlib import Path

from typer.testing import CliRunner

from streamworks.ops.registry_commands import app
from streamworks.registry.passwords import verify_password
from streamworks.registry.users import load_users

runner = CliRunner()


def test_users_add_reads_the_password_from_stdin_and_writes_0600(tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    args = ["users", "add", "orders-app", "--role", "read-only", "--subjects", "orders.*"]
    result = runner.invoke(
        app, [*args, "--subjects", "customers-value", "--file", str(path)], input="s3cret-pw\n"
    )
    assert result.exit_code == 0, result.output
    assert "s3cret-pw" not in result.output
    user = load_users(path)["orders-app"]
    assert user.subjects == ("orders.*", "customers-value")
    assert verify_password("s3cret-pw", user.password_hash)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_users_add_refuses_an_empty_password_or_an_unknown_role(tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    empty = runner.invoke(app, ["users", "add", "a", "--file", str(path)], input="\n")
    assert empty.exit_code == 2
    assert "password is empty" in empty.output
    role = runner.invoke(
        app, ["users", "add", "a", "--role", "admin", "--file", str(path)], input="pw\n"
    )
    assert role.exit_code == 2
    assert "--role must be one of read-only, read-write" in role.output
    assert not path.exists()


def test_users_file_comes_from_the_environment_too(tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    env = {"STREAMWORKS_REGISTRY_USERS_FILE": str(path)}
    added = runner.invoke(
        app, ["users", "add", "admin", "--role", "read-write"], input="pw\n", env=env
    )
    assert added.exit_code == 0, added.output
    assert load_users(path)["admin"].role == "read-write"
    removed = runner.invoke(app, ["users", "remove", "admin"], env=env)
    assert removed.exit_code == 0, removed.output
    assert load_users(path) == {}
    again = runner.invoke(app, ["users", "remove", "admin"], env=env)
    assert again.exit_code == 1
    assert "has no user admin" in again.output
