"""The PostgreSQL sink (upserts by key) and a throwaway local PostgreSQL server.

:class:`PostgresSinkConfig` needs nothing beyond the base install; building the sink needs
psycopg 3 (``pip install 'streamworks[postgres]'``), so
:class:`~streamworks.connectors.postgres.sink.PostgresSink` is imported from its module, not
from here.
"""

from streamworks.connectors.postgres.config import URL_ENV, PostgresSinkConfig
from streamworks.connectors.postgres.local import LocalPostgres, LocalPostgresError, find_binaries

__all__ = ["URL_ENV", "LocalPostgres", "LocalPostgresError", "PostgresSinkConfig", "find_binaries"]
