"""The registry's users file: who may log in, with which role, to see which subjects.

```json
{"users": {"orders-app": {"password": "scrypt$16384$8$1$...", "role": "read-only",
                          "subjects": ["orders.*"]}}}
```

``subjects`` are :mod:`fnmatch` patterns (``*`` by default): a user sees only the subjects
they match, and only the schema ids some visible subject uses. Passwords are stored as
:func:`~streamworks.registry.passwords.hash_password` hashes, never in clear.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from streamworks.registry.errors import UsersFileError
from streamworks.registry.passwords import hash_password, is_password_hash

__all__ = ["Role", "User", "add_user", "load_users", "save_users"]

Role = Literal["read-only", "read-write"]
_ROLES: tuple[str, ...] = get_args(Role)
_FILE_MODE = 0o600


@dataclass(frozen=True)
class User:
    """One registry user."""

    name: str
    """The login name (HTTP basic auth user)."""
    password_hash: str
    """The scrypt hash of the password (see :mod:`streamworks.registry.passwords`)."""
    role: Role = "read-only"
    """``read-only`` reads; ``read-write`` may also register, delete and change levels."""
    subjects: tuple[str, ...] = ("*",)
    """fnmatch patterns of the subjects the user may see (and, if read-write, write)."""

    @property
    def may_write(self) -> bool:
        """True for the read-write role."""
        return self.role == "read-write"

    @property
    def sees_everything(self) -> bool:
        """True when a pattern matches every subject (needed for global config changes)."""
        return "*" in self.subjects

    def sees(self, subject: str) -> bool:
        """True when one of the user's patterns matches ``subject`` (case-sensitively)."""
        return any(fnmatch.fnmatchcase(subject, pattern) for pattern in self.subjects)

    def __repr__(self) -> str:  # the hash stays out of reprs and logs too
        return f"User({self.name!r}, role={self.role!r}, subjects={list(self.subjects)!r})"


def load_users(path: Path) -> dict[str, User]:
    """The users of ``path`` by name; UsersFileError (naming the file and the entry) if bad."""
    try:
        data = json.loads(path.read_text())
    except OSError as error:
        raise UsersFileError(f"cannot read registry users file {path}: {error}") from error
    except ValueError as error:
        raise UsersFileError(f"registry users file {path} is not JSON: {error}") from error
    entries = data.get("users") if isinstance(data, dict) else None
    if not isinstance(entries, dict):
        raise UsersFileError(f'registry users file {path} must be {{"users": {{NAME: {{...}}}}}}')
    return {name: _user(path, name, entry) for name, entry in entries.items()}


def _user(path: Path, name: str, entry: Any) -> User:
    where = f"registry users file {path}, user {name!r}"
    if not isinstance(entry, dict):
        raise UsersFileError(f"{where}: must be an object with password, role and subjects")
    if not name or ":" in name:
        raise UsersFileError(f"{where}: a user name must be non-empty and without ':'")
    password = entry.get("password")
    if not isinstance(password, str) or not is_password_hash(password):
        raise UsersFileError(
            f"{where}: password must be a scrypt hash (streamworks registry users add writes one)"
        )
    role = entry.get("role", "read-only")
    if role not in _ROLES:
        raise UsersFileError(f"{where}: role must be one of {', '.join(_ROLES)}, not {role!r}")
    subjects = entry.get("subjects", ["*"])
    if (
        not isinstance(subjects, list)
        or not subjects
        or not all(isinstance(s, str) and s for s in subjects)
    ):
        raise UsersFileError(f"{where}: subjects must be a non-empty list of patterns")
    return User(name, password, role, tuple(subjects))


def save_users(path: Path, users: Mapping[str, User]) -> None:
    """Write ``users`` to ``path`` atomically, readable by its owner only (mode 0600)."""
    body = {
        "users": {
            user.name: {
                "password": user.password_hash,
                "role": user.role,
                "subjects": list(user.subjects),
            }
            for user in sorted(users.values(), key=lambda u: u.name)
        }
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    # mkstemp creates the file 0600, so the hashes are never readable by others, not even
    # for the instant before the rename
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w") as out:
            json.dump(body, out, indent=2)
            out.write("\n")
        Path(temporary).chmod(_FILE_MODE)
        Path(temporary).replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            Path(temporary).unlink()
        raise


def add_user(
    path: Path, name: str, password: str, role: Role, subjects: Sequence[str] = ("*",)
) -> User:
    """Add (or replace) user ``name`` in the file at ``path``, creating the file if needed."""
    users = load_users(path) if path.exists() else {}
    user = _user(
        path,
        name,
        {"password": hash_password(password), "role": role, "subjects": list(subjects)},
    )
    users[name] = user
    save_users(path, users)
    return user
