"""The README's first pipeline is true: its code, exactly as written, runs and computes."""

from __future__ import annotations

import re
import sys
import types
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from streamworks.testing.driver import TestDriver

README = Path(__file__).resolve().parents[3] / "README.md"


@pytest.fixture
def readme_module() -> Iterator[Any]:
    """The first Python block under "Writing a pipeline", run as a module of its own."""
    text = README.read_text()
    section = text[text.index("## Writing a pipeline") :]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None, "the section has no Python block"
    module = types.ModuleType("readme_first_pipeline")
    sys.modules[module.__name__] = module
    try:
        exec(compile(match.group(1), str(README), "exec"), module.__dict__)  # noqa: S102
        yield module
    finally:
        del sys.modules[module.__name__]


async def test_the_first_pipeline_filters_and_averages(readme_module: Any) -> None:
    pipeline = readme_module.pipeline
    reading = readme_module.Reading
    start = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
    driver = TestDriver(pipeline)
    for n, (device, temp) in enumerate([("d1", 20.0), ("d1", 999.0), ("d1", 24.0), ("d2", 7.0)]):
        driver.send("iot.readings", reading(device, temp, start + timedelta(seconds=n)), key=device)
    await driver.run()
    assert driver.counts["clean"].filtered == 1
    window = start  # the hopping window [10:00, 10:05) holds all of them
    latest = {(r.key, r.window_start): r for r in driver.read("iot.averages")}
    assert (latest[("d1", window)].avg, latest[("d1", window)].n) == (22.0, 2)
    assert (latest[("d2", window)].avg, latest[("d2", window)].n) == (7.0, 1)
    assert latest[("d1", window)].window_end == window + timedelta(minutes=5)


def test_the_comparison_keeps_the_readme_block_and_compiles_the_peers() -> None:
    folder = README.parent / "docs" / "first-pipeline"
    text = README.read_text()
    section = text[text.index("## Writing a pipeline") :]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None
    assert (folder / "after.py").read_text() == match.group(1)
    for name in ("before.py", "quix.py", "faust_app.py"):
        compile((folder / name).read_text(), name, "exec")


async def test_the_readmes_driver_example_passes(readme_module: Any) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.DOTALL)
    [example] = [b for b in blocks if "async def test_implausible_readings_are_filtered" in b]
    namespace = dict(readme_module.__dict__)
    namespace["AT"] = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
    exec(compile(example, str(README), "exec"), namespace)  # noqa: S102
    await namespace["test_implausible_readings_are_filtered"]()
