"""The dashboard in a real browser against a running pipeline on the real broker.

The kit's sensor pipeline on fresh topics with its readings fed and ``clean`` run by two
workers, ``scale`` not running: scale's input fills up, so it is the bottleneck.
``streamworks dashboard`` serves it (with a connector file drawn in); headless Chromium
(Debian's ``chromium``) runs the page's script, and the test reads the stage boxes' numbers
from the DOM it dumps, then saves a screenshot to .cache/reports/dashboard.png.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from streamworks.core.settings import Settings
from streamworks.testing import KafkaEndpoint, unique_name, wait_for
from streamworks.testing.registry import RegistryThread
from tests.integration.workers import publishing_workers, sensors_with_readings

pytestmark = pytest.mark.asyncio(loop_scope="session")

READINGS = 200
APP = "tests.kit.pipelines:sensors_from_env"
SCREENSHOT = Path(".cache/reports/dashboard.png")
STAGE = re.compile(r'<g [^>]*data-stage="([^"]+)"[^>]*>(.*?)</g>', re.DOTALL)
FIELD = re.compile(r'data-field="(\w+)">([^<]*)<')


def chromium() -> str:
    """The headless browser's path; fails (never skips) with the install hint."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("no chromium or chromium-browser on PATH; install it: apt-get install chromium")


async def browse(url: str, profile: Path, *args: str) -> bytes:
    """Run headless Chromium on ``url`` (loopback only) until the page's script settled."""
    assert url.startswith("http://127.0.0.1:"), url
    process = await asyncio.create_subprocess_exec(
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=8000",
        *args,
        url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout=90)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode == 0, err.decode(errors="replace")[-2000:]
    return out


def fresh(path: Path) -> Path:
    """``path`` made absolute, its folder created and any old file removed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    return path.resolve()


def stage_boxes(dom: str) -> dict[str, dict[str, str]]:
    """Per stage box: its fields' texts, and ``bottleneck`` from its data attribute."""
    boxes = {}
    for name, body in STAGE.findall(dom):
        fields = dict(FIELD.findall(body))
        opening = re.search(rf'<g [^>]*data-stage="{re.escape(name)}"[^>]*>', dom)
        assert opening is not None
        marked = re.search(r'data-bottleneck="(\w+)"', opening.group(0))
        fields["bottleneck"] = marked.group(1) if marked else "missing"
        boxes[name] = fields
    return boxes


@asynccontextmanager
async def dashboard(kafka: KafkaEndpoint, prefix: str, connectors: Path) -> AsyncIterator[str]:
    """``streamworks dashboard <the kit's pipeline> --port 0`` for ``prefix``; yields its URL."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "streamworks",
        "dashboard",
        APP,
        "--port",
        "0",
        "--connectors",
        str(connectors),
        env={
            **os.environ,
            "STREAMWORKS_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
            "KIT_PREFIX": prefix,
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), timeout=60)).decode()
        found = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert found, f"no address in {line!r}"
        yield found.group(0)
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), timeout=30)


async def test_the_dashboard_shows_stage_numbers_and_the_bottleneck_in_a_browser(
    kafka: KafkaEndpoint, schema_registry: RegistryThread, tmp_path: Path
) -> None:
    settings = Settings(bootstrap_servers=kafka.bootstrap_servers, registry_url=schema_registry.url)
    prefix = unique_name("dash")
    pipeline = await sensors_with_readings(settings, prefix, READINGS)
    connectors = tmp_path / "connectors.yaml"
    connectors.write_text(
        "connectors:\n"
        f"  - {{name: {prefix}-http, kind: http, topic: {prefix}.readings, port: 0}}\n"
        f"  - {{name: {prefix}-archive, kind: jsonl, topics: [{prefix}.labels],"
        f" directory: {tmp_path / 'out'}}}\n"
    )

    async with (
        publishing_workers(pipeline, settings, "clean", 2),
        dashboard(kafka, prefix, connectors) as url,
        aiohttp.ClientSession() as http,
    ):
        latest: list[dict[str, Any]] = []

        async def clean_done_scale_behind() -> bool:
            async with http.get(f"{url}api/status") as answer:
                if answer.status != 200:
                    return False
                latest[:] = [await answer.json()]
            stages = {s["name"]: s for s in latest[0]["stages"]}
            return bool(
                stages["clean"]["records_in"] == READINGS
                and stages["clean"]["workers"] == 2
                and stages["scale"]["lag_records"] == READINGS
                and latest[0]["bottleneck"] == "scale"
            )

        await wait_for(clean_done_scale_behind, timeout=90, what="clean done, scale behind")
        async with http.get(f"{url}api/graph") as answer:
            graph = await answer.json()
        kinds = {n["id"]: n["kind"] for n in graph["nodes"]}
        assert kinds[f"source:{prefix}-http"] == "source"
        assert kinds[f"sink:{prefix}-archive"] == "sink"
        assert latest[0]["dlq"]["clean"]["topic"] == f"{prefix}.clean.dlq"

        dom = (await browse(url, tmp_path / "profile", "--dump-dom")).decode()
        boxes = stage_boxes(dom)
        assert set(boxes) == {s.name for s in pipeline.order()}
        clean, scale = boxes["clean"], boxes["scale"]
        assert (clean["records_in"], clean["workers"], clean["partitions"]) == (
            str(READINGS),
            "2",
            "2",
        )
        assert clean["lag_records"] == "0"
        assert clean["dead_lettered"] == str(latest[0]["dlq"]["clean"]["count"])
        # out is what clean wrote; late is only an aggregation's (totals: none folded yet)
        figures = {s["name"]: s for s in latest[0]["stages"]}
        assert clean["out"] == str(figures["clean"]["out"])
        assert figures["clean"]["out"] == figures["clean"]["produced"] > 0
        assert (clean["late"], boxes["totals"]["late"]) == ("\N{EN DASH}", "0")
        assert clean["bottleneck"] == "false"
        assert (scale["lag_records"], scale["workers"], scale["bottleneck"]) == (
            str(READINGS),
            "0",
            "true",
        )
        assert float(scale["lag_seconds"]) > 0
        assert f'data-connector="{prefix}-http"' in dom
        assert f'data-topic="{prefix}.readings"' in dom
        assert re.search(r'id="bottleneck"[^>]*>scale<', dom)

        target = fresh(SCREENSHOT)
        await browse(url, tmp_path / "profile", f"--screenshot={target}", "--window-size=1400,900")
        picture = target.read_bytes()
        assert picture.startswith(b"\x89PNG\r\n\x1a\n")
        assert len(picture) > 20_000
