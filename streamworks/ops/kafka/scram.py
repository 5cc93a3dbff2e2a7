"""Create or update SCRAM users over the Kafka protocol, without a JVM.

Kafka's AlterUserScramCredentials request (API key 51, version 0, a flexible version)
carries the salted password, never the password: the client salts it as RFC 5802 says
(``Hi()`` is PBKDF2-HMAC) and the broker derives the stored and server keys from it.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from typing import Any, Literal

from aiokafka import AIOKafkaClient
from aiokafka.errors import KafkaError, for_code
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import (
    CompactArray,
    CompactBytes,
    CompactString,
    Int8,
    Int16,
    Int32,
    Schema,
    TaggedFields,
)

from streamworks.core.settings import Settings
from streamworks.kafka.clients import security_options
from streamworks.ops.kafka.errors import ScramUserError

__all__ = ["ScramMechanism", "salted_password", "upsert_users"]

ScramMechanism = Literal["SCRAM-SHA-256", "SCRAM-SHA-512"]

# Kafka's ScramMechanism type codes, and the digest each one salts with
_TYPES: dict[str, tuple[int, str]] = {
    "SCRAM-SHA-256": (1, "sha256"),
    "SCRAM-SHA-512": (2, "sha512"),
}
ITERATIONS = 8192
"""PBKDF2 rounds per password (Kafka accepts 4096 to 16384)."""
_SALT_BYTES = 32


def salted_password(mechanism: str, password: str, salt: bytes, iterations: int) -> bytes:
    """``SaltedPassword := Hi(Normalize(password), salt, i)`` of RFC 5802 (ASCII passwords)."""
    digest = _TYPES[mechanism][1]
    return hashlib.pbkdf2_hmac(digest, password.encode(), salt, iterations)


class _AlterResponseV0(Response):  # type: ignore[misc]  # aiokafka is untyped
    API_KEY = 51
    API_VERSION = 0
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        (
            "results",
            CompactArray(
                ("user", CompactString("utf-8")),
                ("error_code", Int16),
                ("error_message", CompactString("utf-8")),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class _AlterRequestV0(RequestStruct):  # type: ignore[misc]  # aiokafka is untyped
    FLEXIBLE_VERSION = True
    API_KEY = 51
    API_VERSION = 0
    RESPONSE_TYPE = _AlterResponseV0
    SCHEMA = Schema(
        (
            "deletions",
            CompactArray(
                ("name", CompactString("utf-8")),
                ("mechanism", Int8),
                ("tags", TaggedFields),
            ),
        ),
        (
            "upsertions",
            CompactArray(
                ("name", CompactString("utf-8")),
                ("mechanism", Int8),
                ("iterations", Int32),
                ("salt", CompactBytes),
                ("salted_password", CompactBytes),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class _AlterUserScramCredentials(Request[_AlterRequestV0]):  # type: ignore[misc]
    API_KEY = 51

    def __init__(self, upsertions: list[tuple[Any, ...]]) -> None:
        self._upsertions = upsertions

    def build(self, request_struct_class: type[_AlterRequestV0]) -> _AlterRequestV0:
        return request_struct_class([], self._upsertions, {})


async def upsert_users(
    settings: Settings, users: Mapping[str, str], mechanism: str = "SCRAM-SHA-512"
) -> None:
    """Create ``users`` (name -> password) for ``mechanism``, or change their passwords.

    ``settings`` must log in as a principal allowed to alter the cluster (a super user).
    Raises :class:`ScramUserError` naming the first user Kafka refused, and why.
    """
    if mechanism not in _TYPES:
        raise ScramUserError(None, mechanism, f"unknown mechanism; use one of {', '.join(_TYPES)}")
    code = _TYPES[mechanism][0]
    upsertions: list[tuple[Any, ...]] = []
    for name, password in users.items():
        salt = secrets.token_bytes(_SALT_BYTES)
        salted = salted_password(mechanism, password, salt, ITERATIONS)
        upsertions.append((name, code, ITERATIONS, salt, salted, {}))
    if not upsertions:
        return
    client = AIOKafkaClient(
        bootstrap_servers=settings.bootstrap_servers,
        client_id=f"{settings.client_id}-scram",
        request_timeout_ms=10_000,
        **security_options(settings),
    )
    try:
        await client.bootstrap()
        # any broker forwards the request to the active controller
        response = await client.send(
            client.get_random_node(), _AlterUserScramCredentials(upsertions)
        )
    except KafkaError as error:
        raise ScramUserError(
            ", ".join(users), mechanism, f"{type(error).__name__}: {error}", error.retriable
        ) from error
    finally:
        await client.close()
    for user, error_code, message, _ in response.results:
        if error_code:
            error_class = for_code(error_code)
            raise ScramUserError(
                user,
                mechanism,
                f"{error_class.__name__}: {message or error_class.description}",
                error_class.retriable,
            )
