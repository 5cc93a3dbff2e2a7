"""Errors of schemas, the codec and the registry client."""

from __future__ import annotations

from streamworks.core.errors import StreamworksError

__all__ = [
    "DecodeError",
    "EncodeError",
    "IncompatibleSchemaError",
    "InvalidSchemaError",
    "KeyDecodeError",
    "RegistryAccessError",
    "RegistryAuthenticationError",
    "RegistryAuthorizationError",
    "RegistryError",
    "RegistryRequestError",
    "RegistryTLSError",
    "RegistryUnavailableError",
    "SchemaError",
    "SchemaNotFoundError",
    "ValueDecodeError",
]


class SchemaError(StreamworksError):
    """Something about an Avro schema or a record's encoding is wrong."""


class InvalidSchemaError(SchemaError):
    """A schema is not valid Avro (or a contract file cannot be parsed)."""


class IncompatibleSchemaError(SchemaError):
    """A schema change would break readers or writers under the subject's compatibility."""

    def __init__(self, message: str, subject: str | None = None) -> None:
        super().__init__(message)
        self.subject = subject


class EncodeError(SchemaError):
    """A record does not fit the schema it is written with."""

    def __init__(self, message: str, subject: str | None = None) -> None:
        super().__init__(message)
        self.subject = subject


class DecodeError(SchemaError):
    """Bytes read from a topic are not a valid Confluent-framed Avro record.

    Never retriable: the same bytes fail the same way, so the record goes to a dead-letter
    topic. Carries where the bytes came from, for the dead letter's headers.
    """

    part = "value"

    def __init__(
        self,
        reason: str,
        *,
        topic: str | None = None,
        partition: int | None = None,
        offset: int | None = None,
        schema_id: int | None = None,
    ) -> None:
        where = ", ".join(
            f"{name} {value}"
            for name, value in (
                ("topic", topic),
                ("partition", partition),
                ("offset", offset),
                ("schema id", schema_id),
            )
            if value is not None
        )
        super().__init__(
            f"cannot decode record {self.part}: {reason}" + (f" ({where})" if where else "")
        )
        self.reason = reason
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.schema_id = schema_id


class KeyDecodeError(DecodeError):
    """A record's key could not be decoded."""

    part = "key"


class ValueDecodeError(DecodeError):
    """A record's value could not be decoded."""

    part = "value"


class RegistryError(StreamworksError):
    """The schema registry could not answer a request."""


class RegistryUnavailableError(RegistryError):
    """The registry did not answer (connection refused, timeout, 5xx); try again later."""

    retriable = True


class RegistryRequestError(RegistryError):
    """The registry refused a request; ``status`` and ``error_code`` are Confluent's."""

    def __init__(self, message: str, *, status: int, error_code: int) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code


class SchemaNotFoundError(RegistryRequestError):
    """No schema (or subject, or version) exists for the id or name asked for."""


class RegistryAccessError(RegistryError):
    """The registry cannot be used as configured: the login, the role or the TLS trust.

    Never retriable, and deliberately not a :class:`RegistryRequestError`: the codec reads
    those as "this schema id does not exist" and dead-letters the record, while this says
    nothing about any record and must stop the process with its one-line reason.
    """

    def __init__(
        self,
        message: str,
        *,
        user: str | None = None,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        super().__init__(message)
        self.user = user
        """The user name sent (None: no credentials were configured)."""
        self.method = method
        """The HTTP method refused, e.g. ``POST``."""
        self.path = path
        """The path refused, e.g. ``/subjects/orders.raw-value/versions``."""


class RegistryAuthenticationError(RegistryAccessError):
    """401: no credentials, an unknown user or a wrong password."""

    status = 401


class RegistryAuthorizationError(RegistryAccessError):
    """403: the user is known but may not do this (a read-only user's write, say)."""

    status = 403


class RegistryTLSError(RegistryAccessError):
    """The registry's TLS certificate is not trusted (or it does not speak TLS): fix the CA."""
