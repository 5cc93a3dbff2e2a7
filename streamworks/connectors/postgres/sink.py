"""The PostgreSQL sink: upserts each batch by key, in one transaction, so redelivery is harmless.

A batch is reduced to the last record of each key, its rows are copied (binary COPY) into a
session-private staging table, then ``INSERT ... SELECT ... ON CONFLICT (key) DO UPDATE``
moves them into the table and tombstones delete their keys, all in one transaction. The
transaction commits before :meth:`PostgresSink.write` returns, so :meth:`flush` has nothing
left to do; a crash before the offsets are committed redelivers a batch that rewrites the
same rows with the same values.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar

from streamworks.connectors.base.config import SinkConfig
from streamworks.connectors.base.errors import (
    ConnectorConfigError,
    ConnectorError,
    RejectedError,
    TransientError,
)
from streamworks.connectors.base.records import SinkRecord
from streamworks.connectors.base.sink import Sink, SinkContext
from streamworks.connectors.postgres._rows import Prepared, RowPlan
from streamworks.connectors.postgres._sql import Statements
from streamworks.connectors.postgres._table import check_table, describe_server
from streamworks.connectors.postgres.config import PostgresSinkConfig
from streamworks.connectors.postgres.types import Column, UnsupportedSchemaError, columns_of

try:
    import psycopg
except ModuleNotFoundError as _missing:  # pragma: no cover - types.py fails first
    raise ConnectorConfigError(
        "the postgres connector needs psycopg 3: pip install 'streamworks[postgres]'"
    ) from _missing

__all__ = ["PostgresSink"]

logger = logging.getLogger(__name__)

_DATA_ERRORS = (psycopg.DataError, psycopg.IntegrityError, psycopg.errors.CardinalityViolation)
"""PostgreSQL refusing the values of some rows (bad text, a constraint, a NOT NULL)."""
_REFUSED = (*_DATA_ERRORS, TypeError, ValueError, OverflowError)
"""Data errors, and psycopg failing to dump a Python value as its column's type."""
_UNAVAILABLE = (
    psycopg.OperationalError,
    psycopg.InterfaceError,
    psycopg.errors.ReadOnlySqlTransaction,
)
"""Errors of a server that is down, restarting, failing over, overloaded or deadlocked."""
_SHOWN_REASONS = 3
T = TypeVar("T")


