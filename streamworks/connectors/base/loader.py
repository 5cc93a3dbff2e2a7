"""Reading a connector file: YAML in, validated configs out, errors with file, line and key.

The file is a list of connectors, each with a ``name`` and a ``kind`` that picks its model::

    connectors:
      - name: orders-http
        kind: http
        topic: orders.raw
      - name: orders-to-postgres
        kind: postgres
        topics: [orders.enriched]
        url: ${STREAMWORKS_POSTGRES_URL}
        table: orders
        key: [order_id]

``${NAME}`` and ``${NAME:-default}`` in a value are replaced from the environment, so
secrets stay out of the file. A project's own kind is named ``package.module:ConfigClass``;
importing that module registers the kind (see :mod:`streamworks.connectors.base.kind`).
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from streamworks.connectors.base.config import ConnectorConfig
from streamworks.connectors.base.errors import ConnectorConfigError
from streamworks.connectors.base.kind import Kind, kind_of

__all__ = ["load_connectors"]

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
Path_ = tuple[str | int, ...]


def load_connectors(path: Path, kinds: Mapping[str, Kind[Any]]) -> list[ConnectorConfig]:
    """The connectors described in ``path``; ConnectorConfigError names the first problem.

    ``kinds`` gives the short names (``http``, ``postgres``); every other kind is a reference.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConnectorConfigError(f"cannot read {path}: {error}", path=str(path)) from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ConnectorConfigError(
            f"{path}:{line or '?'}: not valid YAML: {getattr(error, 'problem', error)}",
            path=str(path),
            line=line,
        ) from None
    lines: dict[Path_, int] = {}
    data = _to_data(root, (), lines) if root is not None else None
    return _File(path, lines).connectors(data, kinds)


class _File:
    def __init__(self, path: Path, lines: dict[Path_, int]) -> None:
        self.path = path
        self.lines = lines

    def fail(self, where: Path_, message: str) -> ConnectorConfigError:
        line = self._line(where)
        key = ".".join(str(p) for p in where) or "(top level)"
        return ConnectorConfigError(
            f"{self.path}:{line or '?'}: {key}: {message}", path=str(self.path), line=line
        )

    def _line(self, where: Path_) -> int | None:
        for end in range(len(where), -1, -1):
            if where[:end] in self.lines:
                return self.lines[where[:end]]
        return None

    def connectors(self, data: Any, kinds: Mapping[str, Kind[Any]]) -> list[ConnectorConfig]:
        if not isinstance(data, dict) or set(data) != {"connectors"}:
            raise self.fail((), "the file must hold one key, connectors, with a list of them")
        items = data["connectors"]
        if not isinstance(items, list) or not items:
            raise self.fail(("connectors",), "must be a non-empty list of connectors")
        found: list[ConnectorConfig] = []
        for index, item in enumerate(items):
            where: Path_ = ("connectors", index)
            if not isinstance(item, dict):
                raise self.fail(where, "each connector is a mapping with name and kind")
            kind = item.get("kind")
            model = self._model(kind, kinds, (*where, "kind"))
            fields = self._expand(item, where)
            if kind not in kinds:  # a project's own kind: its model names itself
                default = model.model_fields["kind"].default
                fields["kind"] = default if isinstance(default, str) else kind
            try:
                config = model.model_validate(fields)
            except ValidationError as error:
                failures = [
                    self.fail(
                        (*where, *(p for p in e["loc"] if isinstance(p, str | int))), e["msg"]
                    )
                    for e in error.errors()
                ]
                first = failures[0]
                if len(failures) > 1:  # every problem of the connector, one per line
                    first.args = ("\n".join(str(f) for f in failures),)
                raise first from None
            if any(c.name == config.name for c in found):
                raise self.fail((*where, "name"), f"two connectors are called {config.name}")
            found.append(config)
        return found

    def _model(
        self, kind: Any, kinds: Mapping[str, Kind[Any]], where: Path_
    ) -> type[ConnectorConfig]:
        """A built-in kind by name, or a project's own by ``package.module:ConfigClass``."""
        if isinstance(kind, str) and kind in kinds:
            return kinds[kind].config
        if not isinstance(kind, str) or ":" not in kind:
            raise self.fail(
                where,
                f"unknown kind {kind!r}; kinds: {', '.join(sorted(kinds))}, "
                "or package.module:ConfigClass for a project's own",
            )
        module_name, _, attribute = kind.partition(":")
        try:
            model = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as error:
            raise self.fail(where, f"cannot load kind {kind}: {error}") from None
        if not (isinstance(model, type) and issubclass(model, ConnectorConfig)):
            raise self.fail(where, f"{kind} is not a ConnectorConfig subclass")
        try:
            kind_of(model)  # a worker could not build it: say so now, with the line
        except ConnectorConfigError as error:
            raise self.fail(where, str(error)) from None
        return model

    def _expand(self, value: Any, where: Path_) -> Any:
        if isinstance(value, dict):
            return {k: self._expand(v, (*where, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [self._expand(v, (*where, i)) for i, v in enumerate(value)]
        if not isinstance(value, str):
            return value

        def substitute(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            found = os.environ.get(name, default)
            if found is None:
                raise self.fail(where, f"environment variable {name} is not set (no default)")
            return found

        return _VARIABLE.sub(substitute, value)


def _keys(loc: tuple[Any, ...]) -> Path_:
    return tuple(p for p in loc if isinstance(p, str | int))


def _to_data(node: yaml.Node, where: Path_, lines: dict[Path_, int]) -> Any:
    """Plain data from a composed YAML node, noting each value's line by its path."""
    lines[where] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = yaml.safe_load(yaml.serialize(key_node))
            out[key] = _to_data(value_node, (*where, str(key)), lines)
            lines[(*where, str(key))] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_data(item, (*where, i), lines) for i, item in enumerate(node.value)]
    return yaml.safe_load(yaml.serialize(node))
