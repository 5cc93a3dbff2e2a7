"""The SQL statements of the PostgreSQL sink, composed with quoted identifiers.

Every name (schema, table, column) goes through :class:`psycopg.sql.Identifier`; the only
SQL text spliced in is a column type from :mod:`streamworks.connectors.postgres.types`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from streamworks.connectors.base.errors import ConnectorConfigError
from streamworks.connectors.postgres.types import Column

try:
    from psycopg import sql
except ModuleNotFoundError as _missing:  # pragma: no cover - types.py fails first
    raise ConnectorConfigError(
        "the postgres connector needs psycopg 3: pip install 'streamworks[postgres]'"
    ) from _missing

__all__ = ["STAGE_TABLE", "Statements", "table_identifier"]

STAGE_TABLE = "streamworks_stage"
"""The session's temporary table a batch is copied into before the upsert."""


def table_identifier(table: str) -> sql.Identifier:
    """``"orders"`` or ``"sales.orders"`` as a quoted, optionally schema-qualified name."""
    return sql.Identifier(*table.split("."))


def _names(columns: Sequence[Column]) -> sql.Composed:
    return sql.SQL(", ").join(sql.Identifier(column.name) for column in columns)


def _definitions(columns: Sequence[Column], *, constraints: bool) -> sql.Composed:
    parts = []
    for column in columns:
        null = " NOT NULL" if constraints and not column.nullable else ""
        parts.append(
            sql.SQL("{} {}{}").format(
                sql.Identifier(column.name), sql.SQL(column.type.ddl), sql.SQL(null)
            )
        )
    return sql.SQL(", ").join(parts)


@dataclass(frozen=True)
class Statements:
    """The statements for one table with ``columns`` and the primary key ``key``."""

    table: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]

    @property
    def target(self) -> sql.Identifier:
        """The table's quoted name."""
        return table_identifier(self.table)

    def create_schema(self) -> sql.Composed | None:
        """CREATE SCHEMA IF NOT EXISTS for a schema-qualified table, else None."""
        if "." not in self.table:
            return None
        schema = self.table.split(".", 1)[0]
        return sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema))

    def create_table(self) -> sql.Composed:
        """CREATE TABLE IF NOT EXISTS with NOT NULL where the schema says so, and the key."""
        return sql.SQL("CREATE TABLE IF NOT EXISTS {} ({}, PRIMARY KEY ({}))").format(
            self.target,
            _definitions(self.columns, constraints=True),
            sql.SQL(", ").join(sql.Identifier(name) for name in self.key),
        )

    def create_stage(self) -> sql.Composed:
        """The session's staging table: emptied at every commit, gone with the connection."""
        return sql.SQL("CREATE TEMPORARY TABLE IF NOT EXISTS {} ({}) ON COMMIT DELETE ROWS").format(
            sql.Identifier(STAGE_TABLE), _definitions(self.columns, constraints=False)
        )

    def copy_stage(self) -> sql.Composed:
        """Binary COPY of the batch's rows into the staging table."""
        return sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
            sql.Identifier(STAGE_TABLE), _names(self.columns)
        )

    def _on_conflict(self) -> sql.Composed:
        updates = [
            sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(column.name))
            for column in self.columns
            if column.name not in self.key
        ]
        keys = sql.SQL(", ").join(sql.Identifier(name) for name in self.key)
        if not updates:
            return sql.SQL("ON CONFLICT ({}) DO NOTHING").format(keys)
        return sql.SQL("ON CONFLICT ({}) DO UPDATE SET {}").format(
            keys, sql.SQL(", ").join(updates)
        )

    def upsert_stage(self) -> sql.Composed:
        """Insert the staged rows into the table; a row whose key exists replaces it."""
        return sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} {}").format(
            self.target,
            _names(self.columns),
            _names(self.columns),
            sql.Identifier(STAGE_TABLE),
            self._on_conflict(),
        )

    def upsert_row(self) -> sql.Composed:
        """The same upsert for one row given as parameters (to find the rows a table refuses)."""
        values = sql.SQL(", ").join(
            sql.SQL("{}::{}").format(sql.Placeholder(), sql.SQL(column.type.ddl))
            for column in self.columns
        )
        return sql.SQL("INSERT INTO {} ({}) VALUES ({}) {}").format(
            self.target, _names(self.columns), values, self._on_conflict()
        )

    def delete_keys(self) -> sql.Composed:
        """Delete the rows whose (single-column) key is in the array parameter."""
        (name,) = self.key
        column = next(column for column in self.columns if column.name == name)
        return sql.SQL("DELETE FROM {} WHERE {} = ANY({}::{}[])").format(
            self.target, sql.Identifier(name), sql.Placeholder(), sql.SQL(column.type.ddl)
        )

    def table_columns(self) -> sql.Composed:
        """Name, type, NOT NULL and has-default of the table's columns, in order."""
        return sql.SQL(
            "SELECT attname, format_type(atttypid, atttypmod), attnotnull, atthasdef "
            "FROM pg_attribute WHERE attrelid = to_regclass({}) "
            "AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
        ).format(sql.Literal(self.target.as_string()))
