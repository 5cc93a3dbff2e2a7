"""librdkafka's configuration from the settings: the same cluster, TLS and login as aiokafka's."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from streamworks.core.errors import ConfigurationError
from streamworks.core.settings import Settings
from streamworks.kafka.rdkafka import RdSender, rdkafka_config

PASSWORD = "s3cret-Passw0rd"  # noqa: S105 - a test credential


def test_plaintext_names_the_cluster_and_turns_nagle_off() -> None:
    config = rdkafka_config(Settings(bootstrap_servers="10.0.0.1:9092"), "stage-out")
    assert config["bootstrap.servers"] == "10.0.0.1:9092"
    assert config["client.id"] == "stage-out"
    assert config["security.protocol"] == "plaintext"
    assert config["socket.nagle.disable"] is True
    assert not any(key.startswith(("ssl.", "sasl.")) for key in config)


def test_tls_and_scram_carry_the_files_checks_and_login(tmp_path: Path) -> None:
    ca, cert, key = (tmp_path / name for name in ("ca.pem", "cert.pem", "key.pem"))
    settings = Settings(
        security_protocol="SASL_SSL",
        ssl_cafile=ca,
        ssl_certfile=cert,
        ssl_keyfile=key,
        ssl_key_password=SecretStr(PASSWORD),
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="stage-validate",
        sasl_password=SecretStr(PASSWORD),
    )
    config = rdkafka_config(settings, "validate")
    assert config["security.protocol"] == "sasl_ssl"
    assert config["ssl.ca.location"] == str(ca)
    assert config["ssl.certificate.location"] == str(cert)
    assert config["ssl.key.location"] == str(key)
    assert config["ssl.key.password"] == PASSWORD
    assert config["ssl.endpoint.identification.algorithm"] == "https"
    assert config["sasl.mechanism"] == "SCRAM-SHA-512"
    assert config["sasl.username"] == "stage-validate"
    assert config["sasl.password"] == PASSWORD


def test_hostname_checks_can_be_turned_off() -> None:
    settings = Settings(security_protocol="SSL", ssl_check_hostname=False)
    config = rdkafka_config(settings, "x")
    assert config["ssl.endpoint.identification.algorithm"] == "none"
    assert "ssl.ca.location" not in config  # the system's trust store


def test_sasl_without_a_login_is_refused_before_any_client_exists() -> None:
    # settings that name only a users file: the worker picks its login from it first
    unpicked = Settings.model_construct(security_protocol="SASL_SSL", sasl_mechanism="PLAIN")
    with pytest.raises(ConfigurationError, match="no SASL login chosen"):
        rdkafka_config(unpicked, "x")


async def test_the_producer_is_idempotent_with_acks_all_and_javas_key_hashing() -> None:
    sender = RdSender(Settings(bootstrap_servers="127.0.0.1:1", linger_ms=7), client_id="x")
    try:
        config = sender.config
    finally:
        await sender.close(timeout_s=0)
    assert config["acks"] == "all"
    assert config["enable.idempotence"] is True
    assert config["linger.ms"] == 7
    assert config["partitioner"] == "murmur2_random"


def test_the_default_client_is_librdkafka_and_aiokafka_can_be_chosen() -> None:
    assert Settings().kafka_client == "librdkafka"
    assert Settings(kafka_client="aiokafka").kafka_client == "aiokafka"
