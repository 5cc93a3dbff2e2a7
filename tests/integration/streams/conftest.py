"""Fixtures for stage-runtime tests: a registry thread and a flagship pipeline on fresh topics."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from streamworks.testing import KafkaEndpoint
from streamworks.testing.registry import RegistryThread


@pytest.fixture(scope="module")
def registry_url(kafka: KafkaEndpoint) -> Iterator[str]:
    """A registry on its own thread: workers' codecs call it synchronously."""
    with RegistryThread(kafka.bootstrap_servers) as registry:
        yield registry.url
