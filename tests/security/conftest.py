"""A secured local broker for the session: SASL_SSL with SCRAM logins and ACLs enforced."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from streamworks.core.settings import Settings
from streamworks.ops.kafka import BrokerDiedError, LocalCluster
from streamworks.ops.kafka._process import free_port_block

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SecureKafka:
    """A running one-node secure cluster and the logins to it."""

    bootstrap_servers: str
    """``host:port`` of its SASL_SSL listener."""
    directory: Path
    """The cluster's folder (``secure/`` holds the CA and the logins)."""
    cafile: Path
    """PEM of the CA made for this run: the only CA that signs the broker's certificate."""
    users_file: Path
    """users.json: user -> password, mode 0600."""
    admin: Settings
    """Settings that log in as the super user ``admin`` (SASL_SSL, SCRAM-SHA-512)."""
    cluster: LocalCluster = field(repr=False)
    """The launcher's handle, for tests of the cluster's own files."""

    def settings_for(self, user: str, **overrides: Any) -> Settings:
        """Settings that log in as ``user`` (from users.json), with ``overrides`` applied."""
        base = self.cluster.settings_for(user)
        return Settings(**{**base.model_dump(), **overrides})

    async def add_users(self, *names: str) -> None:
        """Create SCRAM users with fresh passwords (no ACLs: they may do nothing yet)."""
        await asyncio.to_thread(self.cluster.add_users, names)


@pytest.fixture(scope="session")
def secure_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureKafka]:
    """One secure local Kafka node for the session, stopped at the end."""
    directory = tmp_path_factory.mktemp("secure-kafka")
    for attempt in (1, 2):
        cluster = LocalCluster.plan(directory, nodes=1, port=free_port_block(2), secure=True)
        try:
            # fresh: a retry formats the folder anew for its new ports, not resume the first
            seconds = cluster.start(fresh=True)
            break
        except BrokerDiedError:
            # the free ports lie in the ephemeral range: another process's outgoing
            # connection can take one before the broker binds it; new ports then
            if attempt == 2:
                raise
    logger.info("secure local Kafka ready in %.1fs", seconds)
    try:
        yield SecureKafka(
            bootstrap_servers=cluster.bootstrap_servers,
            directory=directory,
            cafile=cluster.secure_files.cafile,
            users_file=cluster.secure_files.users_file,
            admin=cluster.settings_for("admin"),
            cluster=cluster,
        )
    finally:
        cluster.stop(grace_seconds=10)
