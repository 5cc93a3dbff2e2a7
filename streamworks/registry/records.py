"""The records of the ``_schemas`` topic: JSON keys and values, one kind per ``keytype``.

The topic is compacted, so a key names the thing a record is about and the latest value
wins; a tombstone (no value) removes it:

- ``{"keytype": "SCHEMA", "subject": s, "version": v}`` → ``{"subject", "version", "id",
  "schema", "schemaType", "deleted"}``; a soft delete rewrites the value with
  ``"deleted": true``, a hard delete is a tombstone.
- ``{"keytype": "CONFIG", "subject": s | null}`` → ``{"compatibilityLevel": level}``;
  ``subject`` null is the global level; a tombstone removes a subject's level.
- ``{"keytype": "ID_WATERMARK"}`` → ``{"maxId": n}``: the highest id ever handed out, so a
  hard delete (whose tombstone compaction erases) never lets an id be used twice.
- ``{"keytype": "PRIMARY"}`` → ``{"url", "instance"}``: the instance that writes now.

Keys are serialised with sorted keys and no spaces, so equal keys are equal bytes and
compaction keeps one record per key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ConfigRecord",
    "IdWatermarkRecord",
    "LogRecord",
    "PrimaryRecord",
    "SchemaRecord",
    "decode",
    "encode",
]


@dataclass(frozen=True)
class SchemaRecord:
    """One version of a subject (``deleted`` when soft-deleted; ``hard`` for a tombstone)."""

    subject: str
    """The subject the version belongs to."""
    version: int
    """The version under the subject, from 1."""
    schema_id: int = 0
    """The global id of the schema text."""
    schema: str = ""
    """The schema text as first registered."""
    schema_type: str = "AVRO"
    """Confluent's schemaType; always AVRO here."""
    deleted: bool = False
    """Soft-deleted: hidden from lookups but still served by id."""
    hard: bool = False
    """A tombstone: the version is gone for good."""


@dataclass(frozen=True)
class ConfigRecord:
    """A compatibility level, of one subject or (``subject`` None) global."""

    subject: str | None
    """The subject, or None for the global level."""
    level: str | None
    """The level; None removes the subject's own level (a tombstone)."""


@dataclass(frozen=True)
class IdWatermarkRecord:
    """The highest schema id handed out so far."""

    max_id: int
    """No id at or below this is ever assigned again."""


@dataclass(frozen=True)
class PrimaryRecord:
    """The instance that was elected primary and accepts writes."""

    url: str
    """Where other instances forward writes."""
    instance: str
    """A random id of the instance, unique per process start."""


LogRecord = SchemaRecord | ConfigRecord | IdWatermarkRecord | PrimaryRecord


def _dump(data: dict[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def encode(record: LogRecord) -> tuple[bytes, bytes | None]:
    """The ``(key, value)`` bytes of a record; value None is a tombstone."""
    if isinstance(record, SchemaRecord):
        key = _dump({"keytype": "SCHEMA", "subject": record.subject, "version": record.version})
        if record.hard:
            return key, None
        return key, _dump(
            {
                "subject": record.subject,
                "version": record.version,
                "id": record.schema_id,
                "schema": record.schema,
                "schemaType": record.schema_type,
                "deleted": record.deleted,
            }
        )
    if isinstance(record, ConfigRecord):
        key = _dump({"keytype": "CONFIG", "subject": record.subject})
        if record.level is None:
            return key, None
        return key, _dump({"compatibilityLevel": record.level})
    if isinstance(record, IdWatermarkRecord):
        return _dump({"keytype": "ID_WATERMARK"}), _dump({"maxId": record.max_id})
    return _dump({"keytype": "PRIMARY"}), _dump({"url": record.url, "instance": record.instance})


def decode(key: bytes | None, value: bytes | None) -> LogRecord | None:
    """The record a ``(key, value)`` pair holds; None for keys of unknown kinds.

    Raises ValueError (or KeyError/TypeError) for malformed bytes of a known kind.
    """
    if key is None:
        return None
    k = json.loads(key)
    v: dict[str, Any] | None = json.loads(value) if value is not None else None
    kind = k.get("keytype") if isinstance(k, dict) else None
    if kind == "SCHEMA":
        return _schema_record(k, v)
    if kind == "CONFIG":
        subject_key = k.get("subject")
        level = None if v is None else str(v["compatibilityLevel"])
        return ConfigRecord(None if subject_key is None else str(subject_key), level)
    if kind == "ID_WATERMARK" and v is not None:
        return IdWatermarkRecord(int(v["maxId"]))
    if kind == "PRIMARY" and v is not None:
        return PrimaryRecord(url=str(v["url"]), instance=str(v["instance"]))
    return None


def _schema_record(key: dict[str, Any], value: dict[str, Any] | None) -> SchemaRecord:
    subject, version = str(key["subject"]), int(key["version"])
    if value is None:
        return SchemaRecord(subject, version, hard=True)
    return SchemaRecord(
        subject=subject,
        version=version,
        schema_id=int(value["id"]),
        schema=str(value["schema"]),
        schema_type=str(value.get("schemaType", "AVRO")),
        deleted=bool(value.get("deleted", False)),
    )
