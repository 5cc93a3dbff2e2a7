"""The configuration files a local KRaft node is started with."""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from streamworks.ops.kafka.errors import KafkaLauncherError
from streamworks.ops.kafka.tls import CertificateAuthority

_FULL_REPLICATION = 3

ADMIN_USER = "admin"
"""The SCRAM super user of a secure local cluster; brokers log in to each other as it too."""
BROKER_NAME = "streamworks-broker"
"""Common name of the nodes' certificate; the controllers know each other by it."""
BROKER_PRINCIPAL = f"User:CN={BROKER_NAME}"
"""The principal Kafka derives from that certificate (the default mapping: its whole DN)."""
_SCRAM_LOGIN = "org.apache.kafka.common.security.scram.ScramLoginModule"
_PASSWORD_BYTES = 24
_USER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")

LOG4J2 = """\
# Written by streamworks: the broker logs to server.log in its node directory.
status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = ${sys:kafka.logs.dir}/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
"""


@dataclass(frozen=True)
class NodeLayout:
    """Where one node of a local cluster listens and keeps its files."""

    node_id: int
    """KRaft node id, 1-based."""
    broker_port: int
    """Port of the PLAINTEXT client listener on 127.0.0.1."""
    controller_port: int
    """Port of the KRaft controller listener on 127.0.0.1."""
    directory: Path
    """Holds server.properties, data/, server.log and the pid file."""

    @property
    def properties_path(self) -> Path:
        return self.directory / "server.properties"

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def log_path(self) -> Path:
        return self.directory / "server.log"

    @property
    def console_path(self) -> Path:
        return self.directory / "console.log"

    @property
    def pid_path(self) -> Path:
        return self.directory / "kafka.pid"


