"""Checking the working tree's contracts against what readers already depend on.

Two baselines: the schemas registered in a registry (every live version, under each
subject's own compatibility level), or the contracts of another git revision (compared
under one level, BACKWARD by default).
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from streamworks.schemas.catalog import Contract, load_contracts
from streamworks.schemas.compatibility import check
from streamworks.schemas.errors import SchemaError, SchemaNotFoundError
from streamworks.schemas.registry_client import RegistryClient

__all__ = [
    "SubjectCheck",
    "against_registry",
    "against_revision",
    "folder_subjects",
    "register_all",
]

Outcome = Literal["compatible", "new", "unchanged", "incompatible"]


@dataclass(frozen=True)
class SubjectCheck:
    """The verdict for one contract."""

    subject: str
    """The registry subject (``<topic>-value``)."""
    outcome: Outcome
    """compatible, new (nothing to break), unchanged, or incompatible."""
    level: str
    """The compatibility level it was judged under."""
    problems: tuple[str, ...] = field(default=())
    """Why it is incompatible: each names the field that breaks."""


def folder_subjects(directory: Path) -> dict[str, Contract]:
    """The contracts of a folder by subject: ``<file name>-value`` (files named by topic)."""
    return {found.subject: found for found in load_contracts(directory).values()}


def against_registry(
    client: RegistryClient, subjects: Mapping[str, Contract]
) -> list[SubjectCheck]:
    """Each subject's contract against every live version registered for the subject."""
    results = []
    for subject, found in sorted(subjects.items()):
        try:
            versions = client.versions(subject)
        except SchemaNotFoundError:
            results.append(SubjectCheck(subject, "new", client.compatibility()))
            continue
        level = client.compatibility(subject)
        existing = [client.version(subject, v) for v in versions]
        if any(_same(found.schema_str, e.schema) for e in existing[-1:]):
            results.append(SubjectCheck(subject, "unchanged", level))
            continue
        problems = check(
            found.schema_str,
            [e.schema for e in existing],
            level,
            labels=[f"registered version {e.version} (id {e.schema_id})" for e in existing],
        )
        results.append(_verdict(subject, level, problems))
    return results


def against_revision(revision: str, directory: Path, level: str = "BACKWARD") -> list[SubjectCheck]:
    """Each contract in ``directory`` against the same file at git ``revision``."""
    root = Path(_git(directory, "rev-parse", "--show-toplevel").strip()).resolve()
    relative = directory.resolve().relative_to(root)
    with tempfile.TemporaryDirectory() as scratch:
        listing = _git(root, "ls-tree", "--name-only", f"{revision}:{relative.as_posix()}")
        for name in listing.split():
            if name.endswith(".avsc"):
                text = _git(root, "show", f"{revision}:{(relative / name).as_posix()}")
                (Path(scratch) / name).write_text(text)
        before = load_contracts(Path(scratch))
    results = []
    for topic, found in load_contracts(directory).items():
        old = before.get(topic)
        if old is None:
            results.append(SubjectCheck(found.subject, "new", level))
        elif _same(found.schema_str, old.schema_str):
            results.append(SubjectCheck(found.subject, "unchanged", level))
        else:
            problems = check(found.schema_str, [old.schema_str], level, labels=[revision])
            results.append(_verdict(found.subject, level, problems))
    return results


def register_all(client: RegistryClient, subjects: Mapping[str, Contract]) -> dict[str, int]:
    """Register each subject's contract; return subject -> global id."""
    return {
        subject: client.register(subject, found.schema_str)
        for subject, found in sorted(subjects.items())
    }


def _verdict(subject: str, level: str, problems: Sequence[str]) -> SubjectCheck:
    outcome: Outcome = "incompatible" if problems else "compatible"
    return SubjectCheck(subject, outcome, level, tuple(problems))


def _same(left: str, right: str) -> bool:
    return bool(json.loads(left) == json.loads(right))


def _git(directory: Path, *args: str) -> str:
    try:
        result = subprocess.run(  # noqa: S603 - fixed git subcommands, no shell
            ["git", *args],  # noqa: S607 - git from PATH, like a developer runs it
            cwd=directory,
            capture_output=True,
            text=True,
            check=False,
        )
    except FileNotFoundError as error:
        raise SchemaError(
            "`git` is not on PATH; it is needed to compare with a revision"
        ) from error
    if result.returncode != 0:
        raise SchemaError(f"git {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout
