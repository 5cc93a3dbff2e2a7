"""The pinned Kafka release and fetching its jars from Maven Central."""

from __future__ import annotations

import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from functools import cache
from pathlib import Path

from streamworks.ops.kafka.errors import JarFetchError, ToolMissingError
from streamworks.ops.project import find_project

__all__ = ["POM_PATH", "cache_dir", "ensure_jars", "jars_present", "kafka_version", "libs_dir"]

POM_PATH = Path(__file__).with_name("pom.xml")
_MAVEN_NS = {"m": "http://maven.apache.org/POM/4.0.0"}


@cache
def kafka_version() -> str:
    """The Kafka version pinned in ``streamworks/ops/kafka/pom.xml``."""
    root = ET.parse(POM_PATH).getroot()  # noqa: S314 - our own file, not untrusted input
    node = root.find("m:properties/m:kafka.version", _MAVEN_NS)
    if node is None or not node.text:
        raise JarFetchError(f"{POM_PATH} does not pin <kafka.version>")
    return node.text.strip()


def cache_dir() -> Path:
    """Root of the git-ignored cache: jars, running clusters' pids, logs and data.

    ``STREAMWORKS_KAFKA_HOME`` wins; in a project (``[tool.streamworks]``) it is
    ``.cache/kafka`` at the project's top, so each project has its own local cluster; else
    ``.cache/kafka`` of the source checkout streamworks runs from; else
    ``~/.cache/streamworks/kafka``.
    """
    configured = os.environ.get("STREAMWORKS_KAFKA_HOME")
    if configured:
        return Path(configured).expanduser().resolve()
    project = find_project()
    if project is not None:
        return project.root / ".cache" / "kafka"
    checkout = Path(__file__).resolve().parents[3]
    if (checkout / "pyproject.toml").is_file():
        return checkout / ".cache" / "kafka"
    return Path.home() / ".cache" / "streamworks" / "kafka"


def libs_dir() -> Path:
    """Where the jars of the pinned version live."""
    return cache_dir() / f"libs-{kafka_version()}"


def jars_present() -> bool:
    """True when the broker jar of the pinned version has been fetched completely."""
    return (libs_dir() / ".complete").is_file()


def ensure_jars() -> Path:
    """Fetch the pinned jars with Maven unless they are already cached; return their folder."""
    target = libs_dir()
    if jars_present():
        return target
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ToolMissingError("mvn", "install Maven (apt-get install maven) to fetch Kafka")
    target.mkdir(parents=True, exist_ok=True)
    command = [
        mvn,
        "--batch-mode",
        "--quiet",
        "-f",
        str(POM_PATH),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={target}",
        "-DincludeScope=runtime",
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-10:])
        raise JarFetchError(
            f"mvn could not fetch Kafka {kafka_version()} (exit {result.returncode}):\n{tail}"
        )
    if not any(target.glob(f"kafka_2.13-{kafka_version()}.jar")):
        raise JarFetchError(f"mvn finished but kafka_2.13-{kafka_version()}.jar is not in {target}")
    (target / ".complete").write_text(kafka_version() + "\n")
    return target
