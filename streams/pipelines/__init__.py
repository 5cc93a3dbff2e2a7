"""The pipelines that ship with streamworks (``orders`` is the flagship), and finding one."""

from __future__ import annotations

import importlib

from streams.errors import ConfigurationError
from streams.pipeline import Pipeline

__all__ = ["BUILTIN", "load_pipeline"]

BUILTIN = {"orders": "streams.pipelines.orders.app:build"}
"""Pipelines known by name."""


def load_pipeline(reference: str) -> Pipeline:
    """A pipeline by builtin name or ``package.module:attribute``.

    The attribute is a :class:`~streams.pipeline.Pipeline` or a function returning one.
    """
    target = BUILTIN.get(reference, reference)
    module_name, _, attribute = target.partition(":")
    if not attribute:
        raise ConfigurationError(
            f"pipeline {reference!r} is neither builtin ({', '.join(BUILTIN)}) "
            "nor a module:attribute reference"
        )
    try:
        found = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise ConfigurationError(f"cannot load pipeline {reference!r}: {error}") from error
    pipeline = found() if callable(found) and not isinstance(found, Pipeline) else found
    if not isinstance(pipeline, Pipeline):
        raise ConfigurationError(f"{reference!r} is a {type(pipeline).__name__}, not a Pipeline")
    return pipeline
