"""The topics file (``[tool.streamworks] topics``, ``ops/topics.yaml`` here): extra topics and
per-topic overrides, validated.

::

    shared:                 # planned with every pipeline
      streamworks.connect.positions:
        partitions: 3
        config: {cleanup.policy: compact}
    pipelines:
      orders:               # the pipeline's name
        orders.raw:
          config: {retention.ms: 604800000}

``${NAME}`` and ``${NAME:-default}`` in keys and values are read from the environment.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from streamworks.ops.topics.errors import TopicsFileError

__all__ = ["TopicEntry", "TopicsFile", "load_topics_file"]

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_Where = tuple[str | int, ...]


def _config_text(value: Any) -> Any:
    """Kafka configs are text: YAML's ``true`` is ``"true"``, ``604800000`` is ``"604800000"``."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return str(value)
    return value


ConfigValue = Annotated[str, BeforeValidator(_config_text)]


class TopicEntry(BaseModel):
    """One topic of the file: an extra topic, or overrides of a pipeline's topic."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    partitions: int | None = Field(default=None, ge=1, description="Partition count.")
    replication: int | None = Field(default=None, ge=1, description="Replication factor.")
    config: dict[str, ConfigValue] = Field(
        default_factory=dict, description="Topic configs, merged over the pipeline's."
    )


class TopicsFile(BaseModel):
    """The whole file: topics for every pipeline, and topics per pipeline name."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    shared: dict[str, TopicEntry] = Field(default_factory=dict)
    pipelines: dict[str, dict[str, TopicEntry]] = Field(default_factory=dict)


def load_topics_file(path: Path) -> TopicsFile:
    """The validated file; TopicsFileError names the file, line and key of the first problem."""
    try:
        root = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except (OSError, UnicodeDecodeError) as error:
        raise TopicsFileError(f"cannot read {path}: {error}", path=str(path)) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(error, "problem", None) or error
        raise TopicsFileError(
            f"{path}:{line or '?'}: not valid YAML: {problem}", path=str(path), line=line
        ) from None
    if root is None:
        return TopicsFile()
    lines: dict[_Where, int] = {}
    data = _Reader(path, lines).read(root, ())
    try:
        return TopicsFile.model_validate(data)
    except ValidationError as error:
        problems = []
        for found in error.errors():
            where = tuple(p for p in found["loc"] if isinstance(p, str | int))
            line = next(lines[where[:n]] for n in range(len(where), -1, -1) if where[:n] in lines)
            key = ".".join(str(p) for p in where) or "(top level)"
            problems.append((line, f"{path}:{line}: {key}: {found['msg']}"))
        raise TopicsFileError(
            "\n".join(text for _, text in problems), path=str(path), line=problems[0][0]
        ) from None


class _Reader:
    """Plain data from composed YAML, variables expanded, each path's line noted."""

    def __init__(self, path: Path, lines: dict[_Where, int]) -> None:
        self.path = path
        self.lines = lines

    def read(self, node: yaml.Node, where: _Where) -> Any:
        self.lines[where] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self._scalar(key_node, where)
                inner = (*where, str(key))
                if key in out:
                    raise self.fail(inner, key_node, "appears twice")
                out[key] = self.read(value_node, inner)
                self.lines[inner] = key_node.start_mark.line + 1
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.read(item, (*where, i)) for i, item in enumerate(node.value)]
        return self._scalar(node, where)

    def _scalar(self, node: yaml.Node, where: _Where) -> Any:
        value = yaml.safe_load(yaml.serialize(node))
        return self._expand(value, where, node) if isinstance(value, str) else value

    def fail(self, where: _Where, node: yaml.Node, message: str) -> TopicsFileError:
        line = node.start_mark.line + 1
        key = ".".join(str(p) for p in where) or "(top level)"
        return TopicsFileError(
            f"{self.path}:{line}: {key}: {message}", path=str(self.path), line=line
        )

    def _expand(self, text: str, where: _Where, node: yaml.Node) -> str:
        def substitute(match: re.Match[str]) -> str:
            found = os.environ.get(match.group(1), match.group(2))
            if found is None:
                raise self.fail(
                    where, node, f"environment variable {match.group(1)} is not set (no default)"
                )
            return found

        return _VARIABLE.sub(substitute, text)
