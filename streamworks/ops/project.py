"""The user's project: where its pipelines, contracts, topics file and demo are.

A project is a folder whose ``pyproject.toml`` has a ``[tool.streamworks]`` table::

    [tool.streamworks]
    pipelines = { orders = "streams.orders:build" }   # name -> module:attribute
    contracts = "schemas/contracts"                   # folder of .avsc files
    topics = "ops/topics.yaml"                        # topics-as-code overlay
    demo = "ops.demo:demo"                            # what `streamworks demo` runs

Every command finds it by walking up from the working directory (or from
``STREAMWORKS_PROJECT``), puts its folder first on ``sys.path`` so its packages import, and
makes its contracts known. A command run outside any project still takes
``package.module:attribute`` references to code on the path.
"""

from __future__ import annotations

import importlib
import os
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streamworks.core.errors import ConfigurationError
from streamworks.pipeline.graph import Pipeline
from streamworks.schemas.catalog import use_contracts

__all__ = ["Project", "activate", "current", "find_project", "load_object", "load_pipeline"]

_TABLE = "streamworks"


@dataclass(frozen=True)
class Project:
    """A project's ``[tool.streamworks]`` settings, with paths made absolute."""

    root: Path
    """The folder holding ``pyproject.toml``."""
    pipelines: dict[str, str] = field(default_factory=dict)
    """Pipeline name -> ``module:attribute`` (a Pipeline or a function returning one)."""
    contracts: Path | None = None
    """Folder of the project's ``.avsc`` contracts."""
    topics: Path | None = None
    """The topics-as-code overlay file."""
    demo: str | None = None
    """``module:function`` that ``streamworks demo`` runs."""

    @classmethod
    def read(cls, pyproject: Path) -> Project | None:
        """The project of ``pyproject`` or None when it has no ``[tool.streamworks]`` table."""
        try:
            data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise ConfigurationError(f"cannot read {pyproject}: {error}") from None
        table = data.get("tool", {}).get(_TABLE)
        if table is None:
            return None
        root = pyproject.parent.resolve()
        pipelines = table.get("pipelines", {})
        if not isinstance(pipelines, dict) or not all(
            isinstance(v, str) for v in pipelines.values()
        ):
            raise ConfigurationError(
                f"{pyproject}: [tool.streamworks] pipelines must map names to 'module:attribute'"
            )
        return cls(
            root=root,
            pipelines=dict(pipelines),
            contracts=_path(root, table, "contracts", pyproject),
            topics=_path(root, table, "topics", pyproject),
            demo=_text(table, "demo", pyproject),
        )


def find_project(start: Path | None = None) -> Project | None:
    """The nearest project at or above ``start`` (default: ``STREAMWORKS_PROJECT`` or cwd)."""
    if start is None:
        start = Path(os.environ.get("STREAMWORKS_PROJECT") or Path.cwd())
    folder = start.resolve()
    for candidate in (folder, *folder.parents):
        pyproject = candidate / "pyproject.toml"
        if pyproject.is_file():
            found = Project.read(pyproject)
            if found is not None:
                return found
    return None


_active: list[Project] = []


def activate(project: Project) -> Project:
    """Put the project's folder first on ``sys.path`` and make its contracts known (once)."""
    if project in _active:
        return project
    root = str(project.root)
    if root not in sys.path:
        sys.path.insert(0, root)
    if project.contracts is not None:
        use_contracts(project.contracts)
    _active.append(project)
    return project


def current() -> Project | None:
    """The project of the working directory, activated; None outside any project."""
    found = find_project()
    return activate(found) if found is not None else None


def load_object(reference: str, what: str) -> Any:
    """The object a ``package.module:attribute`` reference names."""
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise ConfigurationError(f"{what} {reference!r} is not a module:attribute reference")
    try:
        return getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise ConfigurationError(f"cannot load {what} {reference!r}: {error}") from error


def load_pipeline(reference: str) -> Pipeline:
    """A pipeline by its name in the project, or by ``package.module:attribute``.

    The attribute is a :class:`~streamworks.pipeline.graph.Pipeline` or a function
    returning one.
    """
    project = current()
    named = project.pipelines if project is not None else {}
    target = named.get(reference, reference)
    if ":" not in target:
        if project is None:
            raise ConfigurationError(
                f"pipeline {reference!r} is not a module:attribute reference, and no project "
                f"is here (no pyproject.toml with [tool.streamworks] at or above {Path.cwd()})"
            )
        known = ", ".join(sorted(named)) or "none"
        raise ConfigurationError(
            f"pipeline {reference!r} is neither named in the project {project.root} "
            f"(pipelines: {known}) nor a module:attribute reference"
        )
    found = load_object(target, "pipeline")
    pipeline = found() if callable(found) and not isinstance(found, Pipeline) else found
    if not isinstance(pipeline, Pipeline):
        raise ConfigurationError(f"{reference!r} is a {type(pipeline).__name__}, not a Pipeline")
    return pipeline


def _path(root: Path, table: dict[str, Any], key: str, source: Path) -> Path | None:
    value = _text(table, key, source)
    return None if value is None else (root / value).resolve()


def _text(table: dict[str, Any], key: str, source: Path) -> str | None:
    value = table.get(key)
    if value is not None and not isinstance(value, str):
        raise ConfigurationError(f"{source}: [tool.streamworks] {key} must be a string")
    return value
