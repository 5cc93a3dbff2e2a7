"""The ``postgres`` fixture: one real PostgreSQL server for the test session.

A throwaway local cluster (Debian's ``postgresql`` package) on a free loopback port, or the
server named by ``STREAMWORKS_TEST_POSTGRES_URL`` when that is set. Each test takes its own
table (``pg_table``), so tests never see each other's rows.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row

from streamworks.connectors.postgres.local import LocalPostgres
from streamworks.testing.helpers import unique_name

__all__ = ["PostgresServer", "fetch_rows", "pg_table", "postgres"]

URL_ENV = "STREAMWORKS_TEST_POSTGRES_URL"


@dataclass(frozen=True)
class PostgresServer:
    """The session's server: its DSN, and the local cluster when the tests started one."""

    url: str
    local: LocalPostgres | None = None


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the session (started here unless $STREAMWORKS_TEST_POSTGRES_URL)."""
    url = os.environ.get(URL_ENV)
    if url:
        yield PostgresServer(url)
        return
    server = LocalPostgres()
    try:
        server.start()
        yield PostgresServer(server.url, server)
    finally:
        server.cleanup()


@pytest.fixture
def pg_table() -> str:
    """A table name no other test uses."""
    return unique_name("t").replace("-", "_")


async def count_rows(url: str, table: str) -> int:
    """How many rows ``table`` has (0 if it does not exist yet): cheap enough to poll."""
    query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(*table.split(".")))
    async with await psycopg.AsyncConnection.connect(url) as connection:
        try:
            row = await (await connection.execute(query)).fetchone()
        except psycopg.errors.UndefinedTable:
            return 0
        return int(row[0]) if row is not None else 0


async def fetch_rows(url: str, table: str, *, order_by: str | None = None) -> list[dict[str, Any]]:
    """Every row of ``table`` as a dict (empty if the table does not exist yet)."""
    query = sql.SQL("SELECT * FROM {}").format(sql.Identifier(*table.split(".")))
    if order_by is not None:
        query = sql.SQL("{} ORDER BY {}").format(query, sql.Identifier(order_by))
    async with await psycopg.AsyncConnection.connect(url, row_factory=dict_row) as connection:
        try:
            cursor = await connection.execute(query)
        except psycopg.errors.UndefinedTable:
            return []
        return await cursor.fetchall()
