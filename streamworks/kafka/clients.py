"""Kafka clients with the platform's safe defaults.

aiokafka's own defaults are ``acks=1``, no idempotence and auto-commit every five seconds:
a crash can then lose acknowledged writes or commit offsets of records that were never
processed. Everything in streamworks makes its clients here instead, so the safe settings
are the default and a test guards them.
"""

from __future__ import annotations

import functools
import ssl
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.partitioner import DefaultPartitioner

from streamworks.core.errors import ConfigurationError
from streamworks.core.settings import Settings
from streamworks.kafka._murmur2 import murmur2

__all__ = [
    "admin_client",
    "consumer",
    "consumer_config",
    "key_partitioner",
    "producer",
    "producer_config",
    "sasl_login",
    "security_options",
    "ssl_context",
]


_cached_murmur2 = functools.lru_cache(maxsize=65_536)(murmur2)


def key_partitioner(key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
    """Kafka's default key hashing (murmur2, as the Java client), with hashes cached.

    murmur2 in pure Python costs about as much as encoding a small record; stages keyed by
    customer or region see the same keys again and again, so hashes are cached.
    """
    if key is None:
        return int(DefaultPartitioner()(key, all_partitions, available))
    index = int(_cached_murmur2(key)) & 0x7FFFFFFF
    return all_partitions[index % len(all_partitions)]


def ssl_context(settings: Settings) -> ssl.SSLContext:
    """The TLS context of ``settings``: its CA bundle (else the system's), hostname checks
    unless turned off, and the client certificate when one is given."""
    cafile = settings.ssl_cafile
    try:
        context = ssl.create_default_context(cafile=str(cafile) if cafile else None)
        context.check_hostname = settings.ssl_check_hostname
        if settings.ssl_certfile is not None:
            password = settings.ssl_key_password
            context.load_cert_chain(
                str(settings.ssl_certfile),
                str(settings.ssl_keyfile) if settings.ssl_keyfile else None,
                password.get_secret_value() if password else None,
            )
    except (OSError, ssl.SSLError) as error:
        raise ConfigurationError(f"cannot set up TLS for Kafka: {error}") from error
    return context


def security_options(settings: Settings) -> dict[str, Any]:
    """aiokafka's keyword arguments for the settings' TLS and SASL (none for PLAINTEXT).

    SCRAM and PLAIN both take aiokafka's ``sasl_plain_*`` credentials.
    """
    protocol = settings.security_protocol
    if protocol == "PLAINTEXT":
        return {}
    options: dict[str, Any] = {"security_protocol": protocol}
    if protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = ssl_context(settings)
    if protocol.startswith("SASL"):
        mechanism, username, password = sasl_login(settings)
        options["sasl_mechanism"] = mechanism
        options["sasl_plain_username"] = username
        options["sasl_plain_password"] = password
    return options


def sasl_login(settings: Settings) -> tuple[str | None, str, str]:
    """The settings' SASL mechanism, user name and password; refused when no login is set."""
    if settings.sasl_username is None or settings.sasl_password is None:
        raise ConfigurationError(
            "no SASL login chosen: set sasl_username and sasl_password (sasl_users_file "
            "serves stage workers and connectors, which log in as their own principal)"
        )
    return (
        settings.sasl_mechanism,
        settings.sasl_username,
        settings.sasl_password.get_secret_value(),
    )


def producer_config(settings: Settings | None = None, **overrides: Any) -> dict[str, Any]:
    """Keyword arguments for :class:`aiokafka.AIOKafkaProducer`: acks=all, idempotent."""
    s = settings or Settings()
    config: dict[str, Any] = {
        "bootstrap_servers": s.bootstrap_servers,
        "client_id": f"{s.client_id}-producer",
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": s.linger_ms,
        "partitioner": key_partitioner,
        "request_timeout_ms": 30_000,
        **security_options(s),
    }
    config.update(overrides)
    return config


def consumer_config(settings: Settings | None = None, **overrides: Any) -> dict[str, Any]:
    """Keyword arguments for :class:`aiokafka.AIOKafkaConsumer`: offsets committed by us only.

    Under exactly-once the consumer reads only committed transactional records.
    """
    s = settings or Settings()
    config: dict[str, Any] = {
        "bootstrap_servers": s.bootstrap_servers,
        "client_id": f"{s.client_id}-consumer",
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "isolation_level": (
            "read_committed" if s.guarantee == "exactly-once" else "read_uncommitted"
        ),
        **security_options(s),
    }
    config.update(overrides)
    return config


def producer(settings: Settings | None = None, **overrides: Any) -> AIOKafkaProducer:
    """A producer with :func:`producer_config`; start it with ``await p.start()``."""
    return AIOKafkaProducer(**producer_config(settings, **overrides))


def consumer(*topics: str, settings: Settings | None = None, **overrides: Any) -> AIOKafkaConsumer:
    """A consumer with :func:`consumer_config`, subscribed to ``topics`` if any are given."""
    return AIOKafkaConsumer(*topics, **consumer_config(settings, **overrides))


def admin_client(settings: Settings | None = None, **overrides: Any) -> AIOKafkaAdminClient:
    """An admin client for the configured cluster; start it with ``await a.start()``."""
    s = settings or Settings()
    config: dict[str, Any] = {
        "bootstrap_servers": s.bootstrap_servers,
        "client_id": f"{s.client_id}-admin",
        **security_options(s),
    }
    config.update(overrides)
    return AIOKafkaAdminClient(**config)
