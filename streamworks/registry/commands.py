"""The registry's decisions: what a request answers and which records it writes.

Pure functions of the current :class:`RegistryState`; the primary runs the write commands
under its write lock, appends the planned records, and answers once its own reader has
applied them. Compatibility tests are reads and run on any instance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

import avro.schema

from streamworks.registry.canonical import confluent_text
from streamworks.registry.differences import OldSchema, explain
from streamworks.registry.errors import (
    IdDoesNotMatchError,
    IncompatibleError,
    InvalidLevelError,
    InvalidModeError,
    InvalidSchemaTextError,
    OperationNotPermittedError,
    ReferenceExistsError,
    SchemaIdNotFoundError,
    SubjectConfigNotFoundError,
    SubjectNotFoundError,
    SubjectNotSoftDeletedError,
    SubjectSoftDeletedError,
    VersionNotFoundError,
    VersionNotSoftDeletedError,
    VersionSoftDeletedError,
)
from streamworks.registry.records import (
    MODES,
    ConfigRecord,
    IdWatermarkRecord,
    LogRecord,
    Mode,
    ModeRecord,
    SchemaRecord,
)
from streamworks.registry.state import RegistryState, VersionSpec, canonical_form, identity
from streamworks.schemas.compatibility import InvalidCompatibilityLevelError, parse_level
from streamworks.schemas.errors import InvalidSchemaError
from streamworks.schemas.references import (
    SchemaReference,
    canonical_with,
    parse_with,
    standalone,
)

__all__ = [
    "Plan",
    "Submitted",
    "check_mode",
    "compatibility_problems",
    "delete_config",
    "delete_mode",
    "delete_subject",
    "delete_version",
    "import_schema",
    "lookup",
    "parse_mode",
    "register",
    "set_config",
    "set_mode",
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


@dataclass(frozen=True)
class Submitted:
    """A schema as a request sent it (register, lookup, compatibility test)."""

    schema: str
    """The schema text."""
    references: tuple[SchemaReference, ...] = ()
    """The other subjects' versions whose named types it uses."""


@dataclass(frozen=True)
class _Resolved:
    key: str
    """Its identity: same key, same schema id (see :func:`identity`)."""
    parsed: avro.schema.Schema
    references: tuple[SchemaReference, ...]
    """With ``-1`` replaced by the version it meant, as stored."""


def validate_schema(schema: Any, schema_type: Any = "AVRO", references: Any = None) -> Submitted:
    """A request's schema, checked as far as it can be without the registry's state.

    A schema without references is parsed now (so a secondary refuses it before forwarding);
    one with references is parsed by the command, with the referenced types. Raises
    InvalidSchemaTextError.
    """
    kind = "AVRO" if schema_type is None else schema_type
    if kind not in SCHEMA_TYPES:
        raise InvalidSchemaTextError(f"schema type {kind!r} is not supported; use AVRO")
    if not isinstance(schema, str) or not schema.strip():
        raise InvalidSchemaTextError("Empty schema")
    if references is not None and not isinstance(references, list):
        raise InvalidSchemaTextError("Invalid schema references: send a list of objects")
    try:
        found = tuple(SchemaReference.from_json(item) for item in references or ())
        if not found:
            canonical_form(schema)
    except InvalidSchemaError as error:
        raise InvalidSchemaTextError(str(error)) from error
    return Submitted(schema, found)


def _resolve(state: RegistryState, submitted: Submitted, *, new: bool) -> _Resolved:
    """Parse ``submitted`` with its references' types; a new registration may reference live
    versions only (as in Confluent). Raises InvalidSchemaTextError (42201), for a missing
    reference too."""
    try:
        references, texts = state.resolve(submitted.references, deleted=not new)
        parsed = parse_with(submitted.schema, texts)
        canonical = (
            canonical_with(submitted.schema, texts)
            if references
            else canonical_form(submitted.schema)
        )
    except InvalidSchemaError as error:
        raise InvalidSchemaTextError(str(error)) from error
    return _Resolved(identity(canonical, references), parsed, references)


def _parsed(state: RegistryState, record: SchemaRecord) -> avro.schema.Schema:
    """A stored version parsed with its references' types (which may be soft-deleted)."""
    return parse_with(record.schema, state.resolve(record.references, deleted=True)[1])


def register(state: RegistryState, subject: str, submitted: Submitted) -> Plan[dict[str, int]]:
    """Register a schema under ``subject``: same schema, same id; new versions must fit."""
    check_mode(state, subject, registering=True)
    resolved = _resolve(state, submitted, new=True)
    live = state.versions(subject)
    for record in live:
        if state.canonical(record.schema_id) == resolved.key:
            return Plan({"id": record.schema_id})
    problems = _problems(state, subject, resolved.parsed, live)
    if problems:
        raise IncompatibleError(subject, problems)
    known = state.id_of(resolved.key)
    schema_id = known if known is not None else state.max_id + 1
    record = SchemaRecord(
        subject,
        state.next_version(subject),
        schema_id,
        submitted.schema,
        references=resolved.references,
    )
    if known is not None:
        return Plan({"id": schema_id}, (record,))
    return Plan({"id": schema_id}, (record, IdWatermarkRecord(schema_id)))