class PostgresSink(Sink):
    """Writes records of its topics as rows of one table, upserted by the config's key."""

    def __init__(self, config: PostgresSinkConfig) -> None:
        super().__init__(config.name)
        self.config = config
        self._where = describe_server(config.url.get_secret_value(), config.table)
        self._connection: psycopg.AsyncConnection[Any] | None = None
        self._statements: Statements | None = None
        self._plan: RowPlan | None = None
        self._copy_types: list[str] = []

    async def start(self, context: SinkContext) -> None:
        """Map the topics' schema to columns, connect, create or check the table.

        A server that is down now is not fatal: the first write connects (and checks the
        table) again, and the runtime retries it with backoff until the server is back.
        """
        columns = _columns(self.config, context)
        self._statements = Statements(self.config.table, columns, tuple(self.config.key))
        self._plan = RowPlan(columns, self.config.key)
        self._copy_types = [column.type.copy_name for column in columns]
        try:
            await self._connect()
        except TransientError as error:
            logger.warning("postgres sink %s: %s; the first write tries again", self.name, error)
        logger.info(
            "postgres sink %s writes %s into %s", self.name, self.config.topics, self._where
        )

    async def write(self, batch: Sequence[SinkRecord]) -> None:
        """Upsert and delete the batch's rows in one transaction, committed when this returns.

        All or nothing: if some records cannot be written (a value PostgreSQL refuses, a
        tombstone without a usable key), nothing is committed and :class:`RejectedError`
        names them; the runtime dead-letters them and writes the rest again.
        """
        if self._plan is None:
            raise ConnectorError(f"postgres sink {self.name}: write() before start()")
        prepared = self._plan.prepare(batch)
        if not prepared.rejected and (prepared.rows or prepared.deletes):
            connection = await self._connect()
            try:
                await self._guard(self._write_batch(connection, prepared))
            except _REFUSED as error:
                logger.warning(
                    "%s refused a batch of %d rows (%s); looking for the bad ones",
                    self._where, len(prepared.rows), _reason(error),
                )  # fmt: skip
                prepared.rejected = await self._isolate(connection, prepared, batch)
        if prepared.rejected:
            raise _rejected(self._where, batch, prepared.rejected)

    async def flush(self) -> None:
        """Nothing to do: every :meth:`write` committed its transaction before returning."""

    async def close(self) -> None:
        """Close the connection."""
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.close()

    # -- the writes ----------------------------------------------------------------------------
    async def _write_batch(
        self, connection: psycopg.AsyncConnection[Any], prepared: Prepared
    ) -> None:
        statements = self._require_statements()
        async with connection.transaction(), connection.cursor() as cursor:
            if prepared.rows:
                async with cursor.copy(statements.copy_stage()) as copy:
                    copy.set_types(self._copy_types)
                    for row in prepared.rows:
                        await copy.write_row(row)
                await cursor.execute(statements.upsert_stage())
            if prepared.deletes:
                await cursor.execute(statements.delete_keys(), [prepared.deletes])

    async def _isolate(
        self,
        connection: psycopg.AsyncConnection[Any],
        prepared: Prepared,
        batch: Sequence[SinkRecord],
    ) -> list[tuple[SinkRecord, str]]:
        try:
            return await self._guard(self._write_rows(connection, prepared))
        except _DATA_ERRORS as error:  # at commit (a deferred constraint): no row to blame
            return [(record, _reason(error)) for record in batch]

    async def _write_rows(
        self, connection: psycopg.AsyncConnection[Any], prepared: Prepared
    ) -> list[tuple[SinkRecord, str]]:
        """Write row by row, each in a savepoint; return the refused records with reasons.

        If any row is refused the transaction is rolled back, so the write stays all or
        nothing; with none refused (the batch's error did not come back) it commits.
        """
        statements = self._require_statements()
        refused: list[tuple[SinkRecord, str]] = []
        upsert, delete = statements.upsert_row(), statements.delete_keys()
        work: list[tuple[Any, Sequence[Any], SinkRecord]] = [
            (upsert, row, record)
            for row, record in zip(prepared.rows, prepared.row_records, strict=True)
        ]
        work += [
            (delete, ([key],), record)
            for key, record in zip(prepared.deletes, prepared.delete_records, strict=True)
        ]
        async with connection.transaction() as transaction, connection.cursor() as cursor:
            for statement, parameters, record in work:
                try:
                    async with connection.transaction():  # a savepoint
                        await cursor.execute(statement, parameters)
                except _REFUSED as error:
                    refused.append((record, _reason(error)))
            if refused:
                raise psycopg.Rollback(transaction)
        return refused

    # -- the connection ------------------------------------------------------------------------
    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        """The open connection, or a new one with the table checked and the stage created."""
        current = self._connection
        if current is not None and not current.closed and not current.broken:
            return current
        await self.close()
        statements = self._require_statements()
        try:
            connection = await psycopg.AsyncConnection.connect(
                self.config.url.get_secret_value(),
                autocommit=True,
                connect_timeout=max(1, round(self.config.connect_timeout_s)),
                application_name=f"streamworks-{self.name}"[:63],
            )
        except psycopg.Error as error:
            raise TransientError(f"cannot connect to {self._where}: {_reason(error)}") from None
        try:
            await self._guard(check_table(connection, statements, self.config, self._where))
        except BaseException:
            await connection.close()
            raise
        self._connection = connection
        return connection

    async def _guard(self, work: Awaitable[T]) -> T:
        """Await ``work``, translating psycopg's errors (data errors pass through)."""
        try:
            return await work
        except _DATA_ERRORS:
            raise
        except _UNAVAILABLE as error:
            if self._connection is not None and (
                self._connection.broken or self._connection.closed
            ):
                self._connection = None
            raise TransientError(f"{self._where} is unavailable: {_reason(error)}") from None
        except psycopg.Error as error:
            raise ConnectorError(f"{self._where} failed: {_reason(error)}") from None

    def _require_statements(self) -> Statements:
        if self._statements is None:
            raise ConnectorError(f"postgres sink {self.name} used before start()")
        return self._statements


def _columns(config: SinkConfig, context: SinkContext) -> tuple[Column, ...]:
    """The table's columns: the same for every topic of the sink, with the key among them."""
    found: tuple[Column, ...] | None = None
    for topic in config.topics:
        try:
            columns = columns_of(context.value_schema(topic))
        except UnsupportedSchemaError as error:
            raise UnsupportedSchemaError(f"topic {topic}: {error}") from None
        if found is not None and columns != found:
            raise ConnectorConfigError(
                f"sink {config.name}: topics {config.topics[0]} and {topic} have different "
                "columns; one table takes topics of one schema (use one sink per schema)"
            )
        found = columns
    assert found is not None  # noqa: S101 - topics has at least one entry (validated)
    return found


def _reason(error: BaseException) -> str:
    if isinstance(error, psycopg.Error) and error.diag.message_primary:
        return error.diag.message_primary
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def _rejected(
    where: str, batch: Sequence[SinkRecord], rejected: list[tuple[SinkRecord, str]]
) -> RejectedError:
    shown = "; ".join(
        f"{record.topic}[{record.partition}]@{record.offset}: {reason}"
        for record, reason in rejected[:_SHOWN_REASONS]
    )
    more = f" and {len(rejected) - _SHOWN_REASONS} more" if len(rejected) > _SHOWN_REASONS else ""
    return RejectedError(
        f"{where} refused {len(rejected)} of {len(batch)} records ({shown}{more}); "
        "they go to the dead-letter topic",
        records=[record for record, _ in rejected],
    )
