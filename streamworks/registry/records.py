"""The records of the ``_schemas`` topic: JSON keys and values, one kind per ``keytype``.

The format is Confluent's (and Karapace's), so a topic either of them wrote is read as it
is, and a topic this registry wrote stays readable by them. The topic is compacted, so a
key names the thing a record is about and the latest value wins; a tombstone removes it:

- ``{"keytype": "SCHEMA", "subject": s, "version": v, "magic": 1}`` → ``{"subject", "version", "id",
  "schema", "schemaType", "deleted"}``, and ``references`` when it has any; a soft delete
  rewrites the value with ``"deleted": true``, a hard delete is a tombstone.
- ``{"keytype": "CONFIG", "subject": s | null, "magic": 0}`` → ``{"compatibilityLevel":
  level}``; ``subject`` null is the global level; a tombstone removes a subject's level.
- ``{"keytype": "MODE", "subject": s | null, "magic": 0}`` → ``{"mode": m}``: READWRITE,
  READONLY, READONLY_OVERRIDE or IMPORT; a tombstone removes a subject's mode.
- ``{"keytype": "DELETE_SUBJECT", ...}`` → ``{"subject", "version"}`` (Confluent's soft
  delete of a subject: every version up to ``version``) and ``{"keytype": "CLEAR_SUBJECT",
  ...}`` → ``{"subject"}`` (Confluent's erasing of a subject's soft-deleted versions): read,
  never written here.
- ``{"keytype": "NOOP", "magic": 0, "streamworks": "ID_WATERMARK"}`` → ``{"maxId": n}``: the
  highest id ever handed out, so a hard delete (whose tombstone compaction erases) never
  lets an id be used twice; ``... "streamworks": "PRIMARY"}`` → ``{"url", "instance"}``: the
  instance that writes now. NOOP keys are what Confluent and Karapace skip; older versions
  of this registry wrote ``{"keytype": "ID_WATERMARK"}`` and ``{"keytype": "PRIMARY"}``,
  still read.

Keys are written exactly as Confluent writes them (its field order, no spaces), so equal
keys are equal bytes and compaction keeps one record per key. Keys in other byte forms
(Karapace's older field order, this registry's older sorted keys without ``magic``) are
read too, and a tombstone is written in every form so compaction erases them all.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, get_args

from streamworks.schemas.errors import InvalidSchemaError
from streamworks.schemas.references import SchemaReference

__all__ = [
    "MODES",
    "ClearSubjectRecord",
    "ConfigRecord",
    "DeleteSubjectRecord",
    "IdWatermarkRecord",
    "LogRecord",
    "Mode",
    "ModeRecord",
    "PrimaryRecord",
    "SchemaRecord",
    "decode",
    "encode",
    "encode_all",
]

Mode = Literal["READWRITE", "READONLY", "READONLY_OVERRIDE", "IMPORT"]
MODES: tuple[Mode, ...] = get_args(Mode)


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
    references: tuple[SchemaReference, ...] = ()
    """The other subjects' versions whose named types the schema uses (Confluent's field)."""


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


@dataclass(frozen=True)
class ModeRecord:
    """The mode of one subject or (``subject`` None) the global one."""

    subject: str | None
    """The subject, or None for the global mode."""
    mode: Mode | None
    """The mode; None removes the subject's own mode (a tombstone)."""


@dataclass(frozen=True)
class DeleteSubjectRecord:
    """Confluent's soft delete of a subject: its versions up to ``version`` are deleted."""

    subject: str
    """The subject soft-deleted."""
    version: int
    """The highest version the delete covers."""


@dataclass(frozen=True)
class ClearSubjectRecord:
    """Confluent's erasing of a subject's soft-deleted versions (before an import)."""

    subject: str
    """The subject whose soft-deleted versions are gone."""


LogRecord = (
    SchemaRecord
    | ConfigRecord
    | ModeRecord
    | DeleteSubjectRecord
    | ClearSubjectRecord
    | IdWatermarkRecord
    | PrimaryRecord
)


