"""Certificate dates: an expired or not yet valid certificate is refused before connecting,
in one line naming the file and the date; one that ends within a week is warned of."""

from __future__ import annotations

import asyncio
import datetime
import logging
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from streamworks.core.errors import AuthenticationError
from streamworks.core.settings import Settings
from streamworks.kafka.security import check_certificates, check_login
from streamworks.ops.kafka.tls import CertificateAuthority

NOW = datetime.datetime.now(datetime.UTC)
DAY = datetime.timedelta(days=1)


def tls(**files: Path) -> Settings:
    return Settings(security_protocol="SSL", **files)  # type: ignore[arg-type]


@pytest.fixture
def ca(tmp_path: Path) -> CertificateAuthority:
    return CertificateAuthority.create(tmp_path / "ca")


def client_certificate(ca: CertificateAuthority, directory: Path, **dates: object) -> Settings:
    issued = ca.issue(directory, "stage", hosts=(), client=True, **dates)  # type: ignore[arg-type]
    return tls(ssl_cafile=ca.certfile, ssl_certfile=issued.certfile, ssl_keyfile=issued.keyfile)


def test_an_expired_client_certificate_is_refused_naming_file_and_date(
    ca: CertificateAuthority, tmp_path: Path
) -> None:
    settings = client_certificate(ca, tmp_path, valid_from=NOW - 10 * DAY, days=3)
    with pytest.raises(AuthenticationError) as refused:
        check_certificates(settings)
    message = str(refused.value)
    ended = NOW - 7 * DAY
    assert message.startswith(f"the client certificate in {tmp_path / 'stage.pem'} expired on")
    assert f"{ended:%Y-%m-%d}" in message
    assert "\n" not in message
    assert not refused.value.retriable


def test_a_certificate_not_yet_valid_is_refused(ca: CertificateAuthority, tmp_path: Path) -> None:
    settings = client_certificate(ca, tmp_path, valid_from=NOW + 2 * DAY)
    with pytest.raises(AuthenticationError, match=r"is not valid before .*check this machine's"):
        check_certificates(settings)


def test_a_ca_file_with_only_expired_certificates_is_refused(tmp_path: Path) -> None:
    old = CertificateAuthority.create(tmp_path, valid_from=NOW - 40 * DAY, days=30)
    with pytest.raises(AuthenticationError, match=r"^the CA in .*ca\.pem expired on"):
        check_certificates(tls(ssl_cafile=old.certfile))


def test_a_bundle_with_one_valid_ca_passes(ca: CertificateAuthority, tmp_path: Path) -> None:
    old = CertificateAuthority.create(tmp_path / "old", valid_from=NOW - 40 * DAY, days=30)
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(old.certfile.read_bytes() + ca.certfile.read_bytes())
    check_certificates(tls(ssl_cafile=bundle))


def test_a_certificate_ending_within_a_week_is_warned_of_once(
    ca: CertificateAuthority, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    soon = client_certificate(ca, tmp_path / "soon", valid_from=NOW - DAY, days=3)
    later = client_certificate(ca, tmp_path / "later", valid_from=NOW - DAY, days=30)
    with caplog.at_level(logging.WARNING, logger="streamworks.kafka.security"):
        check_certificates(later)
        assert caplog.records == []
        check_certificates(soon)
    [warning] = caplog.records
    assert "the client certificate CN=stage" in warning.getMessage()
    assert "expires in 2.0 days" in warning.getMessage()


def test_without_tls_the_files_are_not_read(ca: CertificateAuthority, tmp_path: Path) -> None:
    expired = CertificateAuthority.create(tmp_path, valid_from=NOW - 40 * DAY, days=30)
    check_certificates(Settings(ssl_cafile=expired.certfile))  # PLAINTEXT


def test_a_file_without_a_certificate_is_refused_by_setting(tmp_path: Path) -> None:
    junk = tmp_path / "ca.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(AuthenticationError, match=r"^ssl_cafile .*ca\.pem holds no PEM"):
        check_certificates(tls(ssl_cafile=junk))
    missing = tmp_path / "nowhere.pem"
    with pytest.raises(AuthenticationError, match=r"^cannot read ssl_certfile .*nowhere\.pem: No"):
        check_certificates(tls(ssl_certfile=missing))


@pytest.fixture
async def broker_with_an_expired_certificate(
    ca: CertificateAuthority, tmp_path: Path
) -> AsyncIterator[str]:
    """A TLS listener on loopback whose certificate (from ``ca``) ended yesterday."""
    issued = ca.issue(tmp_path / "broker", "broker", valid_from=NOW - 10 * DAY, days=9)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(issued.certfile, issued.keyfile)

    async def hang_up(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


async def test_a_broker_with_an_expired_certificate_is_named_as_such(
    ca: CertificateAuthority, broker_with_an_expired_certificate: str
) -> None:
    settings = Settings(
        bootstrap_servers=broker_with_an_expired_certificate,
        security_protocol="SSL",
        ssl_cafile=ca.certfile,
    )
    with pytest.raises(AuthenticationError) as refused:
        await check_login(settings, wait_s=5)
    assert str(refused.value) == (
        f"TLS to {broker_with_an_expired_certificate}: its certificate has expired; "
        "the broker needs a renewed one (check the clocks too)"
    )
