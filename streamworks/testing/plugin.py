"""The streamworks pytest plugin: a real Kafka for each test session.

Installed with streamworks and loaded automatically (entry point ``pytest11``). Fixtures:

- ``kafka`` — a one-broker endpoint for the session (see :func:`kafka_broker` for the order
  in which one is found);
- ``kafka_cluster`` — a three-node cluster, started the first time a test asks for it;
- ``kafka_settings`` — :class:`streamworks.core.settings.Settings` pointing at ``kafka`` and
  at ``schema_registry``;
- ``topic_factory`` — an async callable making unique topics, deleted after the test;
- ``unique_group`` — a consumer group id no other test uses;
- ``schema_registry`` — an in-process schema registry for the session, on ``kafka``;
- ``run_pipeline`` — :func:`streamworks.ops.running.run_pipeline` with ``kafka_settings``:
  ``async with run_pipeline(pipeline, workers={"clean": 2}) as running: ...``.

Async tests and fixtures need no configuration: unless the project sets ``asyncio_mode``
itself, the plugin runs pytest-asyncio in ``auto`` mode.

It also makes the project pytest runs in usable as the CLI does: the folder with
``[tool.streamworks]`` in its ``pyproject.toml`` goes first on ``sys.path`` and its
``contracts`` folder is made known, so tests import the project's packages and records as
they are. ``streamworks_project = false`` in the pytest configuration turns that off.
"""

from __future__ import annotations

import os
import tomllib
import warnings
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

import iniconfig
import pytest

try:
    import pytest_asyncio
except ImportError:  # pytest without pytest-asyncio: the kit's async fixture says what to add
    pytest_asyncio = None  # type: ignore[assignment]

from streamworks.core.settings import Settings
from streamworks.ops.project import current
from streamworks.ops.running import RunningPipeline, RunPipeline, run_pipeline
from streamworks.pipeline.graph import Pipeline
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
    "run_pipeline_fixture",
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


@pytest.hookimpl(tryfirst=True)  # before pytest-asyncio reads its mode
def pytest_configure(config: pytest.Config) -> None:
    """Activate the project pytest runs in, as every ``streamworks`` command does; make
    async tests work without configuration."""
    if config.getini("streamworks_project"):
        current()
    if pytest_asyncio is None:
        return
    if getattr(config.option, "asyncio_mode", None) is None and not _chosen(config, "asyncio_mode"):
        config.option.asyncio_mode = "auto"
    if not _chosen(config, "asyncio_default_fixture_loop_scope"):
        # pytest-asyncio warns on every run that this option is unset; a project that never
        # chose (our fixtures name their loop scope) is not told, while pytest configures
        warnings.filterwarnings(
            "ignore",
            message='The configuration option "asyncio_default_fixture_loop_scope" is unset',
            category=pytest.PytestDeprecationWarning,
        )


def _chosen(config: pytest.Config, key: str) -> bool:
    """True when ``-o`` or the configuration file sets the ini option ``key``."""
    overrides = getattr(config.option, "override_ini", None) or []
    if any(item.startswith(f"{key}=") for item in overrides):
        return True
    path = config.inipath
    if path is None:
        return False
    if path.suffix == ".toml":
        tool = tomllib.loads(path.read_text(encoding="utf-8")).get("tool", {})
        pytest_table = tool.get("pytest", {})
        return key in pytest_table or key in pytest_table.get("ini_options", {})
    ini = iniconfig.IniConfig(path)
    return any(key in ini[name] for name in ("pytest", "tool:pytest") if name in ini)


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
def kafka_settings(kafka: KafkaEndpoint, schema_registry: RegistryThread) -> Settings:
    """Platform settings that point at the session's broker and schema registry."""
    return Settings(bootstrap_servers=kafka.bootstrap_servers, registry_url=schema_registry.url)


@pytest.fixture(name="run_pipeline")
def run_pipeline_fixture(kafka_settings: Settings) -> RunPipeline:
    """Run a pipeline's workers in the test's event loop, on the session's broker.

    ``async with run_pipeline(pipeline, workers={"clean": 2}) as running:`` — topics
    created, contracts registered, workers assigned; stopped and committed at the end.
    """

    def runner(
        pipeline: Pipeline | str, *, workers: Mapping[str, int] | None = None, **options: Any
    ) -> AbstractAsyncContextManager[RunningPipeline]:
        return run_pipeline(pipeline, kafka_settings, workers=workers, **options)

    return runner


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
        """Async fixtures need pytest-asyncio: ``pip install 'streamworks[test]'``."""
        pytest.fail("topic_factory needs pytest-asyncio: pip install 'streamworks[test]'")


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
