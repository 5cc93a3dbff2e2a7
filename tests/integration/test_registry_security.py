"""The registry with a users file and TLS (issue 10 item 4), on the real broker.

Anonymous and wrong logins are 401, a read-only user's writes 403; a user sees only the
subjects its patterns match, and anything else answers exactly as if it did not exist;
https works with the registry's CA and fails at once, clearly, with any other. No password
or Authorization header reaches a log line, in any test (checked after each one).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import signal
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from streamworks.core.settings import Settings
from streamworks.ops.kafka._process import free_port_block
from streamworks.ops.kafka.tls import CertificateAuthority
from streamworks.registry.users import add_user
from streamworks.schemas.errors import (
    RegistryAuthenticationError,
    RegistryAuthorizationError,
    RegistryTLSError,
    SchemaNotFoundError,
)
from streamworks.schemas.registry_client import RegistryClient
from streamworks.testing import KafkaEndpoint, unique_name, wait_for
from streamworks.testing.registry import RegistryThread, settled_primary

PASSWORDS = {
    "admin": "adm1n-Secret-pw",
    "reader": "r3ader-Secret-pw",
    "orders": "0rders-Secret-pw",
    "orders-writer": "0rders-wr1ter-Secret-pw",
}
REALM = 'Basic realm="streamworks registry"'
SECRETS = [
    *PASSWORDS.values(),
    *(base64.b64encode(f"{u}:{p}".encode()).decode() for u, p in PASSWORDS.items()),
]
WRONG = "wrong-Secret-pw"
SECRETS.append(WRONG)


def schema(name: str, *fields: str) -> str:
    return json.dumps(
        {
            "type": "record",
            "name": name,
            "fields": [{"name": f, "type": "string", "default": ""} for f in ("id", *fields)],
        }
    )


def client(url: str, user: str | None = None, cafile: Path | None = None) -> RegistryClient:
    password = PASSWORDS[user] if user is not None else None
    return RegistryClient(url, username=user, password=password, cafile=cafile, timeout=5)


def http(url: str, user: str | None = None, cafile: Path | None = None) -> httpx.Client:
    auth = (user, PASSWORDS[user]) if user is not None else None
    verify = ssl.create_default_context(cafile=cafile) if cafile is not None else True
    return httpx.Client(base_url=url, auth=auth, verify=verify)


@pytest.fixture(autouse=True)
def no_secret_is_logged(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every record logged while the test (and its fixtures) ran is free of secrets."""
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="streamworks.schemas")
    caplog.set_level(logging.DEBUG, logger="streamworks.registry")
    yield
    records = caplog.get_records("setup") + caplog.get_records("call")
    text = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in records)
    for secret in SECRETS:
        assert secret not in text
    assert "Authorization" not in text


@pytest.fixture(scope="module")
def users_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("registry-users") / "users.json"
    add_user(path, "admin", PASSWORDS["admin"], "read-write")
    add_user(path, "reader", PASSWORDS["reader"], "read-only")
    add_user(path, "orders", PASSWORDS["orders"], "read-only", ["orders.*"])
    add_user(path, "orders-writer", PASSWORDS["orders-writer"], "read-write", ["orders.*"])
    return path


@pytest.fixture(scope="module")
def secured(kafka: KafkaEndpoint, users_file: Path) -> Iterator[RegistryThread]:
    with RegistryThread(kafka.bootstrap_servers, users_file=users_file) as running:
        yield running


def test_anonymous_reads_and_writes_are_401_with_a_challenge(secured: RegistryThread) -> None:
    with http(secured.url) as anonymous:
        for response in (
            anonymous.get("/subjects"),
            anonymous.get("/schemas/ids/1"),
            anonymous.post("/subjects/orders.x-value/versions", json={"schema": schema("A")}),
            anonymous.put("/config", json={"compatibility": "NONE"}),
        ):
            assert response.status_code == 401
            assert response.headers["WWW-Authenticate"] == REALM
            assert response.json()["error_code"] == 40101
        assert anonymous.get("/metrics").status_code == 200  # the one open route
    with pytest.raises(RegistryAuthenticationError) as raised:
        client(secured.url).subjects()
    assert not raised.value.retriable
    assert str(raised.value) == (
        f"schema registry {secured.url} refused the login of an anonymous caller for "
        "GET /subjects (401); set STREAMWORKS_REGISTRY_USERNAME and "
        "STREAMWORKS_REGISTRY_PASSWORD"
    )


