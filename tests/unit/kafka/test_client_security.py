"""TLS and SASL settings: what every Kafka client of the platform is given, and what is refused."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from streamworks.core.errors import ConfigurationError
from streamworks.core.settings import Settings
from streamworks.kafka import clients
from streamworks.ops.kafka.tls import CertificateAuthority

PASSWORD = "s3cret-Passw0rd"  # noqa: S105 - a test credential
SCRAM: dict[str, Any] = {
    "security_protocol": "SASL_SSL",
    "sasl_mechanism": "SCRAM-SHA-512",
    "sasl_username": "stage-validate",
    "sasl_password": PASSWORD,
}


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A client certificate and its key, as PEM files, from a throwaway CA."""
    issued = CertificateAuthority.create(tmp_path).issue(
        tmp_path, "stage-validate", hosts=(), client=True
    )
    return issued.certfile, issued.keyfile


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
            "from streamworks.ops.cli import main; main()",
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


def test_a_worker_logs_in_as_its_own_principal_from_the_users_file(tmp_path: Path) -> None:
    users = tmp_path / "users.json"
    users.write_text('{"admin": "a-secret", "orders.validate": "v-secret"}')
    settings = Settings(**SCRAM, sasl_users_file=users)
    mine = settings.as_principal("orders.validate")
    assert mine.sasl_username == "orders.validate"
    assert mine.sasl_password is not None
    assert mine.sasl_password.get_secret_value() == "v-secret"
    assert "v-secret" not in repr(mine)
    assert Settings(**SCRAM).as_principal("orders.validate").sasl_username == "stage-validate"


def test_a_principal_missing_from_the_users_file_is_one_line_naming_it(tmp_path: Path) -> None:
    users = tmp_path / "users.json"
    users.write_text('{"admin": "a-secret"}')
    with pytest.raises(ConfigurationError, match=r"no password for principal orders\.clean"):
        Settings(**SCRAM, sasl_users_file=users).as_principal("orders.clean")
    with pytest.raises(ConfigurationError, match="cannot read sasl_users_file"):
        Settings(**SCRAM, sasl_users_file=tmp_path / "missing.json").as_principal("x")
