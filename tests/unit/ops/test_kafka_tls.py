"""Certificates of the local CA (verifiable by hostname with Python's own TLS stack), and the
secure node configuration they go into."""

from __future__ import annotations

import asyncio
import json
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from streamworks.ops.kafka import LocalCluster
from streamworks.ops.kafka._files import create_secure_files
from streamworks.ops.kafka.tls import CertificateAuthority


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_keys_are_owner_only_and_sans_name_ips_and_hosts(tmp_path: Path) -> None:
    ca = CertificateAuthority.create(tmp_path / "ca")
    issued = ca.issue(tmp_path / "certs", "broker", hosts=("127.0.0.1", "localhost"))
    assert _mode(ca.keyfile) == 0o600
    assert _mode(issued.keyfile) == 0o600
    assert issued.keyfile.read_text().startswith("-----BEGIN PRIVATE KEY-----")  # PKCS#8
    cert = x509.load_pem_x509_certificate(issued.certfile.read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert sans.get_values_for_type(x509.DNSName) == ["localhost"]
    usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(usages) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    client = x509.load_pem_x509_certificate(
        ca.issue(tmp_path, "alice", hosts=(), client=True).certfile.read_bytes()
    )
    assert list(client.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH
    ]


async def _handshake(server: ssl.SSLContext, client: ssl.SSLContext, host: str) -> bytes:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"hello")
        await writer.drain()
        writer.close()

    listener = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=server)
    port = listener.sockets[0].getsockname()[1]
    try:
        async with asyncio.timeout(5):
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, ssl=client, server_hostname=host
            )
            data = await reader.read()
            writer.close()
            return data
    finally:
        listener.close()


async def test_a_client_trusting_the_ca_verifies_the_server_by_ip_and_name(
    tmp_path: Path,
) -> None:
    ca = CertificateAuthority.create(tmp_path)
    issued = ca.issue(tmp_path, "server")
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(issued.certfile, issued.keyfile)
    client = ssl.create_default_context(cafile=str(ca.certfile))
    for host in ("127.0.0.1", "localhost"):
        assert await _handshake(server, client, host) == b"hello"
    with pytest.raises(ssl.SSLCertVerificationError):
        await _handshake(server, client, "example.com")
    stranger = CertificateAuthority.create(tmp_path / "other", name="someone else")
    with pytest.raises(ssl.SSLCertVerificationError):
        await _handshake(server, ssl.create_default_context(cafile=stranger.certfile), "localhost")


def test_a_secure_node_serves_tls_only_and_checks_acls(tmp_path: Path) -> None:
    cluster = LocalCluster.plan(tmp_path, nodes=3, port=30000, secure=True)
    listener = create_secure_files(cluster.secure_files, cluster.bootstrap_servers)
    cluster._write_files(listener)
    node = cluster.nodes[1]
    text = node.properties_path.read_text()
    assert _mode(node.properties_path) == 0o600  # it holds the key and the admin's password
    props = dict(line.split("=", 1) for line in text.splitlines())
    assert props["listeners"] == "SASL_SSL://127.0.0.1:30001,CONTROLLER://127.0.0.1:30004"
    assert props["listener.security.protocol.map"] == "SASL_SSL:SASL_SSL,CONTROLLER:SSL"
    assert props["listener.name.controller.ssl.client.auth"] == "required"
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert "PLAINTEXT" not in props["listener.security.protocol.map"].replace("SASL_SSL", "")
    assert props["ssl.keystore.key"].startswith("-----BEGIN PRIVATE KEY-----\\n")
    assert LocalCluster.load(tmp_path) == cluster
    users = json.loads(cluster.secure_files.users_file.read_text())
    assert set(users) == {"admin"}
    password = cluster.settings_for("admin").sasl_password
    assert password is not None
    assert password.get_secret_value() == users["admin"]
