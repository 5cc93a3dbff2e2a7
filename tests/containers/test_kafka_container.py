"""The test kit's container path: Kafka from an image, as testcontainers users run it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from contextlib import closing

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from streamworks.ops.kafka._files import NodeLayout, broker_settings
from streamworks.testing import consume_until, container_broker, produce
from tests.containers.conftest import REPO, Images

SMOKE_TESTS = "tests/integration/test_kafka_smoke.py"


def _containers_of(image: str) -> set[str]:
    import docker  # noqa: PLC0415 - the images fixture has checked that an engine answers

    with closing(docker.from_env()) as client:
        return {c.id for c in client.containers.list(all=True, filters={"ancestor": image})}


def test_the_kafka_fixture_runs_the_smoke_tests_on_a_container(images: Images) -> None:
    """`STREAMWORKS_TEST_KAFKA=container` leaves the fixture no other way: the smoke tests
    pass on a broker in a container, and the container is gone when the session ends."""
    before = _containers_of(images.kafka)
    env = {
        **{k: v for k, v in os.environ.items() if k != "STREAMWORKS_TEST_BOOTSTRAP"},
        "STREAMWORKS_TEST_KAFKA": "container",
        "STREAMWORKS_TEST_KAFKA_IMAGE": images.kafka,
    }
    session = subprocess.run(
        [sys.executable, "-m", "pytest", SMOKE_TESTS, "-q", "-p", "no:cacheprovider"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    summary = session.stdout.strip().splitlines()[-1] if session.stdout.strip() else ""
    assert session.returncode == 0, session.stdout[-3000:] + session.stderr[-2000:]
    assert " passed" in summary and "skipped" not in summary, summary
    assert _containers_of(images.kafka) == before, "the Kafka container outlived its session"


async def _broker_config(bootstrap: str) -> dict[str, str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [response] = await admin.describe_configs([ConfigResource(ConfigResourceType.BROKER, "1")])
    finally:
        await admin.close()
    [resource] = response.to_object()["resources"]
    return {e["config_names"]: e["config_value"] for e in resource["config_entries"]}


def test_a_container_broker_has_the_settings_of_a_local_one(images: Images) -> None:
    """Same broker settings either way, so a test cannot pass on one and fail on the other;
    and records round-trip through it."""
    with container_broker(images.kafka) as endpoint:
        assert endpoint.source == "container"
        assert endpoint.brokers == 1
        port = int(endpoint.bootstrap_servers.rsplit(":", 1)[1])
        node = NodeLayout(1, port, port + 1, REPO)
        config = asyncio.run(_broker_config(endpoint.bootstrap_servers))
        expected = broker_settings(node, [node])
        # settings the broker reports (process roles and quorum voters are not per-broker)
        for key in (
            "auto.create.topics.enable",
            "offsets.topic.num.partitions",
            "group.initial.rebalance.delay.ms",
            "min.insync.replicas",
            "transaction.state.log.min.isr",
            "log.segment.bytes",
        ):
            assert config[key] == expected[key], key
        assert asyncio.run(_round_trip(endpoint.bootstrap_servers, "container.roundtrip")) == list(
            range(50)
        )


async def _round_trip(bootstrap: str, topic: str) -> list[int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    finally:
        await admin.close()
    await produce(bootstrap, topic, [(f"k{i % 5}".encode(), f"{i}".encode()) for i in range(50)])
    received = await consume_until(bootstrap, topic, count=50)
    return sorted(int(r.value or b"") for r in received)
