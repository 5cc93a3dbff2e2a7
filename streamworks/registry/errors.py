"""Errors of the registry service, each carrying Confluent's HTTP status and error code.

The API turns any of these into ``{"error_code": N, "message": "..."}`` with the status.
Backend errors (Kafka unavailable, timeouts, no reachable primary) are ``retriable``.
"""

from __future__ import annotations

from typing import ClassVar

from streamworks.core.errors import StreamworksError
from streamworks.schemas.errors import RegistryRequestError

__all__ = [
    "BackendError",
    "BackendTimeoutError",
    "BadRequestError",
    "ForbiddenError",
    "ForwardingError",
    "IncompatibleError",
    "InvalidLevelError",
    "InvalidSchemaTextError",
    "InvalidVersionError",
    "NotPrimaryError",
    "RegistryApiError",
    "RegistrySetupError",
    "SchemaIdNotFoundError",
    "SubjectConfigNotFoundError",
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


class BadRequestError(RegistryApiError):
    """The request body is not JSON, or not the JSON object the endpoint expects."""

    http_status, code = 400, 400


class UnsupportedMediaTypeError(RegistryApiError):
    """The request's Content-Type is not one of the registry's JSON types."""

    http_status, code = 415, 415


class UnauthorizedError(RegistryApiError):
    """No credentials, an unknown user or a wrong password (answered with WWW-Authenticate)."""

    http_status, code = 401, 40101


class ForbiddenError(RegistryApiError):
    """The user may not do this: a read-only user's write, or a write outside its subjects."""

    http_status, code = 403, 40301


class SubjectNotFoundError(RegistryApiError):
    """No (live) version exists under the subject."""

    http_status, code = 404, 40401


class VersionNotFoundError(RegistryApiError):
    """The subject has no such (live) version."""

    http_status, code = 404, 40402


class SchemaIdNotFoundError(RegistryApiError):
    """No schema has the id, or the schema is not under the subject."""

    http_status, code = 404, 40403


class SubjectSoftDeletedError(RegistryApiError):
    """A soft delete of a subject whose versions are all soft-deleted already."""

    http_status, code = 404, 40404


class SubjectNotSoftDeletedError(RegistryApiError):
    """A permanent delete of a subject that was not soft-deleted first."""

    http_status, code = 404, 40405


class VersionSoftDeletedError(RegistryApiError):
    """A soft delete of a version that is soft-deleted already."""

    http_status, code = 404, 40406


class VersionNotSoftDeletedError(RegistryApiError):
    """A permanent delete of a version that was not soft-deleted first."""

    http_status, code = 404, 40407


class SubjectConfigNotFoundError(RegistryApiError):
    """The subject has no compatibility level of its own (and no fallback was asked for)."""

    http_status, code = 404, 40408


class IncompatibleError(RegistryApiError):
    """The schema breaks the subject's compatibility level; the message names the field."""

    http_status, code = 409, 409


class InvalidSchemaTextError(RegistryApiError):
    """The schema is not valid Avro, or of a type this registry does not serve."""

    http_status, code = 422, 42201


class InvalidVersionError(RegistryApiError):
    """A version is neither an integer from 1 nor ``latest`` (or -1)."""

    http_status, code = 422, 42202


class InvalidLevelError(RegistryApiError):
    """A compatibility level is not one of the seven Confluent levels."""

    http_status, code = 422, 42203


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
