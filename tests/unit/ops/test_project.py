"""A user's own project, in a folder of its own: found, its pipeline and contracts loaded.

Each case runs the CLI or Python in a subprocess whose working directory is the project,
as a user would, so nothing of this repository's reference project is on the path.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.projects import outside_env, write_project

PYPROJECT = """\
[project]
name = "iot"
version = "0.1.0"

[tool.streamworks]
pipelines = { iot = "iot.pipeline:pipeline" }
contracts = "contracts"
"""

RECORDS = '''\
"""The project's records."""

from dataclasses import dataclass

from streamworks import AvroRecord


@dataclass(frozen=True, slots=True)
class Reading(AvroRecord, contract="iot.reading"):
    """One sensor reading."""

    device_id: str
    temp_c: float
'''

PIPELINE = '''\
"""The project's pipeline: readings in, hot readings out."""

from iot.records import Reading
from streamworks import Pipeline, TopicSpec

pipeline = Pipeline(
    "iot", topics=[TopicSpec("iot.readings", Reading, partitions=2, external=True)]
)


@pipeline.stage(
    "hot", inputs="iot.readings", input_type=Reading, outputs={"iot.hot": Reading}
)
async def hot(reading: Reading) -> Reading | None:
    return reading if reading.temp_c > 30 else None
'''

CONTRACT = """\
{"type": "record", "name": "Reading", "namespace": "iot",
 "fields": [{"name": "device_id", "type": "string"}, {"name": "temp_c", "type": "double"}]}
"""

CONNECTOR = '''\
"""The project's own connector kind."""

from typing import Literal

from streamworks.connectors.base import Kind, Source, SourceConfig, SourceContext, register_kind


class NullConfig(SourceConfig):
    """A source that produces nothing (its worker is never started here)."""

    kind: Literal["null"] = "null"


class NullSource(Source):
    """Produces nothing."""

    def __init__(self, config: NullConfig) -> None:
        super().__init__(config.name)

    async def run(self, context: SourceContext) -> None:
        return None


NULL = register_kind(Kind(NullConfig, NullSource))
'''


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A small project: pyproject, a package with a record and a pipeline, one contract."""
    return write_project(
        tmp_path / "iot-project",
        {
            "pyproject.toml": PYPROJECT,
            "iot/__init__.py": "",
            "iot/records.py": RECORDS,
            "iot/pipeline.py": PIPELINE,
            "iot/connectors.py": CONNECTOR,
            "contracts/iot.reading.avsc": CONTRACT,
        },
    )


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``args`` with this interpreter in ``cwd``, with no PYTHONPATH (the repo not on it)."""
    return subprocess.run(
        [sys.executable, *args],
        check=False,
        cwd=cwd,
        env=outside_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_pipeline_is_found_by_its_name_in_the_project(project: Path) -> None:
    code = (
        "from streamworks.ops.project import load_pipeline\n"
        "p = load_pipeline('iot'); p.validate()\n"
        "print(p.name, sorted(p.stages), sorted(p.topics()))\n"
    )
    done = run(project / "iot", "-c", code)  # from a subfolder: the project is found above
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[0].startswith("iot ['hot']")


def test_the_project_contracts_encode_its_records(project: Path) -> None:
    code = (
        "from streamworks.ops.project import current\n"
        "from streamworks.schemas import AvroCodec, RecordCodec\n"
        "from streamworks.schemas.memory_registry import InMemoryRegistry\n"
        "current()\n"
        "from iot.records import Reading\n"
        "codec = RecordCodec(Reading, AvroCodec(InMemoryRegistry()))\n"
        "print(codec.decode(codec.encode(Reading('d1', 31.5))))\n"
    )
    done = run(project, "-c", code)
    assert done.returncode == 0, done.stderr
    assert "Reading(device_id='d1', temp_c=31.5)" in done.stdout


def test_a_project_connector_kind_is_named_by_reference(project: Path) -> None:
    (project / "connect.yaml").write_text(
        "connectors:\n  - name: quiet\n"
        "    kind: iot.connectors:NullConfig\n    topic: iot.readings\n"
    )
    code = (
        "from pathlib import Path\n"
        "from streamworks.connectors import load_file\n"
        "from streamworks.connectors.base import kind_of\n"
        "from streamworks.ops.project import current\n"
        "current()\n"
        "[c] = load_file(Path('connect.yaml'))\n"
        "print(type(c).__name__, c.kind, c.name, type(kind_of(type(c)).build(c)).__name__)\n"
    )
    done = run(project, "-c", code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "NullConfig null quiet NullSource"


def test_an_unknown_pipeline_name_lists_the_project_pipelines(project: Path) -> None:
    done = run(project, "-m", "streamworks", "topics", "plan", "nope")
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert "pipeline 'nope' is neither named in the project" in line
    assert "(pipelines: iot)" in line


def test_outside_any_project_a_name_is_refused_with_the_reason(tmp_path: Path) -> None:
    done = run(tmp_path, "-m", "streamworks", "topics", "plan", "orders")
    assert done.returncode == 1
    assert "no project is here" in done.stderr
    assert "[tool.streamworks]" in done.stderr


def test_a_project_without_a_demo_says_how_to_declare_one(project: Path) -> None:
    done = run(project, "-m", "streamworks", "demo")
    assert done.returncode == 1
    assert "declares no demo" in done.stderr
    assert "[tool.streamworks] demo" in done.stderr


def test_a_project_keeps_its_local_kafka_under_its_own_cache(project: Path) -> None:
    code = "from streamworks.ops.kafka import cache_dir; print(cache_dir())"
    env_free = run(project / "iot", "-c", code)
    assert env_free.returncode == 0, env_free.stderr
    assert env_free.stdout.strip() == str(project.resolve() / ".cache" / "kafka")


DERIVED = '''\
"""A record whose schema is derived from its fields."""