def test_a_wrong_password_or_unknown_user_is_401_naming_the_user(
    secured: RegistryThread, caplog: pytest.LogCaptureFixture
) -> None:
    for user in ("reader", "nobody"):
        wrong = RegistryClient(secured.url, username=user, password=WRONG)
        assert WRONG not in repr(wrong)
        with pytest.raises(RegistryAuthenticationError) as raised:
            wrong.schema_by_id(1)
        message = str(raised.value)
        assert f"refused the login of user {user} for GET /schemas/ids/1 (401)" in message
        assert WRONG not in message
        assert "\n" not in message
        assert (raised.value.user, raised.value.method) == (user, "GET")
        assert not raised.value.retriable
    # the refusals are logged (by user name), so the autouse check has lines to look at
    refused = [r.getMessage() for r in caplog.records if "login refused" in r.getMessage()]
    assert refused == [
        "registry login refused for user 'reader'",
        "registry login refused for user 'nobody'",
    ]


def test_a_read_only_user_reads_but_its_writes_are_403(secured: RegistryThread) -> None:
    subject = f"{unique_name('orders')}-value"
    schema_id = client(secured.url, "admin").register(subject, schema("Order"))
    reader = client(secured.url, "reader")
    assert reader.latest(subject).schema_id == schema_id
    assert json.loads(reader.schema_by_id(schema_id))["name"] == "Order"
    with pytest.raises(RegistryAuthorizationError) as raised:
        reader.register(subject, schema("Order", "note"))
    assert str(raised.value) == (
        f"schema registry {secured.url} refused POST /subjects/{subject}/versions to user "
        f"reader (403): user reader may not POST /subjects/{subject}/versions: its role is "
        "read-only (writes need read-write)"
    )
    assert not raised.value.retriable
    with http(secured.url, "reader") as raw:
        for response in (
            raw.delete(f"/subjects/{subject}"),
            raw.delete(f"/subjects/{subject}/versions/1"),
            raw.put(f"/config/{subject}", json={"compatibility": "NONE"}),
            raw.put("/config", json={"compatibility": "NONE"}),
            raw.delete("/config"),
        ):
            assert response.status_code == 403
            assert response.json()["error_code"] == 40301
    assert reader.versions(subject) == [1]  # nothing was deleted
    assert reader.compatibility() == "BACKWARD"


def test_a_read_write_user_registers_and_evolves(secured: RegistryThread) -> None:
    subject = f"{unique_name('orders')}-value"
    admin = client(secured.url, "admin")
    first = admin.register(subject, schema("Order"))
    assert admin.register(subject, schema("Order")) == first
    second = admin.register(subject, schema("Order", "note"))
    assert second != first
    assert admin.versions(subject) == [1, 2]


def test_subjects_outside_the_patterns_answer_exactly_as_missing_ones(
    secured: RegistryThread,
) -> None:
    run = unique_name("t")
    admin = client(secured.url, "admin")
    orders, payments = f"orders.{run}.raw-value", f"payments.{run}.raw-value"
    orders_id = admin.register(orders, schema("Order"))
    payments_id = admin.register(payments, schema("Payment"))
    shared_id = admin.register(f"orders.{run}.shared-value", schema("Shared"))
    assert admin.register(f"payments.{run}.shared-value", schema("Shared")) == shared_id
    missing_id = payments_id + 1000
    missing = f"payments.{run}.missing-value"

    with http(secured.url, "orders") as raw:
        listed = raw.get("/subjects").json()
        assert orders in listed
        assert not [s for s in listed if not s.startswith("orders.")]

        def answers(path: str, name: str) -> tuple[int, str]:
            """The answer with the name asked about (a subject, an id) replaced by X."""
            response = raw.get(path.format(name))
            return response.status_code, response.text.replace(f"'{name}'", "'X'").replace(
                f"Schema {name} ", "Schema X "
            )

        for path in ("/subjects/{}/versions", "/subjects/{}/versions/latest", "/config/{}"):
            hidden = answers(path, payments)
            assert hidden == answers(path, missing)
            assert hidden[0] == 404
        for path, message in (
            ("/schemas/ids/{}", "Schema X not found"),
            ("/schemas/ids/{}/schema", "Schema X not found"),
            ("/schemas/ids/{}/subjects", "Schema not found"),  # Confluent's, without the id
        ):
            hidden = answers(path, str(payments_id))
            assert hidden == answers(path, str(missing_id))
            assert hidden == (404, f'{{"error_code":40403,"message":"{message}"}}')
        assert raw.get(f"/schemas/ids/{orders_id}").status_code == 200
        assert raw.get(f"/schemas/ids/{shared_id}/subjects").json() == [
            f"orders.{run}.shared-value"
        ]
        check = {"schema": schema("Payment", "bogus")}
        for subject in (payments, missing):
            response = raw.post(f"/compatibility/subjects/{subject}/versions/latest", json=check)
            assert response.json() == {"is_compatible": True}
            assert raw.post(f"/subjects/{subject}", json=check).json()["error_code"] == 40401

    reader = client(secured.url, "orders")
    with pytest.raises(SchemaNotFoundError):
        reader.schema_by_id(payments_id)
    writer = client(secured.url, "orders-writer")
    writer.register(f"orders.{run}.new-value", schema("New"))
    with pytest.raises(
        RegistryAuthorizationError, match=f"subject '{missing}' is outside its subjects patterns"
    ):
        writer.register(missing, schema("New"))
    with pytest.raises(RegistryAuthorizationError, match="global config needs"):
        writer.set_compatibility("NONE")


