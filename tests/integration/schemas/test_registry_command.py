"""``streamworks registry`` as a process: configured by environment, stopped by SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import httpx

from streamworks.ops.kafka._process import free_port_block
from streamworks.testing import KafkaEndpoint, unique_name, wait_for
from streamworks.testing.registry import RegistryThread

_RUN = "import typer\nfrom streamworks.ops.registry_commands import registry\ntyper.run(registry)\n"


async def test_the_command_serves_until_sigterm(kafka: KafkaEndpoint) -> None:
    port = free_port_block(1)
    env = {
        **os.environ,
        "STREAMWORKS_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "STREAMWORKS_REGISTRY_PORT": str(port),
        "STREAMWORKS_REGISTRY_TOPIC": unique_name("_schemas"),
    }
    process = subprocess.Popen(  # noqa: ASYNC220 - started once, waited on with a deadline
        [sys.executable, "-c", _RUN], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    url = f"http://127.0.0.1:{port}"
    try:

        async def answers() -> bool:
            try:
                async with httpx.AsyncClient() as http:
                    return bool((await http.get(f"{url}/subjects")).json() == [])
            except httpx.HTTPError:
                return False

        await wait_for(answers, timeout=60, what=f"the registry command to answer at {url}")
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, stderr.decode()
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_the_session_fixture_serves(schema_registry: RegistryThread) -> None:
    with httpx.Client(base_url=schema_registry.url) as http:
        assert http.get("/config").json() == {"compatibilityLevel": "BACKWARD"}
