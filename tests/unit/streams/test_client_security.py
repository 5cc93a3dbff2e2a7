"""TLS and SASL settings: what every Kafka client of the platform is given, and what is refused."""

from __future__ import annotations

import datetime
import os
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import ValidationError

from streams import clients
from streams.errors import ConfigurationError
from streams.settings import Settings

PASSWORD = "s3cret-Passw0rd"  # noqa: S105 - a test credential
SCRAM: dict[str, Any] = {
    "security_protocol": "SASL_SSL",
    "sasl_mechanism": "SCRAM-SHA-512",
    "sasl_username": "stage-validate",
    "sasl_password": PASSWORD,
}


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed client certificate and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "stage-validate")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "client.pem", tmp_path / "client.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_plaintext_adds_nothing() -> None:
    settings = Settings()
    assert clients.security_options(settings) == {}
    assert "security_protocol" not in clients.producer_config(settings)


def test_scram_over_tls_reaches_producers_consumers_and_admins() -> None:
    settings = Settings(**SCRAM)
    for config in (clients.producer_config(settings), clients.consumer_config(settings)):
        assert config["security_protocol"] == "SASL_SSL"
        assert config["sasl_mechanism"] == "SCRAM-SHA-512"
        assert config["sasl_plain_username"] == "stage-validate"
        assert config["sasl_plain_password"] == PASSWORD
        context: ssl.SSLContext = config["ssl_context"]
        assert context.check_hostname is True
        assert context.verify_mode == ssl.CERT_REQUIRED


async def test_admin_clients_get_the_same_security() -> None:
    admin = clients.admin_client(Settings(**SCRAM))
    assert admin._client._security_protocol == "SASL_SSL"  # no public view of it
    assert admin._client._sasl_mechanism == "SCRAM-SHA-512"


def test_settings_come_from_the_environment_and_hide_the_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key, value in SCRAM.items():
        monkeypatch.setenv(f"STREAMWORKS_{key.upper()}", value)
    settings = Settings()
    assert settings.sasl_mechanism == "SCRAM-SHA-512"
    assert settings.sasl_password is not None
    assert settings.sasl_password.get_secret_value() == PASSWORD
    for text in (repr(settings), str(settings), str(settings.model_dump())):
        assert PASSWORD not in text


def test_hostname_checks_can_be_turned_off_but_certificates_are_still_verified() -> None:
    context = clients.ssl_context(Settings(security_protocol="SSL", ssl_check_hostname=False))
    assert context.check_hostname is False
    assert context.verify_mode == ssl.CERT_REQUIRED


def test_a_client_certificate_is_loaded(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    settings = Settings(security_protocol="SSL", ssl_certfile=cert, ssl_keyfile=key)
    assert isinstance(clients.producer_config(settings)["ssl_context"], ssl.SSLContext)


def test_a_missing_ca_file_is_a_one_line_configuration_error(tmp_path: Path) -> None:
    settings = Settings(security_protocol="SSL", ssl_cafile=tmp_path / "nowhere.pem")
    with pytest.raises(ConfigurationError) as error:
        clients.producer_config(settings)
    assert str(error.value).startswith("cannot set up TLS for Kafka:")
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"security_protocol": "SASL_SSL"},
            "needs sasl_mechanism, and sasl_username with sasl_password",
        ),
        ({**SCRAM, "security_protocol": "SSL"}, "SASL settings are given but security_protocol"),
        ({**SCRAM, "security_protocol": "SASL_PLAINTEXT"}, "SASL_PLAINTEXT sends the login"),
        ({"security_protocol": "SSL", "ssl_keyfile": "k.pem"}, "ssl_keyfile is given without"),
        ({"security_protocol": "TLS"}, "security_protocol"),
        ({**SCRAM, "sasl_mechanism": "GSSAPI"}, "sasl_mechanism"),
    ],
)
def test_incoherent_settings_are_refused_with_the_reason(
    settings: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError) as error:
        Settings(**settings)
    assert message in str(error.value)
    assert PASSWORD not in str(error.value)


def test_plaintext_sasl_is_allowed_only_when_asked_for() -> None:
    settings = Settings(
        **{**SCRAM, "security_protocol": "SASL_PLAINTEXT"}, allow_plaintext_sasl=True
    )
    options = clients.security_options(settings)
    assert options["security_protocol"] == "SASL_PLAINTEXT"
    assert "ssl_context" not in options


def test_the_cli_refuses_bad_security_settings_in_one_line_without_the_password() -> None:
    env = {
        **os.environ,
        "STREAMWORKS_SECURITY_PROTOCOL": "SSL",
        "STREAMWORKS_SASL_MECHANISM": "PLAIN",
        "STREAMWORKS_SASL_PASSWORD": PASSWORD,
    }
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from ops.cli import main; main()",
            "worker",
            "orders",
            "--stage",
            "validate",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "SASL settings are given but security_protocol is SSL" in lines[0]
    assert PASSWORD not in result.stderr + result.stdout
