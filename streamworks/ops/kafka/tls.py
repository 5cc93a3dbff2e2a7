"""Throwaway certificates for local TLS: a private CA and the certificates it issues.

The secured local broker (``streamworks kafka up --secure``) and test servers need
certificates that clients can verify by hostname; a fresh CA per run avoids shipping keys.
Keys are ECDSA P-256 (fast to make, supported by Java and OpenSSL), written unencrypted as
PKCS#8 PEM with mode 0600.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["CertificateAuthority", "Issued"]

_CLOCK_SKEW = datetime.timedelta(minutes=5)


@dataclass(frozen=True)
class Issued:
    """A certificate issued by a :class:`CertificateAuthority`, with its key."""

    certfile: Path
    """PEM certificate (leaf only; clients trust the CA's ``certfile``)."""
    keyfile: Path
    """PEM private key, unencrypted PKCS#8, mode 0600."""


@dataclass(frozen=True)
class CertificateAuthority:
    """A self-signed CA kept in two PEM files; :meth:`issue` signs server/client certificates."""

    certfile: Path
    """PEM CA certificate: the trust anchor clients load as their CA file."""
    keyfile: Path
    """PEM private key of the CA, unencrypted PKCS#8, mode 0600."""

    @classmethod
    def create(
        cls,
        directory: Path,
        name: str = "streamworks local CA",
        days: int = 30,
        valid_from: datetime.datetime | None = None,
    ) -> CertificateAuthority:
        """A new CA named ``name``, valid ``days`` days from ``valid_from`` (a few minutes
        ago by default), in ``directory``/ca.pem and ca.key."""
        directory.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        start = valid_from or datetime.datetime.now(datetime.UTC) - _CLOCK_SKEW
        certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(ca=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        certfile, keyfile = directory / "ca.pem", directory / "ca.key"
        _write_key(keyfile, key)
        certfile.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        return cls(certfile=certfile, keyfile=keyfile)

    def issue(
        self,
        directory: Path,
        name: str,
        hosts: Sequence[str] = ("127.0.0.1", "localhost"),
        days: int = 30,
        client: bool = False,
        *,
        valid_from: datetime.datetime | None = None,
    ) -> Issued:
        """A certificate for ``name`` (its common name and file stem) valid for ``hosts``.

        IP addresses become IPAddress SANs and other names DNSName SANs. The certificate is
        good for both ends of TLS (server and client auth: a broker is both); ``client=True``
        makes a client-only certificate (client auth, no SANs needed: pass ``hosts=()``).
        It is valid ``days`` days from ``valid_from`` (a few minutes ago by default).
        Files are ``directory``/``name``.pem and ``name``.key.
        """
        directory.mkdir(parents=True, exist_ok=True)
        ca_key = serialization.load_pem_private_key(self.keyfile.read_bytes(), password=None)
        if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
            raise TypeError(f"{self.keyfile} is not an EC private key")
        ca_cert = x509.load_pem_x509_certificate(self.certfile.read_bytes())
        key = ec.generate_private_key(ec.SECP256R1())
        start = valid_from or datetime.datetime.now(datetime.UTC) - _CLOCK_SKEW
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(ca=False), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.CLIENT_AUTH]
                    if client
                    else [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
            )
        )
        names = _subject_alt_names(hosts)
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        certificate = builder.sign(ca_key, hashes.SHA256())
        issued = Issued(certfile=directory / f"{name}.pem", keyfile=directory / f"{name}.key")
        _write_key(issued.keyfile, key)
        issued.certfile.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        return issued


def _subject_alt_names(hosts: Sequence[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    """A CA signs certificates; a leaf signs handshakes and agrees keys (ECDHE)."""
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=not ca,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    """Write ``key`` as unencrypted PKCS#8 PEM, readable by the owner only from the start."""
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
