"""Fixtures of the registry's integration tests: a registry per test, on its own topic."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from streamworks.testing import KafkaEndpoint
from streamworks.testing.registry import RegistryThread


@pytest.fixture
def registry(kafka: KafkaEndpoint) -> Iterator[RegistryThread]:
    """A registry on its own thread and its own ``_schemas`` topic, for this test only."""
    with RegistryThread(kafka.bootstrap_servers) as running:
        yield running
