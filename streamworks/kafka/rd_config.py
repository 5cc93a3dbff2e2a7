"""librdkafka's configuration for a cluster, and its errors as streamworks errors."""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import KafkaError

from streamworks.core.errors import StreamworksError
from streamworks.core.settings import Settings
from streamworks.kafka.clients import sasl_login

__all__ = ["CALL_TIMEOUT_S", "START_TIMEOUT_S", "KafkaClientError", "rdkafka_config"]

logger = logging.getLogger("streamworks.kafka.rdkafka")
_client_log = logging.getLogger("streamworks.librdkafka")

CALL_TIMEOUT_S = 30.0
"""How long a call to the cluster (a commit, an offset look-up) may take."""
START_TIMEOUT_S = 10.0
"""How long a client waits for the cluster to answer when it starts."""

# the broker (or librdkafka, before sending) refusing one record's content
_RECORD_REFUSED = {
    KafkaError.MSG_SIZE_TOO_LARGE,
    KafkaError.INVALID_MSG_SIZE,
    KafkaError.RECORD_LIST_TOO_LARGE,
    KafkaError.INVALID_RECORD,
    KafkaError.INVALID_TIMESTAMP,
}


class KafkaClientError(StreamworksError):
    """librdkafka refused an operation (``error``); retriable when librdkafka says so."""

    def __init__(self, what: str, error: KafkaError) -> None:
        super().__init__(f"{what} failed: {error.str()} ({error.name()})")
        self.retriable = bool(error.retriable())
        self.code = error.code()
        self.refuses_record = self.code in _RECORD_REFUSED
        """True when the broker refused one record's content (not an outage)."""


def rdkafka_config(settings: Settings, client_id: str) -> dict[str, Any]:
    """librdkafka's configuration for the settings' cluster, TLS and SASL."""
    config: dict[str, Any] = {
        "bootstrap.servers": settings.bootstrap_servers,
        "client.id": client_id,
        "security.protocol": settings.security_protocol.lower(),
        # librdkafka leaves Nagle's algorithm on (asyncio and aiokafka turn it off): small
        # requests would wait for the previous one's acknowledgement, tens of milliseconds
        "socket.nagle.disable": True,
        "error_cb": _client_error,
        "logger": _client_log,
    }
    if settings.security_protocol in ("SSL", "SASL_SSL"):
        if settings.ssl_cafile is not None:
            config["ssl.ca.location"] = str(settings.ssl_cafile)
        if settings.ssl_certfile is not None:
            config["ssl.certificate.location"] = str(settings.ssl_certfile)
        if settings.ssl_keyfile is not None:
            config["ssl.key.location"] = str(settings.ssl_keyfile)
        if settings.ssl_key_password is not None:
            config["ssl.key.password"] = settings.ssl_key_password.get_secret_value()
        config["ssl.endpoint.identification.algorithm"] = (
            "https" if settings.ssl_check_hostname else "none"
        )
    if settings.security_protocol.startswith("SASL"):
        mechanism, username, password = sasl_login(settings)
        config["sasl.mechanism"] = mechanism
        config["sasl.username"] = username
        config["sasl.password"] = password
    return config


def _client_error(error: KafkaError) -> None:
    # librdkafka retries connections itself; these say why it is retrying
    if error.fatal():
        logger.error("Kafka client: %s", error.str())
    else:
        logger.debug("Kafka client: %s", error.str())
