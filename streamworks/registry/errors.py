"""Errors of the registry service, each carrying Confluent's HTTP status and error code.

The API turns any of these into ``{"error_code": N, "message": "..."}`` with the status.
Backend errors (Kafka unavailable, timeouts, no reachable primary) are ``retriable``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from streamworks.core.errors import StreamworksError
from streamworks.schemas.errors import RegistryRequestError

__all__ = [
    "BackendError",
    "BackendTimeoutError",
    "BadRequestError",
    "ForbiddenError",
    "ForwardingError",
    "IdDoesNotMatchError",
    "IncompatibleError",
    "InvalidLevelError",
    "InvalidModeError",
    "InvalidSchemaTextError",
    "InvalidVersionError",
    "NotAcceptableError",
    "NotFoundError",
    "NotPrimaryError",
    "OperationNotPermittedError",
    "ReferenceExistsError",
    "RegistryApiError",
    "RegistrySetupError",
    "SchemaIdNotFoundError",
    "SubjectConfigNotFoundError",
    "SubjectModeNotFoundError",
    "SubjectNotFoundError",
    "SubjectNotSoftDeletedError",
    "SubjectSoftDeletedError",
    "UnauthorizedError",
    "UnsupportedMediaTypeError",
    "UsersFileError",
    "VersionNotFoundError",
    "VersionNotSoftDeletedError",
    "VersionSoftDeletedError",
]


class RegistryApiError(RegistryRequestError):
    """A refused request; ``http_status`` and ``code`` are Confluent's status and error code."""

    http_status: ClassVar[int] = 500
    code: ClassVar[int] = 50001

    def __init__(self, message: str) -> None:
        super().__init__(message, status=self.http_status, error_code=self.code)


class NotFoundError(RegistryApiError):
    """No route answers the path, or a path parameter is not of its type (``/schemas/ids/x``)."""

    http_status, code = 404, 404

    def __init__(self) -> None:
        super().__init__("HTTP 404 Not Found")


class NotAcceptableError(RegistryApiError):
    """The request's ``Accept`` header names no type the registry answers in."""

    http_status, code = 406, 406

    def __init__(self) -> None:
        super().__init__("HTTP 406 Not Acceptable")


class BadRequestError(RegistryApiError):
    """The request body is not JSON, or not the JSON object the endpoint expects."""

    http_status, code = 400, 400


class UnsupportedMediaTypeError(RegistryApiError):
    """The request's Content-Type is not one of the registry's JSON types."""

    http_status, code = 415, 415

    def __init__(self) -> None:
        super().__init__("HTTP 415 Unsupported Media Type")


class UnauthorizedError(RegistryApiError):
    """No credentials, an unknown user or a wrong password (answered with WWW-Authenticate)."""

    http_status, code = 401, 40101


class ForbiddenError(RegistryApiError):
    """The user may not do this: a read-only user's write, or a write outside its subjects."""

    http_status, code = 403, 40301


class SubjectNotFoundError(RegistryApiError):
    """No (live) version exists under the subject."""

    http_status, code = 404, 40401

    def __init__(self, subject: str) -> None:
        self.subject = subject
        super().__init__(f"Subject '{subject}' not found.")


class VersionNotFoundError(RegistryApiError):
    """The subject has no such (live) version; Confluent's message names only the version."""

    http_status, code = 404, 40402

    def __init__(self, subject: str, version: int | str) -> None:
        self.subject, self.version = subject, version
        super().__init__(f"Version {version} not found.")


class SchemaIdNotFoundError(RegistryApiError):
    """No schema has the id, or the schema is not under the subject.

    Confluent names the id only when one was asked for by id (``GET /schemas/ids/{id}``).
    """

    http_status, code = 404, 40403

    def __init__(self, schema_id: int | None = None) -> None:
        self.schema_id = schema_id
        named = "" if schema_id is None else f" {schema_id}"
        super().__init__(f"Schema{named} not found")


class SubjectSoftDeletedError(RegistryApiError):
    """A soft delete of a subject whose versions are all soft-deleted already."""

    http_status, code = 404, 40404

    def __init__(self, subject: str) -> None:
        self.subject = subject
        # Confluent's text, missing space included
        super().__init__(
            f"Subject '{subject}' was soft deleted.Set permanent=true to delete permanently"
        )


class SubjectNotSoftDeletedError(RegistryApiError):
    """A permanent delete of a subject that was not soft-deleted first."""

    http_status, code = 404, 40405

    def __init__(self, subject: str) -> None:
        self.subject = subject
        super().__init__(
            f"Subject '{subject}' was not deleted first before being permanently deleted"
        )


