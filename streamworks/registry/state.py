"""The registry's in-memory model, rebuilt by applying the ``_schemas`` records in order.

Every instance holds one and answers reads from it. Nothing here does I/O: the log reader
feeds :meth:`RegistryState.apply`, and the write commands read the state to plan records.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import replace
from typing import Literal

from streamworks.registry.canonical import confluent_text
from streamworks.registry.errors import (
    InvalidVersionError,
    SchemaIdNotFoundError,
    SubjectNotFoundError,
    VersionNotFoundError,
)
from streamworks.registry.records import (
    ClearSubjectRecord,
    ConfigRecord,
    DeleteSubjectRecord,
    IdWatermarkRecord,
    LogRecord,
    Mode,
    ModeRecord,
    PrimaryRecord,
    SchemaRecord,
)
from streamworks.schemas.compatibility import DEFAULT_LEVEL, parse_schema
from streamworks.schemas.references import (
    SchemaReference,
    canonical_with,
    missing_reference,
    referenced_schemas,
)

__all__ = [
    "Latest",
    "RegistryState",
    "VersionSpec",
    "canonical_form",
    "identity",
    "parse_version",
]

logger = logging.getLogger(__name__)

Latest = Literal["latest"]
VersionSpec = int | Latest
_MAX_VERSION = 2**31 - 1
_INTEGER = re.compile(r"[+-]?[0-9]+")


def canonical_form(schema: str) -> str:
    """The text two registrations of "the same schema" share; raises InvalidSchemaError.

    Avro's parsed form re-serialised with sorted keys and no spaces: whitespace, key order
    and ``{"type": "string"}`` versus ``"string"`` do not matter, but defaults, docs and
    field order (which do matter to readers) are kept, unlike Avro's Parsing Canonical Form.
    """
    return json.dumps(parse_schema(schema).to_json(), sort_keys=True, separators=(",", ":"))


def identity(canonical: str, references: tuple[SchemaReference, ...] = ()) -> str:
    """What makes two registrations the same schema (one id): the canonical text and, as in
    Confluent, the references: the same text naming other subject versions is another schema.
    """
    if not references:
        return canonical
    return canonical + json.dumps([r.to_json() for r in references], separators=(",", ":"))


def parse_version(text: str) -> VersionSpec:
    """A version path parameter as Confluent reads it: [1, 2^31-1], ``latest`` (any case), -1.

    Like Confluent, the error quotes the text when it is not a 32-bit integer, else the number.
    """
    trimmed = text.strip()
    if trimmed.lower() == "latest":
        return "latest"
    if not _INTEGER.fullmatch(trimmed) or not -_MAX_VERSION - 1 <= int(trimmed) <= _MAX_VERSION:
        raise InvalidVersionError(text)
    number = int(trimmed)
    if number == -1:
        return "latest"
    if number < 1:
        raise InvalidVersionError(str(number))
    return number


class RegistryState:
    """Subjects with their versions, schemas by global id, compatibility levels, the primary."""

    def __init__(self) -> None:
        self._subjects: dict[str, dict[int, SchemaRecord]] = {}
        self._schemas: dict[int, str] = {}
        self._users: dict[int, int] = {}
        self._ids: dict[str, int] = {}
        self._canonical: dict[int, str] = {}
        self._references: dict[int, tuple[SchemaReference, ...]] = {}
        # (subject, version) -> {id of a live version referencing it: how many such versions}
        self._referrers: dict[tuple[str, int], dict[int, int]] = {}
        self._levels: dict[str | None, str] = {}
        self._modes: dict[str | None, Mode] = {}
        self._reported: set[int] = set()
        self._max_id = 0
        self.primary: PrimaryRecord | None = None
        """The latest primary announced on the log, if any."""

    # -- applying the log -----------------------------------------------------------------

    def apply(self, record: LogRecord) -> None:
        """Fold one record of the log into the model (records must come in log order)."""
        if isinstance(record, SchemaRecord):
            self._apply_schema(record)
        elif isinstance(record, ConfigRecord):
            if record.level is None:
                self._levels.pop(record.subject, None)
            else:
                self._levels[record.subject] = record.level
        elif isinstance(record, ModeRecord):
            if record.mode is None:
                self._modes.pop(record.subject, None)
            else:
                self._modes[record.subject] = record.mode
        elif isinstance(record, DeleteSubjectRecord | ClearSubjectRecord):
            self._apply_subject_wide(record)
        elif isinstance(record, IdWatermarkRecord):
            self._max_id = max(self._max_id, record.max_id)
        elif isinstance(record, PrimaryRecord):
            self.primary = record

    def _apply_subject_wide(self, record: DeleteSubjectRecord | ClearSubjectRecord) -> None:
        """Confluent's DELETE_SUBJECT (soft-delete versions up to one) and CLEAR_SUBJECT
        (erase the soft-deleted versions), applied as the per-version records they stand for."""
        for found in self.versions(record.subject, deleted=True):
            if isinstance(record, DeleteSubjectRecord):
                if found.version <= record.version and not found.deleted:
                    self._apply_schema(replace(found, deleted=True))
            elif found.deleted:
                self._apply_schema(SchemaRecord(record.subject, found.version, hard=True))

    def _apply_schema(self, record: SchemaRecord) -> None:
        versions = self._subjects.setdefault(record.subject, {})
        previous = versions.pop(record.version, None)
        if previous is not None:
            self._count_references(previous, -1)
            self._release(previous.schema_id)
        if record.hard:
            if not versions:
                del self._subjects[record.subject]
            return
        if record.schema_id not in self._schemas:
            self._references[record.schema_id] = record.references
            try:
                canonical = identity(self._canonical_of(record), record.references)
            except Exception as error:  # noqa: BLE001 - a bad record must not stop the log reader
                self._report_unparsable(record, error)
            else:
                self._canonical[record.schema_id] = canonical
                self._ids[canonical] = min(
                    self._ids.get(canonical, record.schema_id), record.schema_id
                )
        record = self._served(record)
        self._schemas.setdefault(record.schema_id, record.schema)
        versions[record.version] = record
        self._count_references(record, 1)
        self._max_id = max(self._max_id, record.schema_id)
        self._users[record.schema_id] = self._users.get(record.schema_id, 0) + 1

    def _served(self, record: SchemaRecord) -> SchemaRecord:
        """The record with its text as Confluent serves it (Avro Java's compact form).

        A schema that does not parse is served as stored, byte for byte.
        """
        if record.schema_id not in self._canonical:
            return record
        try:
            text = confluent_text(record.schema)
        except (ValueError, TypeError, KeyError):
            return record
        return record if text == record.schema else replace(record, schema=text)

    def _report_unparsable(self, record: SchemaRecord, error: Exception) -> None:
        """Say once per schema id that a stored schema does not parse, and what follows."""
        if record.schema_id in self._reported:
            return
        self._reported.add(record.schema_id)
        logger.warning(
            "schema id %d (subject '%s' version %d) in the log does not parse as Avro (%s); "
            "it is served as stored and left out of compatibility checks",
            record.schema_id,
            record.subject,
            record.version,
            error,
        )

    def _release(self, schema_id: int) -> None:
        """One fewer version uses ``schema_id``; forget the schema when none does."""
        left = self._users.get(schema_id, 0) - 1
        if left > 0:
            self._users[schema_id] = left
            return
        self._users.pop(schema_id, None)
        self._schemas.pop(schema_id, None)
        self._references.pop(schema_id, None)
        canonical = self._canonical.pop(schema_id, None)
        if canonical is not None and self._ids.get(canonical) == schema_id:
            del self._ids[canonical]

    def _canonical_of(self, record: SchemaRecord) -> str:
        if not record.references:
            return canonical_form(record.schema)
        return canonical_with(record.schema, self.resolve(record.references, deleted=True)[1])

    def _count_references(self, record: SchemaRecord, change: int) -> None:
        """A live version starts (+1) or stops (-1) referencing its references' versions.

        Soft-deleted versions do not count, as in Confluent: deleting the referencing version
        first is how a referenced one becomes deletable.
        """
        if record.deleted:
            return
        for reference in record.references:
            ids = self._referrers.setdefault((reference.subject, reference.version), {})
            ids[record.schema_id] = ids.get(record.schema_id, 0) + change
            if ids[record.schema_id] <= 0:
                del ids[record.schema_id]
            if not ids:
                del self._referrers[(reference.subject, reference.version)]

    # -- references -----------------------------------------------------------------------

    def resolve(
        self, references: tuple[SchemaReference, ...], *, deleted: bool
    ) -> tuple[tuple[SchemaReference, ...], list[str]]:
        """The references with ``-1`` made the latest version, and the schema texts to parse
        first (:func:`~streamworks.schemas.references.referenced_schemas`).

        ``deleted``: soft-deleted versions may be referenced (stored schemas); a new
        registration may reference live versions only. Raises InvalidSchemaError naming the
        first missing subject version, in Confluent's words.
        """
        found = [self._referenced(reference, deleted) for reference in references]
        concrete = tuple(
            SchemaReference(r.name, r.subject, record.version)
            for r, record in zip(references, found, strict=True)
        )

        def fetch(reference: SchemaReference) -> tuple[str, tuple[SchemaReference, ...]]:
            record = self._referenced(reference, True)
            return record.schema, record.references

        return concrete, referenced_schemas(concrete, fetch)

    def _referenced(self, reference: SchemaReference, deleted: bool) -> SchemaRecord:
        versions = self.versions(reference.subject, deleted=deleted)
        if reference.version == -1 and versions:
            return versions[-1]
        for record in versions:
            if record.version == reference.version:
                return record
        raise missing_reference(reference)

    def references(self, schema_id: int) -> tuple[SchemaReference, ...]:
        """The references of the schema with this id (empty for most schemas)."""
        return self._references.get(schema_id, ())

    def referenced_by(self, subject: str, version: int) -> list[int]:
        """The ids of live schemas that reference this subject version, ascending."""
        return sorted(self._referrers.get((subject, version), {}))

    # -- reading --------------------------------------------------------------------------

    @property
    def max_id(self) -> int:
        """The highest schema id ever handed out (0 before the first)."""
        return self._max_id

    def subjects(self, *, deleted: bool = False) -> list[str]:
        """Subjects with a live version (or any version, with ``deleted``), sorted."""
        return sorted(s for s in self._subjects if self.versions(s, deleted=deleted))

    def versions(self, subject: str, *, deleted: bool = False) -> list[SchemaRecord]:
        """The subject's live versions (all, with ``deleted``), oldest first."""
        found = self._subjects.get(subject, {})
        return [found[v] for v in sorted(found) if deleted or not found[v].deleted]

    def has_subject(self, subject: str) -> bool:
        """True when the subject has any version, live or soft-deleted."""
        return bool(self._subjects.get(subject))

    def version(self, subject: str, spec: VersionSpec, *, deleted: bool = False) -> SchemaRecord:
        """One version; raises SubjectNotFoundError or VersionNotFoundError."""
        versions = self.versions(subject, deleted=deleted)
        if not versions:
            raise SubjectNotFoundError(subject)
        if spec == "latest":
            return versions[-1]
        for record in versions:
            if record.version == spec:
                return record
        raise VersionNotFoundError(subject, spec)

    def next_version(self, subject: str) -> int:
        """The version a new registration under ``subject`` gets."""
        return max(self._subjects.get(subject, {}), default=0) + 1

    def schema(self, schema_id: int) -> str:
        """The schema text of a global id; raises SchemaIdNotFoundError."""
        try:
            return self._schemas[schema_id]
        except KeyError:
            raise SchemaIdNotFoundError(schema_id) from None

    def has_id(self, schema_id: int) -> bool:
        """True when some version, live or soft-deleted, uses the id."""
        return schema_id in self._schemas

    def id_of(self, canonical: str) -> int | None:
        """The global id already given to a schema with this canonical form, if any."""
        return self._ids.get(canonical)

    def canonical(self, schema_id: int) -> str | None:
        """The canonical form of the schema with this id, if it parsed."""
        return self._canonical.get(schema_id)

    def parses(self, schema_id: int) -> bool:
        """False for a stored schema this registry's parser rejects (e.g. written by
        another registry): it is served as stored and skipped in compatibility checks."""
        return schema_id in self._canonical

    def usages(self, schema_id: int, *, deleted: bool = False) -> list[SchemaRecord]:
        """The versions (live, or all with ``deleted``) that use a global id."""
        self.schema(schema_id)
        return [
            record
            for subject in sorted(self._subjects)
            for record in self.versions(subject, deleted=deleted)
            if record.schema_id == schema_id
        ]

    def level(self, subject: str | None) -> str | None:
        """The level set for the subject (or globally, for None), if one was set."""
        return self._levels.get(subject)

    def effective_level(self, subject: str | None) -> str:
        """The level that applies to the subject: its own, else global, else BACKWARD."""
        return self._levels.get(subject) or self._levels.get(None) or DEFAULT_LEVEL

    def mode(self, subject: str | None) -> Mode | None:
        """The mode set for the subject (or globally, for None), if one was set.

        As in Confluent, a global READONLY_OVERRIDE is every subject's own mode too.
        """
        if self._modes.get(None) == "READONLY_OVERRIDE":
            return "READONLY_OVERRIDE"
        return self._modes.get(subject)

    def effective_mode(self, subject: str | None) -> Mode:
        """The mode that applies: a global READONLY_OVERRIDE, else the subject's own, else
        the global one, else READWRITE."""
        return self.mode(subject) or self._modes.get(None) or "READWRITE"
