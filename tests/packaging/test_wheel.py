"""The wheel: one import package, ``streamworks``, usable without the reference project.

The wheel is built from a copy of the working tree (so the repository gets no ``build/``
and stale build output cannot leak in), then installed with its dependencies into a fresh
virtual environment, and used from a directory outside the repository.
The reference project (``streams``, ``schemas``, ``connectors``, ``ops``) must stay out.

Slow (a build and a dependency install, about 20 s with a warm pip cache) and needs the
package index or pip's cache, but no broker.
"""

from __future__ import annotations

import configparser
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(600)

REPOSITORY = Path(__file__).resolve().parents[2]
REFERENCE_PROJECT = ("streams", "schemas", "connectors", "ops")
PACKAGE_DATA = (
    "streamworks/py.typed",
    "streamworks/ops/kafka/pom.xml",
    "streamworks/ops/dashboard/static/index.html",
)
# what a copy of the working tree leaves out: environments, caches, and build output
# whose stale files setuptools would otherwise pack into the wheel
NOT_COPIED = shutil.ignore_patterns(
    ".git",
    ".venv",
    ".cache",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    ".hypothesis",
    "__pycache__",
    "*.pyc",
    "*.egg-info",
    "build",
    "dist",
)


def _environment() -> dict[str, str]:
    """This process's environment, minus what would point Python at the dev venv or repo."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in {"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV"}
    }
    environment.update(PYTHONNOUSERSITE="1", NO_COLOR="1", TERM="dumb", COLUMNS="120")
    return environment


def _run(command: list[str | Path], *, cwd: Path, timeout: float) -> str:
    """Run ``command``; its stdout, or a test failure showing the command and its output."""
    shown = " ".join(str(part) for part in command)
    try:
        done = subprocess.run(
            [str(part) for part in command],
            cwd=cwd,
            env=_environment(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        )
    except subprocess.CalledProcessError as error:
        failure = (
            f"`{shown}` (in {cwd}) exited {error.returncode}\n"
            f"--- stdout ---\n{error.stdout}\n--- stderr ---\n{error.stderr}"
        )
    except subprocess.TimeoutExpired as error:
        failure = (
            f"`{shown}` (in {cwd}) did not finish in {timeout:.0f} s\n"
            f"--- stdout ---\n{error.stdout!r}\n--- stderr ---\n{error.stderr!r}"
        )
    else:
        return done.stdout
    # failed outside the except clauses, so the report is not chained to the subprocess error
    pytest.fail(failure, pytrace=False)


@dataclass(frozen=True)
class Installed:
    """A fresh virtual environment holding the wheel and its dependencies."""

    root: Path
    purelib: Path
    outside: Path  # an empty working directory outside the repository

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    def script(self, name: str) -> Path:
        return self.root / "bin" / name


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built (in an isolated build environment) from a copy of the working tree."""
    source = tmp_path_factory.mktemp("source") / "streamworks"
    shutil.copytree(REPOSITORY, source, ignore=NOT_COPIED, symlinks=True)
    outdir = tmp_path_factory.mktemp("dist")
    # isolated: the build backend needs setuptools>=77 (PEP 639 `license`), newer than
    # the dev venv may hold, so --no-isolation is not an option
    _run([sys.executable, "-m", "build", "--wheel", "--outdir", outdir], cwd=source, timeout=300)
    built = sorted(outdir.glob("*.whl"))
    assert len(built) == 1, f"expected one wheel in {outdir}, found {built}"
    return built[0]


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """A fresh venv with the wheel installed, with its dependencies, by pip."""
    root = tmp_path_factory.mktemp("venv") / "env"
    outside = tmp_path_factory.mktemp("outside")
    _run([sys.executable, "-m", "venv", root], cwd=outside, timeout=120)
    python = root / "bin" / "python"
    _run(
        [python, "-m", "pip", "install", "--no-input", "--progress-bar", "off", wheel],
        cwd=outside,
        timeout=420,
    )
    purelib = _run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        cwd=outside,
        timeout=60,
    )
    return Installed(root=root, purelib=Path(purelib.strip()), outside=outside)


