"""Turning a batch of sink records into the rows to upsert and the keys to delete.

Only the last record of each key in a batch counts (Kafka keeps a key's records in order
within a partition), so a batch becomes at most one row or one delete per key, and the
upsert never touches a row twice. A record that cannot become a row is set aside with the
reason, to be dead-lettered, instead of failing the batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from streamworks.connectors.base.records import SinkRecord
from streamworks.connectors.postgres.types import Adapt, Column

__all__ = ["Prepared", "RowPlan"]

_BAD_VALUE = (ValueError, TypeError, ArithmeticError, KeyError)


@dataclass
class Prepared:
    """A batch reduced to its last record per key."""

    rows: list[tuple[Any, ...]] = field(default_factory=list)
    """Column values of each record to upsert, in column order."""
    row_records: list[SinkRecord] = field(default_factory=list)
    """The record each row came from (same order as ``rows``)."""
    deletes: list[Any] = field(default_factory=list)
    """Key values of the rows to delete (tombstones; single-column keys only)."""
    delete_records: list[SinkRecord] = field(default_factory=list)
    """The tombstone each delete came from."""
    rejected: list[tuple[SinkRecord, str]] = field(default_factory=list)
    """Records that cannot be written, each with the reason."""


class RowPlan:
    """How records of one table become rows: column order, adapters, key positions."""

    def __init__(self, columns: Sequence[Column], key: Sequence[str]) -> None:
        self.names = tuple(column.name for column in columns)
        self.adapters: tuple[tuple[int, Adapt], ...] = tuple(
            (index, column.type.adapt)
            for index, column in enumerate(columns)
            if column.type.adapt is not None
        )
        self.key = tuple(key)
        self.key_index = tuple(self.names.index(name) for name in key)
        key_column = columns[self.key_index[0]]
        self.key_parse = key_column.type.parse if len(key) == 1 else None

    def row(self, value: dict[str, Any]) -> tuple[Any, ...]:
        """The row of one decoded value; KeyError/ValueError/TypeError if it does not fit."""
        values = [value[name] for name in self.names]
        for index, adapt in self.adapters:
            if values[index] is not None:
                values[index] = adapt(values[index])
        return tuple(values)

    def prepare(self, batch: Sequence[SinkRecord]) -> Prepared:
        """The batch's last row or delete per key, and the records that cannot be written."""
        prepared = Prepared()
        latest: dict[tuple[Any, ...], tuple[SinkRecord, tuple[Any, ...] | None]] = {}
        for record in batch:
            try:
                key, row = self._key_and_row(record)
            except _BAD_VALUE as error:
                prepared.rejected.append((record, _reason(error)))
                continue
            latest[key] = (record, row)
        for key, (record, row) in latest.items():
            if row is None:
                prepared.deletes.append(key[0])
                prepared.delete_records.append(record)
            else:
                prepared.rows.append(row)
                prepared.row_records.append(record)
        return prepared

    def _key_and_row(self, record: SinkRecord) -> tuple[tuple[Any, ...], tuple[Any, ...] | None]:
        if record.value is None:
            return (self._tombstone_key(record),), None
        row = self.row(record.value)
        key = tuple([row[index] for index in self.key_index])
        for position, part in enumerate(key):
            if part is None:
                raise ValueError(f"key field {self.key[position]} is null")
        return key, row

    def _tombstone_key(self, record: SinkRecord) -> Any:
        if len(self.key) > 1:
            raise ValueError(
                f"a tombstone cannot delete by the composite key ({', '.join(self.key)}): "
                "the Kafka key text does not name its parts"
            )
        if self.key_parse is None:
            raise ValueError(f"a tombstone cannot delete by the key column {self.key[0]}")
        if record.key is None:
            raise ValueError("a tombstone without a Kafka key cannot delete anything")
        return self.key_parse(record.key)


def _reason(error: BaseException) -> str:
    if isinstance(error, KeyError):
        return f"the value has no field {error.args[0]}"
    return str(error) or type(error).__name__
