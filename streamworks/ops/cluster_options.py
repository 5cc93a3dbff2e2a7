"""``--bootstrap`` and ``--registry``: one way to point any command that connects at a cluster.

Every connecting command takes them, and each is the same as its settings variable
(``STREAMWORKS_BOOTSTRAP_SERVERS``, ``STREAMWORKS_REGISTRY_URL``), which it sets for the
command and for whatever the command starts: ``run``'s workers, ``connect``'s connectors.
So ``streamworks status orders --bootstrap 10.0.0.5:9092`` and
``STREAMWORKS_BOOTSTRAP_SERVERS=10.0.0.5:9092 streamworks status orders`` do the same.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

__all__ = ["BOOTSTRAP_VARIABLE", "REGISTRY_VARIABLE", "Bootstrap", "Registry", "point_at"]

BOOTSTRAP_VARIABLE = "STREAMWORKS_BOOTSTRAP_SERVERS"
REGISTRY_VARIABLE = "STREAMWORKS_REGISTRY_URL"

Bootstrap = Annotated[
    str | None,
    typer.Option(
        "--bootstrap",
        envvar=BOOTSTRAP_VARIABLE,
        show_default=False,
        help=f"Kafka brokers, host:port[,host:port] [default: {BOOTSTRAP_VARIABLE}, "
        "else 127.0.0.1:9092].",
    ),
]
"""A command's ``--bootstrap`` option."""

Registry = Annotated[
    str | None,
    typer.Option(
        "--registry",
        envvar=REGISTRY_VARIABLE,
        show_default=False,
        help=f"Schema registry URL [default: {REGISTRY_VARIABLE}, else http://127.0.0.1:8081].",
    ),
]
"""A command's ``--registry`` option."""


def point_at(bootstrap: str | None, registry: str | None = None) -> None:
    """Make ``bootstrap`` and ``registry``, where given, this process's settings and those
    of the processes it starts."""
    if bootstrap:
        os.environ[BOOTSTRAP_VARIABLE] = bootstrap
    if registry:
        os.environ[REGISTRY_VARIABLE] = registry