def _dump(data: dict[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def _key(kind: str, subject: str | None, version: int | None = None) -> bytes:
    """Confluent's key bytes: keytype, subject, version, magic in that order, no spaces."""
    data: dict[str, Any] = {"keytype": kind, "subject": subject}
    if version is not None:
        data["version"] = version
    data["magic"] = 1 if kind == "SCHEMA" else 0
    return json.dumps(data, separators=(",", ":")).encode()


def _noop_key(name: str) -> bytes:
    return json.dumps({"keytype": "NOOP", "magic": 0, "streamworks": name}).encode()


def _key_aliases(kind: str, subject: str | None, version: int | None) -> list[bytes]:
    """The other byte forms of a key: Karapace's older field order, our older sorted keys."""
    karapace: dict[str, Any] = {"subject": subject}
    legacy: dict[str, Any] = {"keytype": kind, "subject": subject}
    if version is not None:
        karapace["version"] = legacy["version"] = version
    karapace["magic"] = 1 if kind == "SCHEMA" else 0
    karapace["keytype"] = kind
    return [json.dumps(karapace, separators=(",", ":")).encode(), _dump(legacy)]


def encode_all(record: LogRecord) -> list[tuple[bytes, bytes | None]]:
    """What to write for ``record``: its ``(key, value)``, and for a tombstone the same
    tombstone under every other byte form of the key, so compaction erases every form."""
    key, value = encode(record)
    if value is not None:
        return [(key, value)]
    if isinstance(record, SchemaRecord):
        aliases = _key_aliases("SCHEMA", record.subject, record.version)
    elif isinstance(record, ConfigRecord | ModeRecord):
        aliases = _key_aliases(
            "CONFIG" if isinstance(record, ConfigRecord) else "MODE", record.subject, None
        )
    else:
        aliases = []
    return [(key, None), *((alias, None) for alias in aliases if alias != key)]


def encode(record: LogRecord) -> tuple[bytes, bytes | None]:
    """The ``(key, value)`` bytes of a record; value None is a tombstone."""
    if isinstance(record, SchemaRecord):
        key = _key("SCHEMA", record.subject, record.version)
        if record.hard:
            return key, None
        value: dict[str, Any] = {
            "subject": record.subject,
            "version": record.version,
            "id": record.schema_id,
            "schema": record.schema,
            "schemaType": record.schema_type,
            "deleted": record.deleted,
        }
        if record.references:
            value["references"] = [reference.to_json() for reference in record.references]
        return key, _dump(value)
    if isinstance(record, ConfigRecord):
        key = _key("CONFIG", record.subject)
        if record.level is None:
            return key, None
        return key, _dump({"compatibilityLevel": record.level})
    return _encode_other(record)


def _encode_other(
    record: ModeRecord
    | DeleteSubjectRecord
    | ClearSubjectRecord
    | IdWatermarkRecord
    | PrimaryRecord,
) -> tuple[bytes, bytes | None]:
    if isinstance(record, ModeRecord):
        key = _key("MODE", record.subject)
        if record.mode is None:
            return key, None
        about = {} if record.subject is None else {"subject": record.subject}
        return key, _dump({**about, "mode": record.mode})
    if isinstance(record, DeleteSubjectRecord):
        value = {"subject": record.subject, "version": record.version}
        return _key("DELETE_SUBJECT", record.subject), _dump(value)
    if isinstance(record, ClearSubjectRecord):
        return _key("CLEAR_SUBJECT", record.subject), _dump({"subject": record.subject})
    if isinstance(record, IdWatermarkRecord):
        return _noop_key("ID_WATERMARK"), _dump({"maxId": record.max_id})
    return _noop_key("PRIMARY"), _dump({"url": record.url, "instance": record.instance})


def decode(key: bytes | None, value: bytes | None) -> LogRecord | None:
    """The record a ``(key, value)`` pair holds; None for keys of unknown kinds and NOOPs.

    Keys in any byte form are read (field order does not matter); an empty value is a
    tombstone, as Karapace writes some. Raises ValueError (or KeyError/TypeError) for
    malformed bytes of a known kind.
    """
    if key is None:
        return None
    k = json.loads(key)
    v: dict[str, Any] | None = json.loads(value) if value else None
    if not isinstance(k, dict) or not (v is None or isinstance(v, dict)):
        raise ValueError("a key or value is not a JSON object")
    kind = k.get("keytype")
    if kind == "NOOP":
        kind = k.get("streamworks")
    if kind == "SCHEMA":
        return _schema_record(k, v)
    if kind == "CONFIG":
        level = None if v is None else v.get("compatibilityLevel")
        return ConfigRecord(_subject(k), None if level is None else str(level))
    if kind == "MODE":
        return ModeRecord(_subject(k), None if v is None else _mode(v["mode"]))
    read = _VALUE_ONLY.get(str(kind))
    return None if read is None or v is None else read(v)


def _mode(text: Any) -> Mode:
    for mode in MODES:
        if str(text).upper() == mode:
            return mode
    raise ValueError(f"unknown mode {text!r}")


_VALUE_ONLY: dict[str, Callable[[dict[str, Any]], LogRecord]] = {
    "DELETE_SUBJECT": lambda v: DeleteSubjectRecord(str(v["subject"]), int(v["version"])),
    "CLEAR_SUBJECT": lambda v: ClearSubjectRecord(str(v["subject"])),
    "ID_WATERMARK": lambda v: IdWatermarkRecord(int(v["maxId"])),
    "PRIMARY": lambda v: PrimaryRecord(url=str(v["url"]), instance=str(v["instance"])),
}
"""The kinds whose record is all in the value (a tombstone of them means nothing)."""


def _subject(key: dict[str, Any]) -> str | None:
    """The subject of a CONFIG or MODE key; None (absent, null or empty) is global."""
    subject = key.get("subject")
    return None if subject is None or subject == "" else str(subject)


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
        references=tuple(_reference(reference) for reference in value.get("references") or ()),
    )


def _reference(data: Any) -> SchemaReference:
    try:
        return SchemaReference.from_json(data)
    except InvalidSchemaError as error:
        raise ValueError(str(error)) from error
