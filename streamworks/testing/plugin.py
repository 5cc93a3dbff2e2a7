"""The streamworks pytest plugin: a real Kafka for each test session.

Installed with streamworks and loaded automatically (entry point ``pytest11``). Fixtures:

- ``kafka`` — a one-broker endpoint for the session (see :func:`kafka_broker` for the order
  in which one is found);
- ``kafka_cluster`` — a three-node cluster, started the first time a test asks for it;
- ``kafka_settings`` — :class:`streamworks.core.settings.Settings` pointing at ``kafka``;
- ``topic_factory`` — an async callable making unique topics, deleted after the test;
- ``unique_group`` — a consumer group id no other test uses;
- ``schema_registry`` — an in-process schema registry for the session, on ``kafka``.

It also makes the project pytest runs in usable as the CLI does: the folder with
``[tool.streamworks]`` in its ``pyproject.toml`` goes first on ``sys.path`` and its
``contracts`` folder is made known, so tests import the project's packages and records as
they are. ``streamworks_project = false`` in the pytest configuration turns that off.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest

try:
    import pytest_asyncio
except ImportError:  # pytest without pytest-asyncio: the kit's async fixture says what to add
    pytest_asyncio = None  # type: ignore[assignment]

from streamworks.core.settings import Settings
from streamworks.ops.project import current
from streamworks.testing._broker import (
    CLUSTER_BOOTSTRAP_ENV,
    KafkaEndpoint,
    _count_brokers,
    kafka_broker,
    local_cluster,
)
from streamworks.testing.helpers import TopicFactory, unique_name
from streamworks.testing.registry import RegistryThread

__all__ = [
    "kafka",
    "kafka_cluster",
    "kafka_settings",
    "pytest_addoption",
    "pytest_configure",
    "schema_registry",
    "topic_factory",
    "unique_group",
]


def pytest_addoption(parser: pytest.Parser) -> None:
    """The ``streamworks_project`` ini option."""
    parser.addini(
        "streamworks_project",
        "make the [tool.streamworks] project of the working directory importable (true/false)",
        type="bool",
        default=True,
    )


def pytest_configure(config: pytest.Config) -> None:
    """Activate the project pytest runs in, as every ``streamworks`` command does."""
    if config.getini("streamworks_project"):
        current()


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaEndpoint]:
    """A Kafka broker shared by the whole test session."""
    with kafka_broker(tmp_path_factory.mktemp("kafka")) as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def kafka_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaEndpoint]:
    """A three-node cluster (``STREAMWORKS_TEST_CLUSTER_BOOTSTRAP`` or local jars)."""
    existing = os.environ.get(CLUSTER_BOOTSTRAP_ENV)
    if existing:
        yield KafkaEndpoint(existing, "environment", _count_brokers(existing))
        return
    with local_cluster(tmp_path_factory.mktemp("kafka-cluster"), nodes=3) as endpoint:
        yield endpoint


@pytest.fixture
def kafka_settings(kafka: KafkaEndpoint) -> Settings:
    """Platform settings that point at the session's broker."""
    return Settings(bootstrap_servers=kafka.bootstrap_servers)


async def _topic_factory(kafka: KafkaEndpoint) -> AsyncIterator[TopicFactory]:
    """``await topic_factory("orders", partitions=3)`` makes a topic only this test sees."""
    factory = TopicFactory(kafka.bootstrap_servers, default_replication=1)
    yield factory
    await factory.cleanup()


if pytest_asyncio is not None:
    topic_factory = pytest_asyncio.fixture(loop_scope="session", name="topic_factory")(
        _topic_factory
    )
else:

    @pytest.fixture(name="topic_factory")
    def _no_topic_factory() -> None:
        """Async fixtures need pytest-asyncio: ``pip install 'streamworks[testing]'``."""
        pytest.fail("topic_factory needs pytest-asyncio: pip install 'streamworks[testing]'")


@pytest.fixture
def unique_group() -> str:
    """A consumer group id that no other test uses."""
    return unique_name("group")


@pytest.fixture(scope="session")
def schema_registry(kafka: KafkaEndpoint) -> Iterator[RegistryThread]:
    """A schema registry for the session (``.url``), on a free loopback port.

    It runs on its own thread and event loop, so synchronous registry clients can call it
    from tests; its state is in a topic of its own, so sessions never share schemas.
    """
    with RegistryThread(kafka.bootstrap_servers, topic=unique_name("_schemas")) as registry:
        yield registry