def test_https_with_the_registry_ca_forwards_writes_and_a_wrong_ca_fails_at_once(
    kafka: KafkaEndpoint, users_file: Path, tmp_path: Path
) -> None:
    ca = CertificateAuthority.create(tmp_path / "ca")
    issued = ca.issue(tmp_path / "ca", "registry")
    stranger = CertificateAuthority.create(tmp_path / "other", name="some other CA")
    # the instances verify each other with the registry CA when forwarding writes
    settings = Settings(bootstrap_servers=kafka.bootstrap_servers, registry_cafile=ca.certfile)
    topic = unique_name("_schemas")

    def instance() -> RegistryThread:
        return RegistryThread(
            kafka.bootstrap_servers,
            topic=topic,
            settings=settings,
            users_file=users_file,
            tls_certfile=issued.certfile,
            tls_keyfile=issued.keyfile,
        )

    with instance() as one, instance() as two:
        primary = settled_primary(one, two)
        secondary = two if primary is one else one
        assert secondary.url.startswith("https://")
        subject = f"{unique_name('orders')}-value"
        # written through the secondary: forwarded over https with the caller's login
        schema_id = client(secondary.url, "admin", ca.certfile).register(subject, schema("Order"))
        assert client(primary.url, "reader", ca.certfile).latest(subject).schema_id == (schema_id)
        with pytest.raises(RegistryAuthorizationError):
            client(secondary.url, "reader", ca.certfile).register(subject, schema("B"))
        with http(secondary.url, cafile=ca.certfile) as anonymous:
            assert anonymous.get("/subjects").status_code == 401

        for cafile in (stranger.certfile, None):  # another CA; the system's trust store
            with pytest.raises(RegistryTLSError) as raised:
                client(secondary.url, "admin", cafile).subjects()
            message = str(raised.value)
            assert message.startswith(f"TLS with schema registry {secondary.url} failed")
            assert "certificate verify failed" in message
            assert "STREAMWORKS_REGISTRY_CAFILE" in message
            assert "\n" not in message
            assert not raised.value.retriable


def test_an_open_registry_says_so_once(
    kafka: KafkaEndpoint, caplog: pytest.LogCaptureFixture
) -> None:
    with RegistryThread(kafka.bootstrap_servers) as running:
        assert client(running.url).subjects() == []
    warnings = [r for r in caplog.records if "is open" in r.getMessage()]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING


_SERVE = (
    "import logging\n"
    "logging.basicConfig(level=logging.INFO)\n"
    "logging.getLogger('schemas').setLevel(logging.DEBUG)\n"
    "from streamworks.ops.registry_commands import app\n"
    "app()\n"
)


def test_the_command_serves_https_with_users_from_the_environment(
    kafka: KafkaEndpoint, users_file: Path, tmp_path: Path
) -> None:
    ca = CertificateAuthority.create(tmp_path)
    issued = ca.issue(tmp_path, "registry")
    port = free_port_block(1)
    env = {
        **os.environ,
        "STREAMWORKS_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "STREAMWORKS_REGISTRY_PORT": str(port),
        "STREAMWORKS_REGISTRY_TOPIC": unique_name("_schemas"),
        "STREAMWORKS_REGISTRY_USERS_FILE": str(users_file),
        "STREAMWORKS_REGISTRY_TLS_CERT": str(issued.certfile),
        "STREAMWORKS_REGISTRY_TLS_KEY": str(issued.keyfile),
    }
    log = tmp_path / "registry.log"  # a file, not a pipe: a full pipe would block the server
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", _SERVE], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    url = f"https://127.0.0.1:{port}"
    try:
        asyncio.run(wait_for(lambda: _answers(url, ca.certfile), timeout=60, what=f"{url}"))
        with http(url, cafile=ca.certfile) as anonymous:
            assert anonymous.get("/subjects").status_code == 401
        with pytest.raises(RegistryAuthenticationError):
            RegistryClient(url, username="admin", password=WRONG, cafile=ca.certfile).subjects()
        subject = f"orders.{unique_name('raw')}-value"
        client(url, "admin", ca.certfile).register(subject, schema("Order"))
        client(url, "admin", ca.certfile).register(f"payments.{subject}", schema("Payment"))
        assert client(url, "orders", ca.certfile).subjects() == [subject]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    logged = log.read_text()
    assert "registry login refused for user 'admin'" in logged  # the log was captured
    assert "is open" not in logged
    for secret in SECRETS:
        assert secret not in logged


def _answers(url: str, cafile: Path) -> bool:
    try:
        with http(url, cafile=cafile) as anonymous:
            return anonymous.get("/subjects").status_code == 401
    except httpx.HTTPError:
        return False
