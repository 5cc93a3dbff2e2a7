"""Registry users: password hashes, the users file, and checking a basic-auth header."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest

from streamworks.registry.auth import Authenticator
from streamworks.registry.errors import UnauthorizedError, UsersFileError
from streamworks.registry.passwords import hash_password, verify_password
from streamworks.registry.users import User, add_user, load_users


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# -- hashes ---------------------------------------------------------------------------------


def test_a_hash_verifies_its_password_only() -> None:
    encoded = hash_password("correct horse")
    assert verify_password("correct horse", encoded)
    assert not verify_password("correct hors", encoded)
    assert not verify_password("", encoded)
    assert "correct horse" not in encoded


def test_two_hashes_of_one_password_differ_by_their_salt() -> None:
    first, second = hash_password("pw"), hash_password("pw")
    assert first != second
    assert verify_password("pw", first)
    assert verify_password("pw", second)


@pytest.mark.parametrize(
    "encoded",
    [
        "",
        "plain-text-password",
        "bcrypt$16384$8$1$c2FsdA==$aGFzaA==",
        "scrypt$abc$8$1$c2FsdA==$aGFzaA==",
        "scrypt$16384$8$1$not base64!$aGFzaA==",
        "scrypt$16384$8$1$c2FsdA==$",
        "scrypt$1073741824$8$1$c2FsdA==$aGFzaA==",  # would take a GiB and seconds
    ],
)
def test_a_malformed_hash_never_verifies(encoded: str) -> None:
    assert not verify_password("anything", encoded)


# -- the users file -------------------------------------------------------------------------


def test_add_user_writes_a_file_only_its_owner_can_read(tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    add_user(path, "orders-app", "s3cret", "read-only", ["orders.*"])
    add_user(path, "admin", "t0p", "read-write")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "s3cret" not in path.read_text()
    users = load_users(path)
    assert users["orders-app"].role == "read-only"
    assert users["orders-app"].subjects == ("orders.*",)
    assert users["admin"].subjects == ("*",)
    assert verify_password("s3cret", users["orders-app"].password_hash)
    assert [p.name for p in tmp_path.iterdir()] == ["users.json"]  # no temporary left


def test_add_user_replaces_a_user_of_the_same_name(tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    add_user(path, "app", "old", "read-only")
    add_user(path, "app", "new", "read-write", ["payments.*"])
    user = load_users(path)["app"]
    assert (user.role, user.subjects) == ("read-write", ("payments.*",))
    assert verify_password("new", user.password_hash)


def test_patterns_decide_what_a_user_sees() -> None:
    user = User("app", "x", "read-only", ("orders.*", "customers-value"))
    assert user.sees("orders.raw-value")
    assert user.sees("customers-value")
    assert not user.sees("payments.raw-value")
    assert not user.sees("Orders.raw-value")  # case-sensitive, as subjects are
    assert not user.sees_everything
    assert "x" not in repr(user)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("{", "is not JSON"),
        ('{"people": {}}', '{"users"'),
        ('{"users": {"a": {"password": "plain", "role": "read-only"}}}', "scrypt hash"),
        ('{"users": {"a": {"password": "HASH", "role": "admin"}}}', "role must be one of"),
        ('{"users": {"a": {"password": "HASH", "subjects": []}}}', "non-empty list"),
        ('{"users": {"a:b": {"password": "HASH"}}}', "without ':'"),
    ],
)
def test_a_bad_users_file_is_refused_naming_the_problem(
    tmp_path: Path, body: str, problem: str
) -> None:
    path = tmp_path / "users.json"
    path.write_text(body.replace("HASH", hash_password("pw")))
    with pytest.raises(UsersFileError, match=r"users file") as raised:
        load_users(path)
    assert problem in str(raised.value)
    assert "\n" not in str(raised.value)


# -- checking logins ------------------------------------------------------------------------


@pytest.fixture
def users_file(tmp_path: Path) -> Path:
    path = tmp_path / "users.json"
    add_user(path, "reader", "r-pass", "read-only", ["orders.*"])
    return path


async def test_a_valid_login_names_its_user(users_file: Path) -> None:
    authenticator = Authenticator(users_file)
    user = await authenticator.authenticate(basic("reader", "r-pass"))
    assert (user.name, user.role) == ("reader", "read-only")
    # the second check is served from the short cache and says the same
    assert await authenticator.authenticate(basic("reader", "r-pass")) == user


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer abc",
        "Basic !!!not-base64",
        basic("reader", "wrong"),
        basic("nobody", "r-pass"),
    ],
)
async def test_anything_else_is_unauthorized(users_file: Path, header: str | None) -> None:
    authenticator = Authenticator(users_file)
    await authenticator.authenticate(basic("reader", "r-pass"))  # a cached good login...
    with pytest.raises(UnauthorizedError) as raised:  # ...lets no other password in
        await authenticator.authenticate(header)
    assert raised.value.status == 401
    assert "r-pass" not in str(raised.value)


async def test_a_changed_users_file_is_picked_up_and_old_logins_forgotten(
    users_file: Path,
) -> None:
    authenticator = Authenticator(users_file, reload_seconds=0.0)
    await authenticator.authenticate(basic("reader", "r-pass"))
    add_user(users_file, "reader", "rotated", "read-only", ["orders.*"])
    with pytest.raises(UnauthorizedError):
        await authenticator.authenticate(basic("reader", "r-pass"))
    assert (await authenticator.authenticate(basic("reader", "rotated"))).name == "reader"


async def test_a_broken_edit_keeps_the_users_loaded_before(users_file: Path) -> None:
    authenticator = Authenticator(users_file, reload_seconds=0.0)
    broken = json.dumps({"users": {"reader": {"password": "oops"}}})
    users_file.write_text(broken)  # noqa: ASYNC240 - a tiny local write in a test
    assert (await authenticator.authenticate(basic("reader", "r-pass"))).name == "reader"
