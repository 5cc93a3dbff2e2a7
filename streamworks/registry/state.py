"""The registry's in-memory model, rebuilt by applying the ``_schemas`` records in order.

Every instance holds one and answers reads from it. Nothing here does I/O: the log reader
feeds :meth:`RegistryState.apply`, and the write commands read the state to plan records.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Literal

from streamworks.registry.errors import (
    InvalidVersionError,
    SchemaIdNotFoundError,
    SubjectNotFoundError,
    VersionNotFoundError,
)
from streamworks.registry.records import (
    ConfigRecord,
    IdWatermarkRecord,
    LogRecord,
    PrimaryRecord,
    SchemaRecord,
)
from streamworks.schemas.compatibility import DEFAULT_LEVEL, parse_schema

__all__ = ["Latest", "RegistryState", "VersionSpec", "canonical_form", "parse_version"]

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
        self._levels: dict[str | None, str] = {}
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
        elif isinstance(record, IdWatermarkRecord):
            self._max_id = max(self._max_id, record.max_id)
        else:
            self.primary = record

    def _apply_schema(self, record: SchemaRecord) -> None:
        versions = self._subjects.setdefault(record.subject, {})
        previous = versions.pop(record.version, None)
        if previous is not None:
            self._release(previous.schema_id)
        if record.hard:
            if not versions:
                del self._subjects[record.subject]
            return
        versions[record.version] = record
        self._max_id = max(self._max_id, record.schema_id)
        self._users[record.schema_id] = self._users.get(record.schema_id, 0) + 1
        if record.schema_id not in self._schemas:
            self._schemas[record.schema_id] = record.schema
            try:
                canonical = canonical_form(record.schema)
            except Exception:  # noqa: BLE001 - a bad record must not stop the log reader
                logger.warning("schema id %d in the log is not valid Avro", record.schema_id)
                return
            self._canonical[record.schema_id] = canonical
            self._ids[canonical] = min(self._ids.get(canonical, record.schema_id), record.schema_id)

    def _release(self, schema_id: int) -> None:
        """One fewer version uses ``schema_id``; forget the schema when none does."""
        left = self._users.get(schema_id, 0) - 1
        if left > 0:
            self._users[schema_id] = left
            return
        self._users.pop(schema_id, None)
        self._schemas.pop(schema_id, None)
        canonical = self._canonical.pop(schema_id, None)
        if canonical is not None and self._ids.get(canonical) == schema_id:
            del self._ids[canonical]

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

    def id_of(self, canonical: str) -> int | None:
        """The global id already given to a schema with this canonical form, if any."""
        return self._ids.get(canonical)

    def canonical(self, schema_id: int) -> str | None:
        """The canonical form of the schema with this id, if it parsed."""
        return self._canonical.get(schema_id)

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
