"""Finding a Kafka broker for a test session: an existing one, a container, or local jars."""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

__all__ = ["KafkaEndpoint", "docker_answers", "kafka_broker", "local_cluster"]

logger = logging.getLogger(__name__)

BOOTSTRAP_ENV = "STREAMWORKS_TEST_BOOTSTRAP"
CLUSTER_BOOTSTRAP_ENV = "STREAMWORKS_TEST_CLUSTER_BOOTSTRAP"
IMAGE_ENV = "STREAMWORKS_TEST_KAFKA_IMAGE"
DEFAULT_IMAGE = "apache/kafka:4.1.1"
Source = Literal["environment", "container", "local"]


@dataclass(frozen=True)
class KafkaEndpoint:
    """A broker (or cluster) tests can use."""

    bootstrap_servers: str
    """``host:port`` list for clients."""
    source: Source
    """Where it came from: an environment variable, a container, or the local launcher."""
    brokers: int
    """How many brokers it has, which bounds the replication factor of new topics."""


def docker_answers() -> bool:
    """True when a Docker engine answers ``/_ping`` on its socket within two seconds.

    A raw request on the engine's unix socket: asking through the docker SDK leaves its
    socket open when no engine runs, which strict warning settings turn into errors.
    """
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if not host.startswith("unix://"):
        return False  # remote engines are never used: tests talk to loopback only
    path = host.removeprefix("unix://")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(2)
        try:
            sock.connect(path)
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            answer = sock.recv(1024)
        except OSError:
            return False
    return answer.startswith(b"HTTP/1.") and b" 200 " in answer.split(b"\r\n", 1)[0]


@contextmanager
def kafka_broker(work_dir: Path) -> Iterator[KafkaEndpoint]:
    """One broker for the session, resolved in the documented order.

    1. ``STREAMWORKS_TEST_BOOTSTRAP``: an existing cluster, used as is and never stopped.
    2. A container from ``STREAMWORKS_TEST_KAFKA_IMAGE`` when a Docker engine answers.
    3. A one-node cluster from the Maven-fetched jars, stopped at the end.
    """
    existing = os.environ.get(BOOTSTRAP_ENV)
    if existing:
        yield KafkaEndpoint(existing, "environment", _count_brokers(existing))
        return
    if docker_answers():
        with _container_broker() as endpoint:
            yield endpoint
        return
    with local_cluster(work_dir, nodes=1) as endpoint:
        yield endpoint


@contextmanager
def local_cluster(work_dir: Path, nodes: int) -> Iterator[KafkaEndpoint]:
    """A cluster of ``nodes`` local JVMs on free loopback ports, stopped on exit."""
    from ops.kafka import LocalCluster  # noqa: PLC0415 - the launcher is test infrastructure
    from ops.kafka._process import free_port_block  # noqa: PLC0415

    cluster = LocalCluster.plan(work_dir, nodes=nodes, port=free_port_block(2 * nodes))
    seconds = cluster.start()
    logger.info("local Kafka (%d node(s)) ready in %.1fs", nodes, seconds)
    try:
        yield KafkaEndpoint(cluster.bootstrap_servers, "local", nodes)
    finally:
        cluster.stop(grace_seconds=10)


@contextmanager
def _container_broker() -> Iterator[KafkaEndpoint]:
    """Kafka in a container with host networking (the only kind these machines allow).

    testcontainers' Kafka module assumes Confluent images and bridge networking, so the
    official ``apache/kafka`` image is started as a generic container configured through
    its documented ``KAFKA_*`` variables.
    """
    # Ryuk (testcontainers' reaper) is an image of its own, which offline machines cannot
    # pull; the fixture stops its container itself. Set the variable to false to keep Ryuk.
    os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
    from testcontainers.core.container import DockerContainer  # noqa: PLC0415
    from testcontainers.core.wait_strategies import LogMessageWaitStrategy  # noqa: PLC0415
    from testcontainers.core.waiting_utils import wait_for_logs  # noqa: PLC0415

    from ops.kafka._process import free_port_block  # noqa: PLC0415

    port = free_port_block(2)
    env: dict[str, Any] = {
        "KAFKA_NODE_ID": "1",
        "KAFKA_PROCESS_ROLES": "broker,controller",
        "KAFKA_LISTENERS": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{port + 1}",
        "KAFKA_ADVERTISED_LISTENERS": f"PLAINTEXT://127.0.0.1:{port}",
        "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": f"1@127.0.0.1:{port + 1}",
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
        "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
    }
    container = DockerContainer(os.environ.get(IMAGE_ENV, DEFAULT_IMAGE))
    container.with_kwargs(network_mode="host")
    for key, value in env.items():
        container.with_env(key, value)
    container.start()
    try:
        wait_for_logs(container, LogMessageWaitStrategy("Kafka Server started"), timeout=120)
        bootstrap = f"127.0.0.1:{port}"
        yield KafkaEndpoint(bootstrap, "container", _count_brokers(bootstrap))
    finally:
        container.stop()


def _count_brokers(bootstrap_servers: str, timeout: float = 60.0) -> int:
    """Brokers listed by a metadata answer; waits for the cluster to answer at all."""
    import asyncio  # noqa: PLC0415

    from ops.kafka import BrokerNotReadyError  # noqa: PLC0415
    from ops.kafka.launcher import brokers_in_metadata  # noqa: PLC0415

    deadline = time.monotonic() + timeout
    while (brokers := asyncio.run(brokers_in_metadata(bootstrap_servers))) == 0:
        if time.monotonic() > deadline:
            raise BrokerNotReadyError(f"no Kafka broker answered at {bootstrap_servers}")
        time.sleep(0.5)
    return brokers
