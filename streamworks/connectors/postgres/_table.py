"""Making sure the sink's table exists and takes the topic's rows, before the first batch.

On every (re)connection: create the table if allowed, check that it has a column for every
field (and no NOT NULL column the records cannot fill), create the session's staging table,
then plan the upsert once against the empty stage, which makes PostgreSQL check the types
and the ON CONFLICT key without touching data. Mismatches are configuration errors that
name the table and columns, raised before any record is read.
"""

from __future__ import annotations

import logging
from typing import Any

from streamworks.connectors.base.errors import ConnectorConfigError
from streamworks.connectors.postgres._sql import Statements
from streamworks.connectors.postgres.config import PostgresSinkConfig

try:
    import psycopg
    from psycopg.conninfo import conninfo_to_dict
except ModuleNotFoundError as _missing:  # pragma: no cover - types.py fails first
    raise ConnectorConfigError(
        "the postgres connector needs psycopg 3: pip install 'streamworks[postgres]'"
    ) from _missing

__all__ = ["TableMismatchError", "check_table", "describe_server"]

logger = logging.getLogger(__name__)

_FORMATTED = {
    "timestamptz": "timestamp with time zone",
    "timestamp": "timestamp without time zone",
    "time": "time without time zone",
}
"""Our type names that ``format_type`` spells differently."""
_RACED = (
    psycopg.errors.UniqueViolation,
    psycopg.errors.DuplicateTable,
    psycopg.errors.DuplicateSchema,
)
"""What CREATE ... IF NOT EXISTS raises when another session creates the same thing."""


class TableMismatchError(ConnectorConfigError):
    """The existing table cannot hold the topic's records (missing column, wrong key...)."""


def describe_server(url: str, table: str) -> str:
    """``table orders in postgres 127.0.0.1:5432/db``, without user or password."""
    try:
        info = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return f"table {table} in postgres (unparsable url)"
    host, port, database = info.get("host", ""), info.get("port", "5432"), info.get("dbname", "")
    return f"table {table} in postgres {host}:{port}/{database}"


async def check_table(
    connection: psycopg.AsyncConnection[Any],
    statements: Statements,
    config: PostgresSinkConfig,
    where: str,
) -> None:
    """Create (if allowed) and check the table; create the session's staging table."""
    if config.create_table:
        await _create(connection, statements)
    cursor = await connection.execute(statements.table_columns())
    existing = {name: (kind, not_null, has_default) for name, kind, not_null, has_default in
                await cursor.fetchall()}  # fmt: skip
    if not existing:
        raise TableMismatchError(
            f"{where} does not exist and create_table is false; create it or set create_table: true"
        )
    ours = {column.name: column for column in statements.columns}
    missing = [name for name in ours if name not in existing]
    if missing:
        raise TableMismatchError(
            f"{where} has no column {', '.join(missing)} for the topic's fields; add them "
            "(ALTER TABLE ... ADD COLUMN) or drop the table to have it created"
        )
    unfillable = [
        name
        for name, (_, not_null, has_default) in existing.items()
        if name not in ours and not_null and not has_default
    ]
    if unfillable:
        raise TableMismatchError(
            f"{where} requires column {', '.join(unfillable)} (NOT NULL without a default) "
            "that the topic's records do not have; give it a default or drop NOT NULL"
        )
    for name, column in ours.items():
        expected = _FORMATTED.get(column.type.ddl, column.type.ddl)
        if existing[name][0] != expected:
            logger.info(
                "%s: column %s is %s, the field maps to %s; PostgreSQL converts on insert",
                where, name, existing[name][0], expected,
            )  # fmt: skip
    await connection.execute(statements.create_stage())
    try:
        async with connection.transaction():
            await connection.execute(statements.upsert_stage())  # the stage is empty
    except psycopg.errors.InvalidColumnReference:
        raise TableMismatchError(
            f"{where} has no primary key or unique index on exactly "
            f"({', '.join(statements.key)}), the sink's key; upserts need one"
        ) from None
    except psycopg.ProgrammingError as error:
        raise TableMismatchError(
            f"{where} does not take the topic's rows: {error.diag.message_primary}"
        ) from None


async def _create(connection: psycopg.AsyncConnection[Any], statements: Statements) -> None:
    schema = statements.create_schema()
    for statement in (schema, statements.create_table()):
        if statement is None:
            continue
        try:
            await connection.execute(statement)
        except _RACED:
            pass  # another worker of the group created it at the same moment
