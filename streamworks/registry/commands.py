"""The registry's decisions: what a request answers and which records it writes.

Pure functions of the current :class:`RegistryState`; the primary runs the write commands
under its write lock, appends the planned records, and answers once its own reader has
applied them. Compatibility tests are reads and run on any instance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from streamworks.registry.errors import (
    IncompatibleError,
    InvalidLevelError,
    InvalidSchemaTextError,
    SchemaIdNotFoundError,
    SubjectConfigNotFoundError,
    SubjectNotFoundError,
    SubjectNotSoftDeletedError,
    SubjectSoftDeletedError,
    VersionNotFoundError,
    VersionNotSoftDeletedError,
    VersionSoftDeletedError,
)
from streamworks.registry.records import ConfigRecord, IdWatermarkRecord, LogRecord, SchemaRecord
from streamworks.registry.state import RegistryState, VersionSpec, canonical_form
from streamworks.schemas.compatibility import InvalidCompatibilityLevelError, check, parse_level
from streamworks.schemas.errors import InvalidSchemaError

__all__ = [
    "Plan",
    "compatibility_problems",
    "delete_config",
    "delete_subject",
    "delete_version",
    "lookup",
    "register",
    "set_config",
    "validate_schema",
]

T = TypeVar("T")
SCHEMA_TYPES = ("AVRO",)


@dataclass(frozen=True)
class Plan(Generic[T]):
    """The answer to a write request and the records to append before giving it."""

    result: T
    """The JSON-ready answer."""
    records: tuple[LogRecord, ...] = ()
    """What to write; empty when nothing changes (e.g. a schema registered again)."""


def validate_schema(schema: Any, schema_type: Any = "AVRO", references: Any = None) -> str:
    """The canonical form of a request's schema; raises InvalidSchemaTextError."""
    kind = "AVRO" if schema_type is None else schema_type
    if kind not in SCHEMA_TYPES:
        raise InvalidSchemaTextError(f"schema type {kind!r} is not supported; use AVRO")
    if references:
        raise InvalidSchemaTextError("schema references are not supported by this registry")
    if not isinstance(schema, str) or not schema.strip():
        raise InvalidSchemaTextError("Empty schema")
    try:
        return canonical_form(schema)
    except InvalidSchemaError as error:
        raise InvalidSchemaTextError(str(error)) from error


def register(
    state: RegistryState, subject: str, schema: str, canonical: str
) -> Plan[dict[str, int]]:
    """Register ``schema`` under ``subject``: same schema, same id; new versions must fit."""
    live = state.versions(subject)
    for record in live:
        if state.canonical(record.schema_id) == canonical:
            return Plan({"id": record.schema_id})
    problems = compatibility_problems(state, subject, canonical, live)
    if problems:
        raise IncompatibleError(subject, problems)
    known = state.id_of(canonical)
    schema_id = known if known is not None else state.max_id + 1
    record = SchemaRecord(subject, state.next_version(subject), schema_id, schema)
    if known is not None:
        return Plan({"id": schema_id}, (record,))
    return Plan({"id": schema_id}, (record, IdWatermarkRecord(schema_id)))


def lookup(
    state: RegistryState, subject: str, canonical: str, *, deleted: bool = False
) -> dict[str, Any]:
    """The version of ``subject`` holding this schema; 40401 or 40403 when there is none."""
    versions = state.versions(subject, deleted=deleted)
    if not versions:
        raise SubjectNotFoundError(subject)
    for record in reversed(versions):
        if state.canonical(record.schema_id) == canonical:
            return {
                "subject": subject,
                "id": record.schema_id,
                "version": record.version,
                "schema": record.schema,
            }
    raise SchemaIdNotFoundError()


def compatibility_problems(
    state: RegistryState,
    subject: str,
    candidate: str,
    against: Sequence[SchemaRecord],
    level: str | None = None,
) -> list[str]:
    """Problems of ``candidate`` against versions of ``subject`` under its (or ``level``) level."""
    if not against:
        return []
    return check(
        candidate,
        [record.schema for record in against],
        level or state.effective_level(subject),
        labels=[f"version {record.version}" for record in against],
    )


def delete_subject(state: RegistryState, subject: str, *, permanent: bool) -> Plan[list[int]]:
    """Soft-delete every live version, or (``permanent``) erase a soft-deleted subject."""
    everything = state.versions(subject, deleted=True)
    if not everything:
        raise SubjectNotFoundError(subject)
    live = state.versions(subject)
    if permanent:
        if live:
            raise SubjectNotSoftDeletedError(subject)
        records: list[LogRecord] = [SchemaRecord(subject, r.version, hard=True) for r in everything]
        if state.level(subject) is not None:
            records.append(ConfigRecord(subject, None))
        return Plan([r.version for r in everything], tuple(records))
    if not live:
        raise SubjectSoftDeletedError(subject)
    return Plan(
        [r.version for r in live],
        tuple(SchemaRecord(subject, r.version, r.schema_id, r.schema, deleted=True) for r in live),
    )


def delete_version(
    state: RegistryState, subject: str, spec: VersionSpec, *, permanent: bool
) -> Plan[int]:
    """Soft-delete one version, or (``permanent``) erase a soft-deleted one."""
    if not state.has_subject(subject):
        raise SubjectNotFoundError(subject)
    if spec == "latest":
        spec = state.version(subject, "latest", deleted=permanent).version
    every = {r.version: r for r in state.versions(subject, deleted=True)}
    record = every.get(spec)
    if record is None:
        raise VersionNotFoundError(subject, spec)
    if permanent:
        if not record.deleted:
            raise VersionNotSoftDeletedError(subject, spec)
        return Plan(spec, (SchemaRecord(subject, spec, hard=True),))
    if record.deleted:
        raise VersionSoftDeletedError(subject, spec)
    deleted = SchemaRecord(subject, spec, record.schema_id, record.schema, deleted=True)
    return Plan(spec, (deleted,))


def _level(level: Any) -> str:
    try:
        return parse_level(level)
    except InvalidCompatibilityLevelError as error:
        raise InvalidLevelError() from error


def set_config(state: RegistryState, subject: str | None, level: Any) -> Plan[dict[str, str]]:
    """Set the level of a subject (or the global one, for None)."""
    del state  # any subject may have a level, even before its first version
    chosen = _level(level)
    return Plan({"compatibility": chosen}, (ConfigRecord(subject, chosen),))


def delete_config(state: RegistryState, subject: str | None) -> Plan[dict[str, str]]:
    """Drop a subject's own level (or reset the global one); answer the level it had."""
    previous = state.level(subject)
    if subject is not None and previous is None:
        if not state.has_subject(subject):
            raise SubjectNotFoundError(subject)
        raise SubjectConfigNotFoundError(subject)
    answer = {"compatibilityLevel": previous or state.effective_level(subject)}
    return Plan(answer, (ConfigRecord(subject, None),) if previous is not None else ())
