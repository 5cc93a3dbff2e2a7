"""The chaos suite (``make chaos``): faults on the real broker, figures to tests/chaos/results."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from streamworks.testing import KafkaEndpoint
from streamworks.testing.registry import RegistryThread


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/chaos" in str(item.path):
            item.add_marker(pytest.mark.chaos)


@pytest.fixture(scope="session")
def registry_url(kafka: KafkaEndpoint) -> Iterator[str]:
    """A registry on its own thread, which the worker processes call over HTTP."""
    with RegistryThread(kafka.bootstrap_servers) as registry:
        yield registry.url