def test_wheel_holds_only_the_streamworks_package(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    top_level = {name.split("/", 1)[0] for name in names}
    dist_info = {name for name in top_level if name.endswith(".dist-info")}
    assert len(dist_info) == 1, f"expected one .dist-info folder, found {sorted(dist_info)}"
    assert top_level - dist_info == {"streamworks"}
    assert not top_level & set(REFERENCE_PROJECT)
    assert [name for name in names if name.endswith(".avsc")] == []


def test_wheel_ships_the_package_data(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert [path for path in PACKAGE_DATA if path not in names] == []
    # every file of the source package, .py or data, reaches the wheel; the READMEs beside
    # some subpackages are developer documentation, not package data
    package = REPOSITORY / "streamworks"
    sources = {
        path.relative_to(REPOSITORY).as_posix()
        for path in package.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix not in {".pyc", ".md"}
    }
    assert sorted(sources - names) == []


def test_wheel_declares_the_cli_and_the_pytest_plugin(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        (entry_points_txt,) = [
            name for name in archive.namelist() if name.endswith(".dist-info/entry_points.txt")
        ]
        entry_points = configparser.ConfigParser()
        entry_points.read_string(archive.read(entry_points_txt).decode())
    assert dict(entry_points["console_scripts"]) == {"streamworks": "streamworks.ops.cli:main"}
    assert dict(entry_points["pytest11"]) == {"streamworks": "streamworks.testing.plugin"}


def test_install_adds_only_streamworks_to_site_packages(installed: Installed) -> None:
    (record,) = installed.purelib.glob("streamworks-*.dist-info/RECORD")
    purelib = installed.purelib.resolve()
    inside: set[str] = set()
    outside: set[str] = set()
    with record.open(newline="") as lines:
        for row in csv.reader(lines):
            path = (purelib / row[0]).resolve()
            if path.is_relative_to(purelib):
                inside.add(path.relative_to(purelib).parts[0])
            else:
                outside.add(path.name)
    assert inside == {"streamworks", record.parent.name}
    assert outside == {"streamworks"}  # the console script, in bin/
    assert [name for name in REFERENCE_PROJECT if (purelib / name).exists()] == []


def test_cli_help_works_outside_the_repository(installed: Installed) -> None:
    shown = _run([installed.script("streamworks"), "--help"], cwd=installed.outside, timeout=60)
    for command in ("run", "kafka"):
        assert re.search(rf"^\W*{command}\s{{2,}}\S", shown, re.MULTILINE), (
            f"`streamworks --help` lists no `{command}` command:\n{shown}"
        )


IMPORT_CHECK = """
import importlib.resources, json, sys
import streamworks
faust = sorted(name for name in sys.modules if name == "faust" or name.startswith("faust."))
files = importlib.resources.files
print(json.dumps({
    "all": streamworks.__all__,
    "file": streamworks.__file__,
    "faust": faust,
    "pom": files("streamworks.ops.kafka").joinpath("pom.xml").is_file(),
    "page": files("streamworks.ops.dashboard").joinpath("static/index.html").is_file(),
}))
"""


def test_import_works_outside_the_repository_without_faust(installed: Installed) -> None:
    shown = _run([installed.python, "-c", IMPORT_CHECK], cwd=installed.outside, timeout=60)
    found = json.loads(shown.strip().splitlines()[-1])
    assert "Pipeline" in found["all"]
    # the installed copy, not the repository's
    assert Path(found["file"]).resolve().is_relative_to(installed.purelib.resolve())
    assert found["faust"] == [], "importing streamworks imports faust, an optional extra"
    assert found["pom"], "streamworks/ops/kafka/pom.xml is not readable from the install"
    assert found["page"], "streamworks/ops/dashboard/static/index.html is not installed"


PLAIN_TEST = """
from streamworks import Pipeline


def test_a_pipeline_can_be_declared() -> None:
    assert Pipeline("mine").name == "mine"
"""


def test_a_projects_pytest_runs_with_the_plugin_and_without_pytest_asyncio(
    installed: Installed,
) -> None:
    """The wheel registers a pytest plugin: plain pytest in a user's venv must still run."""
    _run(
        [installed.python, "-m", "pip", "install", "--no-input", "--progress-bar", "off", "pytest"],
        cwd=installed.outside,
        timeout=300,
    )
    tests = installed.outside / "project_tests"
    tests.mkdir(exist_ok=True)
    (tests / "test_plain.py").write_text(PLAIN_TEST)
    shown = _run(
        [installed.python, "-m", "pytest", "-q", "-p", "no:cacheprovider", tests],
        cwd=installed.outside,
        timeout=120,
    )
    assert "1 passed" in shown


PROJECT_TEST = """
from mine.records import Reading
from streamworks import Pipeline, TopicSpec
from streamworks.testing.driver import TestDriver


async def test_the_projects_records_and_contracts_are_there() -> None:
    pipeline = Pipeline("mine", topics=[TopicSpec("readings", Reading, external=True)])

    @pipeline.stage("copy", inputs="readings", outputs="copies")
    async def copy(reading: Reading) -> Reading:
        return reading

    driver = TestDriver(pipeline)
    driver.send("readings", Reading("d1", 1.5), key="d1")
    await driver.run()
    assert driver.read("copies") == [Reading("d1", 1.5)]
"""

PROJECT_FILES = {
    "pyproject.toml": '[tool.streamworks]\ncontracts = "contracts"\n\n'
    '[tool.pytest.ini_options]\nasyncio_mode = "auto"\n'
    'asyncio_default_fixture_loop_scope = "function"\n',
    "mine/__init__.py": "",
    "mine/records.py": "from dataclasses import dataclass\n\n"
    "from streamworks import AvroRecord\n\n\n"
    "@dataclass(frozen=True)\nclass Reading(AvroRecord, contract='mine.reading'):\n"
    "    device: str\n    value: float\n",
    "contracts/mine.reading.avsc": '{"type": "record", "name": "Reading", "fields": ['
    '{"name": "device", "type": "string"}, {"name": "value", "type": "double"}]}\n',
    "tests/test_mine.py": PROJECT_TEST,
}


def test_a_projects_own_pytest_finds_its_packages_and_contracts(installed: Installed) -> None:
    """The wheel's pytest plugin activates the project pytest runs in, as the CLI does."""
    _run(
        [
            installed.python,
            "-m",
            "pip",
            "install",
            "--no-input",
            "--progress-bar",
            "off",
            "pytest",
            "pytest-asyncio",
        ],
        cwd=installed.outside,
        timeout=300,
    )
    project = installed.outside / "project"
    for name, text in PROJECT_FILES.items():
        path = project / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    shown = _run(
        [installed.python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=project,
        timeout=120,
    )
    assert "1 passed" in shown