def lookup(
    state: RegistryState, subject: str, submitted: Submitted, *, deleted: bool = False
) -> dict[str, Any]:
    """The version of ``subject`` holding this schema; 40401 or 40403 when there is none."""
    versions = state.versions(subject, deleted=deleted)
    if not versions:
        raise SubjectNotFoundError(subject)
    key = _resolve(state, submitted, new=False).key
    for record in reversed(versions):
        if state.canonical(record.schema_id) == key:
            return version_json(record)
    if not submitted.references:
        # as Confluent: a schema sent with its references' types inlined finds the version
        for record in reversed(versions):
            if record.references and _inlined_key(state, record) == key:
                return version_json(record)
    raise SchemaIdNotFoundError()


def _inlined_key(state: RegistryState, record: SchemaRecord) -> str | None:
    try:
        texts = state.resolve(record.references, deleted=True)[1]
        return canonical_form(standalone(record.schema, texts))
    except InvalidSchemaError:
        return None


def version_json(record: SchemaRecord) -> dict[str, Any]:
    """Confluent's answer for one subject version; ``references`` only when it has some."""
    answer: dict[str, Any] = {
        "subject": record.subject,
        "version": record.version,
        "id": record.schema_id,
        "schema": record.schema,
    }
    if record.references:
        answer["references"] = [reference.to_json() for reference in record.references]
    return answer


def compatibility_problems(
    state: RegistryState,
    subject: str,
    candidate: Submitted,
    against: Sequence[SchemaRecord],
    level: str | None = None,
) -> list[str]:
    """Problems of ``candidate`` against versions of ``subject`` under its (or ``level``) level."""
    if not against:
        return []
    return _problems(state, subject, _resolve(state, candidate, new=True).parsed, against, level)


def _problems(
    state: RegistryState,
    subject: str,
    candidate: avro.schema.Schema,
    against: Sequence[SchemaRecord],
    level: str | None = None,
) -> list[str]:
    # a stored schema this parser rejects (another registry wrote it) is left out, as the
    # registry that accepted it would have compared with it; the state logged it once
    against = [record for record in against if state.parses(record.schema_id)]
    if not against:
        return []
    olds = [
        OldSchema(record.version, _parsed(state, record), confluent_text(record.schema))
        for record in against
    ]
    return explain(candidate, olds, parse_level(level or state.effective_level(subject)))


def _refuse_if_referenced(state: RegistryState, record: SchemaRecord) -> None:
    """42206 when a live schema references this version (Confluent checks the same)."""
    if state.referenced_by(record.subject, record.version):
        raise ReferenceExistsError(record.subject, record.version)


def delete_subject(state: RegistryState, subject: str, *, permanent: bool) -> Plan[list[int]]:
    """Soft-delete every live version, or (``permanent``) erase a soft-deleted subject."""
    check_mode(state, subject)
    everything = state.versions(subject, deleted=True)
    if not everything:
        raise SubjectNotFoundError(subject)
    live = state.versions(subject)
    if permanent:
        for record in everything:
            _refuse_if_referenced(state, record)
        if live:
            raise SubjectNotSoftDeletedError(subject)
        records: list[LogRecord] = [SchemaRecord(subject, r.version, hard=True) for r in everything]
        if state.level(subject) is not None:
            records.append(ConfigRecord(subject, None))
        return Plan([r.version for r in everything], tuple(records))
    if not live:
        raise SubjectSoftDeletedError(subject)
    for record in live:
        _refuse_if_referenced(state, record)
    return Plan([r.version for r in live], tuple(replace(r, deleted=True) for r in live))


def delete_version(
    state: RegistryState, subject: str, spec: VersionSpec, *, permanent: bool
) -> Plan[int]:
    """Soft-delete one version, or (``permanent``) erase a soft-deleted one."""
    check_mode(state, subject)
    if not state.has_subject(subject):
        raise SubjectNotFoundError(subject)
    if spec == "latest":
        spec = state.version(subject, "latest", deleted=permanent).version
    every = {r.version: r for r in state.versions(subject, deleted=True)}
    record = every.get(spec)
    if record is None:
        raise VersionNotFoundError(subject, spec)
    if permanent or not record.deleted:  # else 40406 first, as in Confluent
        _refuse_if_referenced(state, record)
    if permanent:
        if not record.deleted:
            raise VersionNotSoftDeletedError(subject, spec)
        return Plan(spec, (SchemaRecord(subject, spec, hard=True),))
    if record.deleted:
        raise VersionSoftDeletedError(subject, spec)
    return Plan(spec, (replace(record, deleted=True),))


def _level(level: Any) -> str:
    try:
        return parse_level(level)
    except InvalidCompatibilityLevelError as error:
        raise InvalidLevelError() from error


