"""Container tests: a Docker engine and the streamworks images, or a one-line skip.

``STREAMWORKS_TEST_CONTAINERS=required`` (set by ``.ci/run`` once it has an engine and the
images) turns the skip into a failure, so CI cannot pass by not running them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest

from streamworks.testing import docker_answers

REPO = Path(__file__).resolve().parents[2]
REQUIRED_ENV = "STREAMWORKS_TEST_CONTAINERS"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/containers" in str(item.path):
            item.add_marker(pytest.mark.containers)


@dataclass(frozen=True)
class Images:
    """The image names compose and the test kit use (the variables of ops/containers)."""

    kafka: str
    platform: str
    postgres: str

    def as_environment(self) -> dict[str, str]:
        return {
            "STREAMWORKS_KAFKA_IMAGE": self.kafka,
            "STREAMWORKS_PLATFORM_IMAGE": self.platform,
            "STREAMWORKS_POSTGRES_IMAGE": self.postgres,
        }


def _unavailable(reason: str) -> None:
    if os.environ.get(REQUIRED_ENV) == "required":
        pytest.fail(f"{reason} ({REQUIRED_ENV}=required)")
    pytest.skip(reason)


def _default_images() -> Images:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    pom = (REPO / "streamworks/ops/kafka/pom.xml").read_text()
    kafka_version = pom.split("<kafka.version>", 1)[1].split("<", 1)[0]
    return Images(
        kafka=os.environ.get("STREAMWORKS_KAFKA_IMAGE", f"apache/kafka:{kafka_version}"),
        platform=os.environ.get(
            "STREAMWORKS_PLATFORM_IMAGE", f"streamworks/platform:{pyproject['project']['version']}"
        ),
        postgres=os.environ.get("STREAMWORKS_POSTGRES_IMAGE", "postgres:15"),
    )


@pytest.fixture(scope="session")
def images() -> Images:
    """The images, present in an engine that answers; skips (or fails) with the reason."""
    if not docker_answers():
        where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        _unavailable(f"no Docker engine answers at {where} (ops/containers/engine start)")
    import docker  # noqa: PLC0415 - only once an engine answers: the SDK leaks otherwise
    from docker.errors import ImageNotFound  # noqa: PLC0415

    wanted = _default_images()
    with closing(docker.from_env()) as client:
        for name in (wanted.kafka, wanted.platform, wanted.postgres):
            try:
                client.images.get(name)
            except ImageNotFound:
                _unavailable(f"image {name} is missing (ops/containers/bootstrap builds it)")
    return wanted


def compose_command() -> list[str]:
    """``docker compose`` (v2) where the plugin is installed, else ``docker-compose`` (v1)."""
    docker_cli = shutil.which("docker")
    if docker_cli:
        probe = subprocess.run(
            [docker_cli, "compose", "version"], capture_output=True, check=False, timeout=30
        )
        if probe.returncode == 0:
            return [docker_cli, "compose"]
    legacy = shutil.which("docker-compose")
    if legacy:
        return [legacy]
    _unavailable("neither `docker compose` nor `docker-compose` is installed")
    raise AssertionError("unreachable")  # pragma: no cover - _unavailable raises


@pytest.fixture(scope="session")
def compose() -> Iterator[list[str]]:
    yield compose_command()
