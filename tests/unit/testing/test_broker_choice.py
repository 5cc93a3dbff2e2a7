"""Which broker the ``kafka`` fixture takes: never a container without testcontainers."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from streamworks import ConfigurationError
from streamworks.testing import _broker
from streamworks.testing._broker import KafkaEndpoint, kafka_broker


@pytest.fixture
def no_testcontainers(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name == "testcontainers" else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    monkeypatch.setattr(_broker, "docker_answers", lambda: True)  # an engine answers
    monkeypatch.delenv("STREAMWORKS_TEST_BOOTSTRAP", raising=False)

    @contextmanager
    def local(work_dir: Path, nodes: int) -> Iterator[KafkaEndpoint]:
        yield KafkaEndpoint("127.0.0.1:1", "local", nodes)

    monkeypatch.setattr(_broker, "local_cluster", local)


@pytest.mark.usefixtures("no_testcontainers")
def test_auto_takes_the_local_jars_when_testcontainers_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAMWORKS_TEST_KAFKA", "auto")
    with kafka_broker(tmp_path) as endpoint:
        assert endpoint.source == "local"


@pytest.mark.usefixtures("no_testcontainers")
def test_asking_for_a_container_without_testcontainers_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAMWORKS_TEST_KAFKA", "container")
    with pytest.raises(ConfigurationError, match=r"pip install 'testcontainers\[kafka\]'"):
        with kafka_broker(tmp_path):
            pass