class VersionSoftDeletedError(RegistryApiError):
    """A soft delete of a version that is soft-deleted already."""

    http_status, code = 404, 40406

    def __init__(self, subject: str, version: int | str) -> None:
        self.subject, self.version = subject, version
        super().__init__(
            f"Subject '{subject}' Version {version} was soft deleted."
            "Set permanent=true to delete permanently"
        )


class VersionNotSoftDeletedError(RegistryApiError):
    """A permanent delete of a version that was not soft-deleted first."""

    http_status, code = 404, 40407

    def __init__(self, subject: str, version: int | str) -> None:
        self.subject, self.version = subject, version
        super().__init__(
            f"Subject '{subject}' Version {version} was not deleted first before being "
            "permanently deleted"
        )


class SubjectConfigNotFoundError(RegistryApiError):
    """The subject has no compatibility level of its own (and no fallback was asked for)."""

    http_status, code = 404, 40408

    def __init__(self, subject: str) -> None:
        self.subject = subject
        super().__init__(
            f"Subject '{subject}' does not have subject-level compatibility configured"
        )


class IncompatibleError(RegistryApiError):
    """The schema breaks the subject's compatibility level; the message names the field."""

    http_status, code = 409, 409

    def __init__(self, subject: str, problems: Sequence[str]) -> None:
        self.subject, self.problems = subject, tuple(problems)
        super().__init__(
            "Schema being registered is incompatible with an earlier schema for subject "
            f'"{subject}", details: [{", ".join(problems)}]'
        )


class InvalidSchemaTextError(RegistryApiError):
    """The schema is not valid Avro, or of a type this registry does not serve."""

    http_status, code = 422, 42201


class InvalidVersionError(RegistryApiError):
    """A version is neither an integer from 1 nor ``latest`` (or -1)."""

    http_status, code = 422, 42202

    def __init__(self, version: str) -> None:
        self.version = version
        super().__init__(
            f"The specified version '{version}' is not a valid version id. "
            'Allowed values are between [1, 2^31-1] and the string "latest"'
        )


class InvalidLevelError(RegistryApiError):
    """A compatibility level is not one of the seven Confluent levels."""

    http_status, code = 422, 42203

    def __init__(self) -> None:
        super().__init__(
            "Invalid compatibility level. Valid values are none, backward, forward, full, "
            "backward_transitive, forward_transitive, and full_transitive"
        )


class SubjectModeNotFoundError(RegistryApiError):
    """The subject has no mode of its own (and no fallback was asked for)."""

    http_status, code = 404, 40409

    def __init__(self, subject: str) -> None:
        self.subject = subject
        super().__init__(f"Subject '{subject}' does not have subject-level mode configured")


class InvalidModeError(RegistryApiError):
    """A mode is not READWRITE, READONLY, READONLY_OVERRIDE or IMPORT (Confluent's text)."""

    http_status, code = 422, 42204

    def __init__(self) -> None:
        super().__init__("Invalid mode. Valid values are READWRITE, READONLY, and IMPORT.")


class OperationNotPermittedError(RegistryApiError):
    """The mode forbids the write: read-only, not importing, or an import that would clash."""

    http_status, code = 422, 42205


class IdDoesNotMatchError(RegistryApiError):
    """An import gives the subject's existing schema another id."""

    http_status, code = 422, 42207

    def __init__(self, registered: int, given: int) -> None:
        self.registered, self.given = registered, given
        super().__init__(
            f"Schema already registered with id {registered} instead of input id {given}"
        )


class ReferenceExistsError(RegistryApiError):
    """A delete of a version that a live schema references; delete the referencing one first."""

    http_status, code = 422, 42206

    def __init__(self, subject: str, version: int) -> None:
        self.subject, self.version = subject, version
        # Confluent's text: its key's toString
        super().__init__(
            "One or more references exist to the schema "
            f"{{magic=1,keytype=SCHEMA,subject={subject},version={version}}}"
        )


class BackendError(RegistryApiError):
    """The ``_schemas`` topic could not be read or written; try again later."""

    retriable = True
    http_status, code = 500, 50001


class BackendTimeoutError(RegistryApiError):
    """A write was not seen back from the ``_schemas`` topic in time; try again later."""

    retriable = True
    http_status, code = 500, 50002


class ForwardingError(RegistryApiError):
    """A write could not be forwarded to the primary instance; try again later."""

    retriable = True
    http_status, code = 500, 50003


class NotPrimaryError(ForwardingError):
    """This instance is not (or no longer) the primary, so it cannot write."""


class RegistrySetupError(StreamworksError):
    """The registry cannot start as configured (its users file, its TLS certificate)."""


class UsersFileError(RegistrySetupError):
    """The registry's users file cannot be read, or is not the shape the registry expects."""
