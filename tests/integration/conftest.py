"""Every test under tests/integration talks to a real broker."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from streamworks.testing import KafkaEndpoint
from streamworks.testing.registry import RegistryThread


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.path):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(autouse=True)
def collect_garbage_after_each_test() -> Iterator[None]:
    """Run the cyclic GC once the test ends, so an unclosed socket or transport it left
    behind warns inside this test's report instead of whichever test the GC reaches later."""
    yield
    gc.collect()


@pytest.fixture(scope="module")
def registry_url(kafka: KafkaEndpoint) -> Iterator[str]:
    """A registry on its own thread for the module: workers' codecs call it synchronously."""
    with RegistryThread(kafka.bootstrap_servers) as registry:
        yield registry.url