@dataclass(frozen=True)
class SecureFiles:
    """Where a secure cluster keeps its CA, node certificate and logins (``<cluster>/secure``)."""

    directory: Path
    """The folder; every secret in it is readable by its owner only."""

    @property
    def cafile(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def certfile(self) -> Path:
        return self.directory / f"{BROKER_NAME}.pem"

    @property
    def keyfile(self) -> Path:
        return self.directory / f"{BROKER_NAME}.key"

    @property
    def users_file(self) -> Path:
        return self.directory / "users.json"

    @property
    def admin_env(self) -> Path:
        return self.directory / "admin.env"


@dataclass(frozen=True)
class SecureListener:
    """What a node's SASL_SSL and mutual-TLS controller listeners are configured with."""

    files: SecureFiles
    """Where the trust anchor (ca.pem) lives."""
    certificate_chain: str = field(repr=False)
    """PEM of the node certificate (inline: Kafka wants a file-based PEM key encrypted)."""
    private_key: str = field(repr=False)
    """PEM of its unencrypted PKCS#8 key."""
    admin_password: str = field(repr=False)
    """The admin's password, which brokers log in to each other with."""


def server_properties(
    node: NodeLayout, nodes: list[NodeLayout], secure: SecureListener | None = None
) -> str:
    """A combined broker+controller configuration for ``node`` in a cluster of ``nodes``."""
    lines = {**broker_settings(node, nodes, secure), "log.dirs": str(node.data_dir)}
    return "".join(f"{key}={_escape(value)}\n" for key, value in lines.items())


def _escape(value: str) -> str:
    """A value as java.util.Properties reads it back (PEM blocks span lines)."""
    return value.replace("\\", "\\\\").replace("\n", "\\n")


def broker_settings(
    node: NodeLayout, nodes: list[NodeLayout], secure: SecureListener | None = None
) -> dict[str, str]:
    """Every setting of ``node`` but where it keeps its data (a container has its own).

    With ``secure``, :func:`secure_settings` replace the open listeners.
    """
    count = len(nodes)
    voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in nodes)
    # Internal topics replicate as widely as the cluster allows; with three nodes, acks=all
    # then really means "on two nodes at least".
    replication = min(count, _FULL_REPLICATION)
    min_isr = 2 if count >= _FULL_REPLICATION else 1
    return {
        "process.roles": "broker,controller",
        "node.id": str(node.node_id),
        "controller.quorum.voters": voters,
        "listeners": (
            f"PLAINTEXT://127.0.0.1:{node.broker_port},CONTROLLER://127.0.0.1:{node.controller_port}"
        ),
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{node.broker_port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "num.partitions": "1",
        "default.replication.factor": str(replication),
        "min.insync.replicas": str(min_isr),
        "offsets.topic.replication.factor": str(replication),
        "offsets.topic.num.partitions": "10",
        "transaction.state.log.replication.factor": str(replication),
        "transaction.state.log.min.isr": str(min_isr),
        "transaction.state.log.num.partitions": "10",
        "share.coordinator.state.topic.replication.factor": str(replication),
        "share.coordinator.state.topic.min.isr": str(min_isr),
        # Local clusters serve tests: a new consumer group should not wait 3 s to form.
        "group.initial.rebalance.delay.ms": "0",
        # topics are declared (pipelines, topics as code), never created by a typo
        "auto.create.topics.enable": "false",
        "log.segment.bytes": str(64 * 1024 * 1024),
        # The log cleaner allocates its dedupe buffer (128 MiB by default) on the heap at
        # start-up: with the 256 MiB heaps of a small local cluster, a node recovering its
        # logs after a restart could run out of heap there and exit. 16 MiB still dedupes
        # ~700,000 keys per pass, far more than local compacted topics hold.
        "log.cleaner.dedupe.buffer.size": str(16 * 1024 * 1024),
        **(secure_settings(node, secure) if secure is not None else {}),
    }


def secure_settings(node: NodeLayout, secure: SecureListener) -> dict[str, str]:
    """Listeners that grant nothing to a stranger, and the authorizer.

    Clients and brokers talk SASL_SSL (SCRAM-SHA-256/512) on the broker port; brokers log
    in as the admin. The controller port is TLS with a required client certificate signed
    by the run's CA, which only the nodes hold; the authorizer lets the admin and the nodes
    do anything and everyone else only what an ACL grants.
    """
    jaas = f'{_SCRAM_LOGIN} required username="{ADMIN_USER}" password="{secure.admin_password}";'
    return {
        "listeners": (
            f"SASL_SSL://127.0.0.1:{node.broker_port},CONTROLLER://127.0.0.1:{node.controller_port}"
        ),
        "advertised.listeners": f"SASL_SSL://127.0.0.1:{node.broker_port}",
        "inter.broker.listener.name": "SASL_SSL",
        "listener.security.protocol.map": "SASL_SSL:SASL_SSL,CONTROLLER:SSL",
        "sasl.enabled.mechanisms": "SCRAM-SHA-256,SCRAM-SHA-512",
        "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
        "listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config": jaas,
        "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": jaas,
        "listener.name.controller.ssl.client.auth": "required",
        "ssl.keystore.type": "PEM",
        "ssl.keystore.certificate.chain": secure.certificate_chain,
        "ssl.keystore.key": secure.private_key,
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(secure.files.cafile),
        "ssl.endpoint.identification.algorithm": "https",
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "allow.everyone.if.no.acl.found": "false",
        "super.users": f"User:{ADMIN_USER};{BROKER_PRINCIPAL}",
    }


def new_password() -> str:
    """A random password that needs no quoting in shells, JAAS or properties files."""
    return secrets.token_urlsafe(_PASSWORD_BYTES)


def create_secure_files(files: SecureFiles, bootstrap_servers: str) -> SecureListener:
    """A fresh CA, node certificate, admin login, users.json and admin.env for one run."""
    shutil.rmtree(files.directory, ignore_errors=True)
    files.directory.mkdir(parents=True, mode=0o700)
    authority = CertificateAuthority.create(files.directory)
    issued = authority.issue(files.directory, BROKER_NAME, hosts=("127.0.0.1", "localhost"))
    password = new_password()
    write_users(files, {ADMIN_USER: password})
    write_admin_env(files, bootstrap_servers, password)
    return SecureListener(
        files=files,
        certificate_chain=issued.certfile.read_text().strip(),
        private_key=issued.keyfile.read_text().strip(),
        admin_password=password,
    )


def write_private(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``, readable by the owner only from its first byte."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    temporary.replace(path)


def read_users(files: SecureFiles) -> dict[str, str]:
    """users.json as written by :func:`write_users`."""
    try:
        users = json.loads(files.users_file.read_text())
    except (OSError, ValueError) as error:
        raise KafkaLauncherError(f"cannot read {files.users_file}: {error}") from error
    if not isinstance(users, dict):
        raise KafkaLauncherError(f"{files.users_file} is not a JSON object of user -> password")
    return {str(name): str(password) for name, password in users.items()}


def check_user_name(name: str) -> None:
    """Refuse a SCRAM user name that could pass for another principal or break a login."""
    if not _USER_NAME.fullmatch(name):
        raise KafkaLauncherError(
            f"user name {name!r} is not allowed: use letters, digits, '.', '-' and '_' only"
        )


def write_users(files: SecureFiles, users: dict[str, str]) -> None:
    """users.json: principal -> password, as ``Settings.sasl_users_file`` reads it."""
    write_private(files.users_file, json.dumps(users, indent=2, sort_keys=True) + "\n")


def write_admin_env(files: SecureFiles, bootstrap_servers: str, password: str) -> None:
    """admin.env: the ``STREAMWORKS_*`` variables of an admin client (``set -a; . admin.env``)."""
    variables = {
        "STREAMWORKS_BOOTSTRAP_SERVERS": bootstrap_servers,
        "STREAMWORKS_SECURITY_PROTOCOL": "SASL_SSL",
        "STREAMWORKS_SSL_CAFILE": str(files.cafile),
        "STREAMWORKS_SASL_MECHANISM": "SCRAM-SHA-512",
        "STREAMWORKS_SASL_USERNAME": ADMIN_USER,
        "STREAMWORKS_SASL_PASSWORD": password,
    }
    text = "".join(f"{name}={shlex.quote(value)}\n" for name, value in variables.items())
    write_private(files.admin_env, f"# written by streamworks kafka up --secure\n{text}")
