"""A user's own project, outside this repository, run with ``streamworks run`` on the real
broker and registry: one record's schema derived from its class, one from an ``.avsc``.

Nothing of the platform's catalog is touched by hand: the project's classes and its
``Pipeline(..., contracts=...)`` are all it takes.
"""

from __future__ import annotations

import importlib
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from streamworks import Settings
from streamworks.runtime.topics import ensure_topics
from streamworks.schemas import AvroCodec, RecordCodec, RegistryClient
from streamworks.testing import KafkaEndpoint
from streamworks.testing.helpers import consume_until, produce, unique_name
from tests.projects import outside_env, write_project

PYPROJECT = """\
[project]
name = "greenhouse"
version = "0.1.0"

[tool.streamworks]
pipelines = { greenhouse = "greenhouse.pipeline:pipeline" }
"""

RECORDS = '''\
"""The greenhouse's records: a reading's schema is derived, an alert's is written."""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from streamworks import AvroRecord


class Level(StrEnum):
    WARM = "WARM"
    HOT = "HOT"


@dataclass(frozen=True)
class Reading(AvroRecord, namespace="greenhouse"):
    """One sensor reading."""

    sensor: str
    """Which sensor."""
    temp_c: float
    at: datetime
    note: str | None = None


@dataclass(frozen=True)
class Alert(AvroRecord, contract="greenhouse.alert"):
    sensor: str
    temp_c: float
    level: Level
'''

PIPELINE = '''\
"""Readings in; alerts out for the warm ones."""

import os
from pathlib import Path

from greenhouse.records import Alert, Level, Reading
from streamworks import Pipeline, TopicSpec

PREFIX = os.environ["GREENHOUSE_PREFIX"]

pipeline = Pipeline(
    PREFIX,
    topics=[TopicSpec(f"{PREFIX}.readings", Reading, partitions=2, external=True)],
    contracts=Path(__file__).parent.parent / "contracts",
)


@pipeline.stage(
    "alerts", inputs=f"{PREFIX}.readings", input_type=Reading, outputs={f"{PREFIX}.alerts": Alert}
)
async def alerts(reading: Reading) -> Alert | None:
    if reading.temp_c < 30:
        return None
    level = Level.HOT if reading.temp_c >= 40 else Level.WARM
    return Alert(reading.sensor, reading.temp_c, level)
'''

ALERT_AVSC = """\
{"type": "record", "name": "Alert", "namespace": "greenhouse",
 "fields": [
   {"name": "sensor", "type": "string"},
   {"name": "temp_c", "type": "double"},
   {"name": "level", "type": {"type": "enum", "name": "Level", "symbols": ["WARM", "HOT"]}},
   {"name": "seen_by", "type": ["null", "string"], "default": null}
 ]}
"""


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    """The project's folder; its package importable here too, to produce and decode."""
    root = write_project(
        tmp_path / "greenhouse-project",
        {
            "pyproject.toml": PYPROJECT,
            "greenhouse/__init__.py": "",
            "greenhouse/records.py": RECORDS,
            "greenhouse/pipeline.py": PIPELINE,
            "contracts/greenhouse.alert.avsc": ALERT_AVSC,
        },
    )
    sys.path.insert(0, str(root))
    try:
        yield root
    finally:
        sys.path.remove(str(root))
        for name in [m for m in sys.modules if m.split(".")[0] == "greenhouse"]:
            del sys.modules[name]


@pytest.mark.timeout(240)
async def test_a_project_of_its_own_runs_with_derived_and_written_schemas(
    project: Path, kafka: KafkaEndpoint, registry_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = unique_name("greenhouse")
    monkeypatch.setenv("GREENHOUSE_PREFIX", prefix)
    pipeline_module: Any = importlib.import_module("greenhouse.pipeline")
    records: Any = importlib.import_module("greenhouse.records")
    settings = Settings(bootstrap_servers=kafka.bootstrap_servers, registry_url=registry_url)
    await ensure_topics(pipeline_module.pipeline, settings)

    start = datetime(2026, 6, 1, tzinfo=UTC)
    readings = [
        records.Reading(f"s{n}", float(20 + n), start + timedelta(seconds=n)) for n in range(30)
    ]
    codec = AvroCodec(RegistryClient(registry_url))
    writer = RecordCodec(records.Reading, codec, subject=f"{prefix}.readings-value")
    await produce(
        kafka.bootstrap_servers,
        f"{prefix}.readings",
        [(r.sensor.encode(), writer.encode(r)) for r in readings],
    )

    run = _start_run(project, kafka, registry_url, prefix)
    try:
        seen = await consume_until(
            kafka.bootstrap_servers, f"{prefix}.alerts", count=20, timeout=120
        )
    finally:
        run.send_signal(signal.SIGTERM)
        output, _ = run.communicate(timeout=90)
    assert run.returncode == 0, output

    reader = RecordCodec(records.Alert, codec, register=False)
    alerts = [reader.decode(r.value) for r in seen]
    assert sorted(a.sensor for a in alerts) == sorted(f"s{n}" for n in range(10, 30))
    levels = {a.sensor: a.level.value for a in alerts}
    assert (levels["s15"], levels["s25"]) == ("WARM", "HOT")
    registered = RegistryClient(registry_url).latest(f"{prefix}.readings-value")
    assert '"namespace":"greenhouse"' in registered.schema  # the derived schema, as written


def _start_run(
    project: Path, kafka: KafkaEndpoint, registry_url: str, prefix: str
) -> subprocess.Popen[str]:
    """``streamworks run greenhouse.pipeline:pipeline`` from the project's folder, with the
    repository off the path."""
    env = outside_env(
        STREAMWORKS_BOOTSTRAP_SERVERS=kafka.bootstrap_servers,
        STREAMWORKS_REGISTRY_URL=registry_url,
        GREENHOUSE_PREFIX=prefix,
    )
    return subprocess.Popen(
        [sys.executable, "-m", "streamworks", "run", "greenhouse.pipeline:pipeline"],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