def set_config(state: RegistryState, subject: str | None, level: Any) -> Plan[dict[str, str]]:
    """Set the level of a subject (or the global one, for None); answer the level as it was
    sent (Confluent echoes the request: ``full`` stays lower case)."""
    check_mode(state, subject)  # any subject may have a level, even before its first version
    chosen = _level(level)
    return Plan({"compatibility": str(level)}, (ConfigRecord(subject, chosen),))


def delete_config(state: RegistryState, subject: str | None) -> Plan[dict[str, str]]:
    """Drop a subject's own level (or reset the global one); answer the level it had."""
    check_mode(state, subject)
    previous = state.level(subject)
    if subject is not None and previous is None:
        if not state.has_subject(subject):
            raise SubjectNotFoundError(subject)
        raise SubjectConfigNotFoundError(subject)
    answer = {"compatibilityLevel": previous or state.effective_level(subject)}
    return Plan(answer, (ConfigRecord(subject, None),) if previous is not None else ())


# -- modes ------------------------------------------------------------------------------


def check_mode(state: RegistryState, subject: str | None, *, registering: bool = False) -> None:
    """42205 unless the mode in force lets the write through, in Confluent's words.

    READONLY and READONLY_OVERRIDE refuse every write but mode changes; a registration
    without an id needs READWRITE (:func:`import_schema` checks its own).
    """
    mode, name = state.effective_mode(subject), "null" if subject is None else subject
    if mode in ("READONLY", "READONLY_OVERRIDE"):
        raise OperationNotPermittedError(f"Subject {name} is in read-only mode")
    if registering and mode != "READWRITE":
        raise OperationNotPermittedError(f"Subject {name} is not in read-write mode")


def parse_mode(text: Any) -> Mode:
    """A mode from a request, any case; 42204 otherwise."""
    for mode in MODES:
        if isinstance(text, str) and text.upper() == mode:
            return mode
    raise InvalidModeError()


def set_mode(
    state: RegistryState,
    subject: str | None,
    mode: Mode,
    *,
    force: bool = False,
    sent: str | None = None,
) -> Plan[dict[str, str]]:
    """Set the mode of a subject (or the global one, for None); answer the mode as it was
    ``sent`` (Confluent echoes the request: ``readonly`` stays lower case).

    Entering IMPORT needs no live version in scope (the subject, or every subject for the
    global mode) unless ``force``; the soft-deleted ones left are erased so the imported
    versions can take their numbers, as Confluent does.
    """
    records: list[LogRecord] = []
    if mode == "IMPORT" and state.effective_mode(subject) != "IMPORT" and not force:
        subjects = state.subjects(deleted=True) if subject is None else [subject]
        if any(state.versions(name) for name in subjects):
            raise OperationNotPermittedError("Cannot import since found existing subjects")
        records = [
            SchemaRecord(name, record.version, hard=True)
            for name in subjects
            for record in state.versions(name, deleted=True)
        ]
    records.append(ModeRecord(subject, mode))
    return Plan({"mode": mode if sent is None else sent}, tuple(records))


def delete_mode(state: RegistryState, subject: str) -> Plan[dict[str, str]]:
    """Drop a subject's own mode; answer the mode it had (40401 when it had none)."""
    previous = state.mode(subject)
    if previous is None:
        raise SubjectNotFoundError(subject)
    return Plan({"mode": previous}, (ModeRecord(subject, None),))


def import_schema(
    state: RegistryState,
    subject: str,
    submitted: Submitted,
    schema_id: int | None,
    version: int | None,
) -> Plan[dict[str, int]]:
    """Register with the ``id`` and ``version`` a request gives (a migration's import).

    An id needs IMPORT mode: no compatibility check, any version (an existing one is
    replaced), the id kept unless another schema has it (42205) or the subject has this
    schema under another id (42207). A version alone needs READWRITE and must be the next.
    """
    if schema_id is None:
        if version is not None and version != state.next_version(subject):
            check_mode(state, subject, registering=True)
            raise InvalidSchemaTextError("Version is not one more than previous version")
        return register(state, subject, submitted)
    check_mode(state, subject)
    if state.effective_mode(subject) != "IMPORT":
        raise OperationNotPermittedError(f"Subject {subject} is not in import mode")
    resolved = _resolve(state, submitted, new=True)
    for record in state.versions(subject):
        if state.canonical(record.schema_id) == resolved.key and version in (None, record.version):
            if record.schema_id != schema_id:
                raise IdDoesNotMatchError(record.schema_id, schema_id)
            return Plan({"id": schema_id})
    if state.has_id(schema_id) and state.canonical(schema_id) != resolved.key:
        raise OperationNotPermittedError(
            f"Overwrite new schema with id {schema_id} is not permitted."
        )
    record = SchemaRecord(
        subject,
        version or state.next_version(subject),
        schema_id,
        submitted.schema,
        references=resolved.references,
    )
    if schema_id <= state.max_id:
        return Plan({"id": schema_id}, (record,))
    return Plan({"id": schema_id}, (record, IdWatermarkRecord(schema_id)))
