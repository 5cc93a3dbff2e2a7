"""A connector kind: the model a connector file is validated against, and what builds it.

The model never imports its connector (the connector imports its model), so the two are
paired one level above both: the kind's package calls
``register_kind(Kind(GeneratorConfig, GeneratorSource))`` once, and the worker finds the
kind of each configuration by its class. Registering is process-wide, like
:func:`~streamworks.schemas.catalog.use_contracts`: importing the package is enough.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from streamworks.connectors.base.config import ConnectorConfig
from streamworks.connectors.base.errors import ConnectorConfigError
from streamworks.connectors.base.sink import Sink
from streamworks.connectors.base.source import Source

__all__ = ["Kind", "kind_of", "register_kind"]

C = TypeVar("C", bound=ConnectorConfig)


@dataclass(frozen=True, slots=True)
class Kind(Generic[C]):
    """One connector kind: its configuration model and the factory of its connector."""

    config: type[C]
    """The pydantic model (a SourceConfig or SinkConfig subclass) connector files fill in."""
    build: Callable[[C], Source | Sink]
    """Makes the connector a configuration describes; usually the connector class itself."""


_kinds: dict[type[ConnectorConfig], Kind[Any]] = {}


def register_kind(kind: Kind[C]) -> Kind[C]:
    """Make ``kind`` known to every worker in this process, and return it.

    Registering the same kind again does nothing; a second, different factory for the same
    model is refused, since a worker could not tell which one a connector file meant.
    """
    known = _kinds.get(kind.config)
    if known is not None and known != kind:
        raise ConnectorConfigError(
            f"{_name(kind.config)} is already the model of another kind ({known.build!r})"
        )
    _kinds[kind.config] = kind
    return kind


def kind_of(model: type[ConnectorConfig]) -> Kind[Any]:
    """The registered kind of ``model``, or of the nearest registered class it subclasses."""
    for cls in model.__mro__:
        if cls in _kinds:
            return _kinds[cls]
    raise ConnectorConfigError(
        f"no connector kind is registered for {_name(model)}: its package registers one "
        f"with register_kind(Kind({model.__name__}, <its Source or Sink class>)), "
        "see docs/connectors.md"
    )


def _name(model: type[Any]) -> str:
    return f"{model.__module__}:{model.__qualname__}"
