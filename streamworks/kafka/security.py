"""Failing well on a secured cluster: a refused login or a missing ACL is one typed line.

aiokafka reports a bad password or an untrusted certificate as "Unable to bootstrap" and a
missing ACL as e.g. ``TopicAuthorizationFailedError('orders.raw')``. :func:`check_login`
finds the reason before a worker starts (first refusing an expired certificate of its own,
:func:`check_certificates`), and :func:`explain` turns an authorization error into an
:class:`~streamworks.core.errors.AuthorizationError` naming the principal, the permission and the
resource.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import ssl
from collections.abc import Collection
from pathlib import Path

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
from cryptography import x509

from streamworks.core.errors import AuthenticationError, AuthorizationError
from streamworks.core.settings import Settings
from streamworks.kafka.clients import security_options

__all__ = ["check_certificates", "check_login", "explain", "principal_of"]

logger = logging.getLogger(__name__)

_HINT = "grant it (streamworks acl plan|apply) or stop the code from needing it"
_EXPIRES_SOON = datetime.timedelta(days=7)
_CERT_HAS_EXPIRED = 10  # OpenSSL's X509_V_ERR_CERT_HAS_EXPIRED


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
    check_certificates(settings)
    options = security_options(settings)
    for address in settings.bootstrap_servers.split(","):
        host, _, port = address.strip().rpartition(":")
        try:
            async with asyncio.timeout(wait_s):
                conn = await create_conn(
                    host, int(port), request_timeout_ms=int(wait_s * 1000), **options
                )
        except ssl.SSLCertVerificationError as error:
            if error.verify_code == _CERT_HAS_EXPIRED:
                raise AuthenticationError(
                    f"TLS to {address}: its certificate has expired; the broker needs a "
                    "renewed one (check the clocks too)"
                ) from None
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


def check_certificates(settings: Settings, *, now: datetime.datetime | None = None) -> None:
    """Refuse an expired or not yet valid client certificate, or a CA file with no valid
    certificate, with :class:`AuthenticationError` naming the file and the date; log a
    warning for one that expires within a week. Does nothing without TLS.

    A broker rejects such a certificate only with an alert, and an expired CA fails every
    handshake as "certificate verify failed"; the dates say what is wrong before that.
    """
    if settings.security_protocol not in ("SSL", "SASL_SSL"):
        return
    at = now or datetime.datetime.now(datetime.UTC)
    if settings.ssl_certfile is not None:
        leaf = _certificates(settings.ssl_certfile, "ssl_certfile")[:1]
        _check_dates(leaf, settings.ssl_certfile, "client certificate", at)
    if settings.ssl_cafile is not None:
        _check_dates(
            _certificates(settings.ssl_cafile, "ssl_cafile"), settings.ssl_cafile, "CA", at
        )


def _certificates(path: Path, setting: str) -> list[x509.Certificate]:
    try:
        text = path.read_bytes()
    except OSError as error:
        raise AuthenticationError(f"cannot read {setting} {path}: {error.strerror}") from None
    try:
        return x509.load_pem_x509_certificates(text)
    except ValueError as error:
        raise AuthenticationError(f"{setting} {path} holds no PEM certificate: {error}") from None


def _check_dates(
    certificates: list[x509.Certificate], path: Path, what: str, at: datetime.datetime
) -> None:
    """Fail when none of ``certificates`` is valid at ``at``; warn of those ending soon."""
    valid = [c for c in certificates if c.not_valid_before_utc <= at <= c.not_valid_after_utc]
    if not valid:
        first = certificates[0]
        if at < first.not_valid_before_utc:
            when = f"is not valid before {first.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"
        else:
            when = f"expired on {first.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
        raise AuthenticationError(
            f"the {what} in {path} {when}; renew it (or check this machine's clock)"
        )
    for certificate in valid:
        left = certificate.not_valid_after_utc - at
        if left < _EXPIRES_SOON:
            logger.warning(
                "the %s %s in %s expires in %.1f days (%s UTC); renew it before then",
                what,
                certificate.subject.rfc4514_string(),
                path,
                left.total_seconds() / 86400,
                f"{certificate.not_valid_after_utc:%Y-%m-%d %H:%M}",
            )
