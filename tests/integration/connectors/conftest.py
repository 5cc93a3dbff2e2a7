"""Fixtures of the connector tests: a real PostgreSQL server for the session."""

from tests.integration.connectors.pg import pg_table, postgres

__all__ = ["pg_table", "postgres"]
