"""Finding a Kafka broker for a test session: an existing one, a container, or local jars."""

from __future__ import annotations

import importlib.util
import logging
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from streamworks.core.errors import ConfigurationError

__all__ = [
    "KafkaEndpoint",
    "container_broker",
    "container_variable",
    "docker_answers",
    "kafka_broker",
    "local_cluster",
]

logger = logging.getLogger(__name__)

BOOTSTRAP_ENV = "STREAMWORKS_TEST_BOOTSTRAP"
CLUSTER_BOOTSTRAP_ENV = "STREAMWORKS_TEST_CLUSTER_BOOTSTRAP"
IMAGE_ENV = "STREAMWORKS_TEST_KAFKA_IMAGE"
MODE_ENV = "STREAMWORKS_TEST_KAFKA"
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
    2. A container from ``STREAMWORKS_TEST_KAFKA_IMAGE`` when a Docker engine answers and
       testcontainers is installed.
    3. A one-node cluster from the Maven-fetched jars, stopped at the end.

    ``STREAMWORKS_TEST_KAFKA=container`` or ``=local`` picks 2 or 3 instead of asking the
    engine (``auto``, the default, asks).
    """
    existing = os.environ.get(BOOTSTRAP_ENV)
    if existing:
        yield KafkaEndpoint(existing, "environment", _count_brokers(existing))
        return
    mode = os.environ.get(MODE_ENV, "auto")
    if mode not in ("auto", "container", "local"):
        raise ConfigurationError(f"{MODE_ENV}={mode!r}: expected auto, container or local")
    can_contain = importlib.util.find_spec("testcontainers") is not None
    if mode == "container" and not can_contain:
        raise ConfigurationError(
            f"{MODE_ENV}=container needs testcontainers: pip install 'testcontainers[kafka]'"
        )
    if mode == "container" or (mode == "auto" and can_contain and docker_answers()):
        with container_broker() as endpoint:
            yield endpoint
        return
    with local_cluster(work_dir, nodes=1) as endpoint:
        yield endpoint


@contextmanager
def local_cluster(work_dir: Path, nodes: int) -> Iterator[KafkaEndpoint]:
    """A cluster of ``nodes`` local JVMs on free loopback ports, stopped on exit."""
    from streamworks.ops.kafka import (  # noqa: PLC0415 - the launcher is test infrastructure
        LocalCluster,
        free_port_block,
    )

    cluster = LocalCluster.plan(work_dir, nodes=nodes, port=free_port_block(2 * nodes))
    # a throwaway on new ports each time: formatted anew even in a folder used before
    seconds = cluster.start(fresh=True)
    logger.info("local Kafka (%d node(s)) ready in %.1fs", nodes, seconds)
    try:
        yield KafkaEndpoint(cluster.bootstrap_servers, "local", nodes)
    finally:
        cluster.stop(grace_seconds=10)


@contextmanager
def container_broker(image: str | None = None) -> Iterator[KafkaEndpoint]:
    """One Kafka broker in a container on the host network, removed on exit.

    The image is ``image``, else ``STREAMWORKS_TEST_KAFKA_IMAGE``, else the official
    ``apache/kafka`` of the pinned version; it is configured through the ``KAFKA_*``
    variables that image documents (``ops/containers/bootstrap`` builds a local image that
    reads them too). The broker gets the same settings as a local one, so a test cannot
    pass on one and fail on the other. Host networking is the only kind these machines
    allow, and testcontainers' Kafka module assumes Confluent images and a bridge, so the
    container is a generic one.
    """
    # Ryuk (testcontainers' reaper) is an image of its own, which offline machines cannot
    # pull; this function removes its container itself. Set the variable to false for Ryuk.
    os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
    from docker.errors import DockerException  # noqa: PLC0415
    from testcontainers.core.container import DockerContainer  # noqa: PLC0415
    from testcontainers.core.wait_strategies import LogMessageWaitStrategy  # noqa: PLC0415
    from testcontainers.core.waiting_utils import wait_for_logs  # noqa: PLC0415

    from streamworks.ops.kafka import free_port_block, single_node_settings  # noqa: PLC0415

    image = image or os.environ.get(IMAGE_ENV, DEFAULT_IMAGE)
    port = free_port_block(2)
    container = DockerContainer(image)
    container.with_kwargs(network_mode="host")
    for key, value in single_node_settings(port).items():  # data stays in the container
        container.with_env(container_variable(key), value)
    try:
        container.start()
    except DockerException as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigurationError(
            f"could not start Kafka image {image!r} ({reason}); build a local one with "
            f"ops/containers/bootstrap and name it in {IMAGE_ENV}, or set {MODE_ENV}=local"
        ) from exc
    try:
        wait_for_logs(container, LogMessageWaitStrategy("Kafka Server started"), timeout=120)
        bootstrap = f"127.0.0.1:{port}"
        yield KafkaEndpoint(bootstrap, "container", _count_brokers(bootstrap))
    finally:
        container.stop()


def container_variable(setting: str) -> str:
    """The ``KAFKA_*`` variable the ``apache/kafka`` image turns into broker ``setting``.

    ``.`` is written ``_``, ``_`` is ``__`` and ``-`` is ``___``.
    """
    escaped = setting.replace("_", "__").replace("-", "___").replace(".", "_")
    return f"KAFKA_{escaped.upper()}"


def _count_brokers(bootstrap_servers: str, timeout: float = 60.0) -> int:
    """Brokers listed by a metadata answer; waits for the cluster to answer at all."""
    import asyncio  # noqa: PLC0415

    from streamworks.ops.kafka import BrokerNotReadyError  # noqa: PLC0415
    from streamworks.ops.kafka.launcher import brokers_in_metadata  # noqa: PLC0415

    deadline = time.monotonic() + timeout
    while (brokers := asyncio.run(brokers_in_metadata(bootstrap_servers))) == 0:
        if time.monotonic() > deadline:
            raise BrokerNotReadyError(f"no Kafka broker answered at {bootstrap_servers}")
        time.sleep(0.5)
    return brokers
