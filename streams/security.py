"""Failing well on a secured cluster: a refused login or a missing ACL is one typed line.

aiokafka reports a bad password or an untrusted certificate as "Unable to bootstrap" and a
missing ACL as e.g. ``TopicAuthorizationFailedError('orders.raw')``. :func:`check_login`
finds the reason before a worker starts, and :func:`explain` turns an authorization error
into an :class:`~streams.errors.AuthorizationError` naming the principal, the permission
and the resource.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Collection

from aiokafka.conn import create_conn
from aiokafka.errors import (
    AuthenticationFailedError,
    ClusterAuthorizationFailedError,
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    SaslAuthenticationFailed,
    TopicAuthorizationFailedError,
    TransactionalIdAuthorizationFailed,
)

from streams.clients import security_options
from streams.errors import AuthenticationError, AuthorizationError
from streams.settings import Settings

__all__ = ["check_login", "explain", "principal_of"]

_HINT = "grant it (streamworks acl plan|apply) or stop the code from needing it"


def principal_of(settings: Settings) -> str:
    """Who ``settings`` log in as: ``User:<name>``, or ``User:ANONYMOUS`` without SASL."""
    if settings.security_protocol.startswith("SASL") and settings.sasl_username:
        return f"User:{settings.sasl_username}"
    return "User:ANONYMOUS"


def _names(argument: object) -> str:
    if isinstance(argument, set | frozenset | list | tuple):
        return ", ".join(sorted(map(str, argument)))
    return str(argument)


def explain(
    error: BaseException, settings: Settings, reads: Collection[str] = ()
) -> AuthorizationError | None:
    """The typed error for an authorization failure, or None when ``error`` is another kind.

    A refused topic the caller ``reads`` was refused READ; any other topic, WRITE.
    """
    who = principal_of(settings)
    what = _names(error.args[0]) if error.args else "?"
    if isinstance(error, TopicAuthorizationFailedError):
        operation = "READ" if what in reads else "WRITE"
        return AuthorizationError(who, operation, f"topic {what}", _HINT)
    if isinstance(error, GroupAuthorizationFailedError):
        return AuthorizationError(who, "READ", f"consumer group {what}", _HINT)
    if isinstance(error, TransactionalIdAuthorizationFailed):
        return AuthorizationError(who, "WRITE", f"transactional id {what}", _HINT)
    if isinstance(error, ClusterAuthorizationFailedError):
        return AuthorizationError(who, "use", "the cluster (a cluster-wide operation)", _HINT)
    return None


async def check_login(settings: Settings, *, wait_s: float = 10.0) -> None:
    """Log in to a bootstrap server once; raise :class:`AuthenticationError` with the reason
    when the TLS handshake or the login is refused.

    Brokers that cannot be reached are left to the clients, which retry them: only a refusal
    is certain to last.
    """
    if settings.security_protocol == "PLAINTEXT":
        return
    options = security_options(settings)
    for address in settings.bootstrap_servers.split(","):
        host, _, port = address.strip().rpartition(":")
        try:
            async with asyncio.timeout(wait_s):
                conn = await create_conn(
                    host, int(port), request_timeout_ms=int(wait_s * 1000), **options
                )
        except ssl.SSLCertVerificationError as error:
            raise AuthenticationError(
                f"TLS to {address}: its certificate is not trusted ({error.verify_message}); "
                f"check ssl_cafile ({settings.ssl_cafile or 'the system trust store'})"
            ) from None
        except ssl.SSLError as error:
            raise AuthenticationError(
                f"TLS handshake with {address} failed ({error.reason or error}); does that "
                "listener speak TLS, and does it accept this client's certificate?"
            ) from None
        except (SaslAuthenticationFailed, AuthenticationFailedError) as error:
            raise AuthenticationError(
                f"Kafka at {address} refused the {settings.sasl_mechanism} login of "
                f"{principal_of(settings)}: {error.args[0] if error.args else 'no reason given'}"
            ) from None
        except (OSError, KafkaConnectionError, TimeoutError):
            continue  # not reachable (yet): the clients retry
        conn.close()
        return
