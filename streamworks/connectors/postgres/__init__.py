"""The PostgreSQL sink (upserts by key) and a throwaway local PostgreSQL server.

:class:`PostgresSinkConfig` and :data:`POSTGRES` need nothing beyond the base install;
building the sink needs psycopg 3 (``pip install 'streamworks[postgres]'``), so
:class:`~streamworks.connectors.postgres.sink.PostgresSink` is imported from its module, not
from here, and only when a sink is built.
"""

from streamworks.connectors.base.kind import Kind, register_kind
from streamworks.connectors.base.sink import Sink
from streamworks.connectors.postgres.config import URL_ENV, PostgresSinkConfig
from streamworks.connectors.postgres.local import LocalPostgres, LocalPostgresError, find_binaries

__all__ = [
    "POSTGRES",
    "URL_ENV",
    "LocalPostgres",
    "LocalPostgresError",
    "PostgresSinkConfig",
    "find_binaries",
]


def _sink(config: PostgresSinkConfig) -> Sink:
    """The sink; psycopg is imported now, so a file naming postgres loads without it."""
    from streamworks.connectors.postgres.sink import PostgresSink  # noqa: PLC0415 - optional psycopg

    return PostgresSink(config)


POSTGRES = register_kind(Kind(PostgresSinkConfig, _sink))
"""``kind: postgres``: the PostgreSQL upsert sink."""