from dataclasses import dataclass

from streamworks import AvroRecord


@dataclass(frozen=True)
class Hot(AvroRecord, namespace="iot"):
    """A reading above the threshold."""

    device_id: str
    """The device."""
    temp_c: float
'''


def test_a_class_that_does_not_fit_its_contract_is_refused_naming_the_field(
    project: Path,
) -> None:
    records = project / "iot" / "records.py"
    records.write_text(records.read_text().replace("temp_c: float", "temperature_c: float"))
    (project / "iot" / "pipeline.py").write_text(PIPELINE.replace("temp_c", "temperature_c"))
    code = "from streamworks.ops.project import load_pipeline; load_pipeline('iot').validate()"
    validated = run(project, "-c", code)
    exported = run(project, "-m", "streamworks", "schemas", "export", "--out", "exported")
    for done in (validated, exported):
        assert done.returncode == 1
        assert "Reading.temperature_c: in the class, not in the contract" in done.stderr
        assert "Reading.temp_c: in the contract without a default, not in the class" in done.stderr
    assert len(exported.stderr.strip().splitlines()) == 1  # one line, no traceback


def test_export_writes_each_topics_schema_and_check_finds_a_stale_one(project: Path) -> None:
    (project / "iot" / "hot.py").write_text(DERIVED)
    (project / "iot" / "pipeline.py").write_text(
        PIPELINE.replace(
            "from iot.records import Reading",
            "from iot.hot import Hot\nfrom iot.records import Reading",
        )
        .replace('outputs={"iot.hot": Reading}', 'outputs={"iot.hot": Hot}')
        .replace(
            "async def hot(reading: Reading) -> Reading | None:\n"
            "    return reading if reading.temp_c > 30 else None",
            "async def hot(reading: Reading) -> Hot | None:\n"
            "    return Hot(reading.device_id, reading.temp_c) if reading.temp_c > 30 "
            "else None",
        )
    )
    out = project / "exported"
    done = run(project, "-m", "streamworks", "schemas", "export", "--out", "exported")
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["iot.hot.avsc", "iot.readings.avsc"]
    hot = json.loads((out / "iot.hot.avsc").read_text())
    assert hot["name"] == "Hot"
    assert hot["namespace"] == "iot"
    assert hot["fields"][0] == {"name": "device_id", "type": "string", "doc": "The device."}
    assert json.loads((out / "iot.readings.avsc").read_text()) == json.loads(CONTRACT)
    fresh = run(project, "-m", "streamworks", "schemas", "export", "--out", "exported", "--check")
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr

    (project / "iot" / "hot.py").write_text(
        DERIVED.replace("    temp_c: float\n", "    temp_c: float\n    room: str\n")
    )
    stale = run(project, "-m", "streamworks", "schemas", "export", "--out", "exported", "--check")
    assert stale.returncode == 1
    assert "out of date" in stale.stdout
    assert "iot.hot.avsc" in stale.stdout
