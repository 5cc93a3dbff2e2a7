"""``streamworks topics plan|apply`` against the real broker, each test on its own topics."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from typer.testing import CliRunner, Result

from streamworks.core.settings import Settings
from streamworks.ops.cli import app
from streamworks.ops.topics import EXIT_CHANGES, EXIT_IN_SYNC, EXIT_PROBLEM
from streamworks.pipeline.graph import Pipeline, TopicSpec
from streamworks.testing.helpers import unique_name

_NAME = "STREAMWORKS_TOPICS_TEST_PIPELINE"
PIPELINE = f"{__name__}:small_pipeline"


def small_pipeline() -> Pipeline:
    """Two declared topics named after the test: an input and a compacted table."""
    name = os.environ[_NAME]
    return Pipeline(
        name,
        topics=[
            TopicSpec(f"{name}.in", None, 2, external=True),
            TopicSpec(f"{name}.table", None, 1, config={"cleanup.policy": "compact"}),
        ],
    )


async def _admin_call(bootstrap: str, call: str, *args: Any) -> Any:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return await getattr(admin, call)(*args)
    finally:
        await admin.close()


class Cluster:
    """Reads the broker directly with aiokafka, apart from the code under test."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap

    def partitions(self, topic: str) -> int:
        [found] = asyncio.run(_admin_call(self.bootstrap, "describe_topics", [topic]))
        return len(found["partitions"])

    def config(self, topic: str, key: str) -> str:
        resource = ConfigResource(ConfigResourceType.TOPIC, topic, {key: None})
        [response] = asyncio.run(_admin_call(self.bootstrap, "describe_configs", [resource]))
        [entry] = response.to_object()["resources"][0]["config_entries"]
        return str(entry["config_value"])

    def names(self, prefix: str) -> set[str]:
        found = asyncio.run(_admin_call(self.bootstrap, "list_topics"))
        return {t for t in found if t.startswith(prefix)}

    def create(self, topic: str, partitions: int) -> None:
        asyncio.run(_admin_call(self.bootstrap, "create_topics", [NewTopic(topic, partitions, 1)]))


@pytest.fixture
def name(kafka_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """This test's pipeline name (its topics' prefix); its topics are deleted afterwards."""
    found = unique_name("topics")
    monkeypatch.setenv(_NAME, found)
    monkeypatch.setenv("STREAMWORKS_BOOTSTRAP_SERVERS", kafka_settings.bootstrap_servers)
    monkeypatch.delenv("STREAMWORKS_TOPICS_FILE", raising=False)
    yield found
    cluster = Cluster(kafka_settings.bootstrap_servers)
    leftovers = sorted(cluster.names(f"{found}."))
    if leftovers:
        asyncio.run(_admin_call(kafka_settings.bootstrap_servers, "delete_topics", leftovers))


@pytest.fixture
def cluster(kafka_settings: Settings) -> Cluster:
    return Cluster(kafka_settings.bootstrap_servers)


def topics(*args: str | Path) -> Result:
    return CliRunner().invoke(app, ["topics", *map(str, args)])


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "topics.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_plan_on_an_empty_cluster_lists_creates_and_apply_makes_them(
    name: str, cluster: Cluster, tmp_path: Path
) -> None:
    file = write(
        tmp_path,
        f"pipelines:\n  {name}:\n    {name}.in: {{config: {{retention.ms: 3600000}}}}\n"
        f"    {name}.extra: {{partitions: 3}}\n",
    )
    planned = topics("plan", PIPELINE, "--file", file)
    assert planned.exit_code == EXIT_CHANGES, planned.output
    for topic in ("in", "table", "extra"):
        assert f"{name}.{topic}" in planned.output
    assert planned.output.count("create") == 3

    applied = topics("apply", PIPELINE, "--file", file, "--yes")
    assert applied.exit_code == 0, applied.output
    assert "in sync" in applied.output
    assert cluster.partitions(f"{name}.in") == 2
    assert cluster.partitions(f"{name}.extra") == 3
    assert cluster.config(f"{name}.in", "retention.ms") == "3600000"
    assert cluster.config(f"{name}.table", "cleanup.policy") == "compact"

    again = topics("plan", PIPELINE, "--file", file)
    assert again.exit_code == EXIT_IN_SYNC, again.output
    assert "no changes" in again.output


def test_more_partitions_in_the_file_are_added(name: str, cluster: Cluster, tmp_path: Path) -> None:
    extra = f"pipelines:\n  {name}:\n    {name}.extra: {{partitions: %d}}\n"
    assert topics("apply", PIPELINE, "--file", write(tmp_path, extra % 2), "--yes").exit_code == 0
    file = write(tmp_path, extra % 5)
    planned = topics("plan", PIPELINE, "--file", file)
    assert planned.exit_code == EXIT_CHANGES, planned.output
    assert "add-partitions" in planned.output
    assert "2 -> 5" in planned.output

    applied = topics("apply", PIPELINE, "--file", file, "--yes")
    assert applied.exit_code == 0, applied.output
    assert cluster.partitions(f"{name}.extra") == 5


def test_a_pipeline_topics_partitions_are_the_pipelines(
    name: str, cluster: Cluster, tmp_path: Path
) -> None:
    file = write(tmp_path, f"pipelines:\n  {name}:\n    {name}.in: {{partitions: 5}}\n")
    planned = topics("plan", PIPELINE, "--file", file)
    assert planned.exit_code == EXIT_PROBLEM, planned.output
    assert "change the count in the pipeline" in planned.output


def test_a_changed_config_is_altered_and_other_configs_kept(
    name: str, cluster: Cluster, tmp_path: Path
) -> None:
    first = write(
        tmp_path,
        f"pipelines:\n  {name}:\n    {name}.in: "
        "{config: {retention.ms: 3600000, segment.ms: 600000}}\n",
    )
    assert topics("apply", PIPELINE, "--file", first, "--yes").exit_code == 0
    changed = write(
        tmp_path, f"pipelines:\n  {name}:\n    {name}.in: {{config: {{retention.ms: 7200000}}}}\n"
    )
    planned = topics("plan", PIPELINE, "--file", changed)
    assert planned.exit_code == EXIT_CHANGES, planned.output
    assert "alter-config" in planned.output

    applied = topics("apply", PIPELINE, "--file", changed, "--yes")
    assert applied.exit_code == 0, applied.output
    assert cluster.config(f"{name}.in", "retention.ms") == "7200000"
    # segment.ms is no longer declared, but apply does not drop what the topic holds.
    assert cluster.config(f"{name}.in", "segment.ms") == "600000"


def test_fewer_partitions_are_refused_with_the_reason(
    name: str, cluster: Cluster, tmp_path: Path
) -> None:
    cluster.create(f"{name}.in", 4)
    planned = topics("plan", PIPELINE, "--file", write(tmp_path, ""))
    assert planned.exit_code == EXIT_PROBLEM, planned.output
    assert "Kafka cannot remove partitions" in planned.output

    applied = topics("apply", PIPELINE, "--file", write(tmp_path, ""), "--yes")
    assert applied.exit_code == EXIT_PROBLEM, applied.output
    assert "nothing was applied" in applied.output
    assert cluster.names(f"{name}.") == {f"{name}.in"}  # the create was not made either
    assert cluster.partitions(f"{name}.in") == 4


def test_an_undeclared_live_topic_is_deleted_only_with_prune(
    name: str, cluster: Cluster, tmp_path: Path
) -> None:
    file = write(tmp_path, "")
    assert topics("apply", PIPELINE, "--file", file, "--yes").exit_code == 0
    cluster.create(f"{name}.old", 1)
    assert topics("plan", PIPELINE, "--file", file).exit_code == EXIT_IN_SYNC
    assert topics("apply", PIPELINE, "--file", file, "--yes").exit_code == 0
    assert f"{name}.old" in cluster.names(f"{name}.")

    planned = topics("plan", PIPELINE, "--file", file, "--prune")
    assert planned.exit_code == EXIT_CHANGES, planned.output
    assert "delete" in planned.output

    applied = topics("apply", PIPELINE, "--file", file, "--prune", "--yes")
    assert applied.exit_code == 0, applied.output
    assert cluster.names(f"{name}.") == {f"{name}.in", f"{name}.table"}


def test_plan_of_the_flagship_reads_the_shipped_file(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAMWORKS_ORDERS_PREFIX", name)
    planned = topics("plan", "orders")
    assert planned.exit_code == EXIT_CHANGES, planned.output
    assert f"{name}.raw" in planned.output
    assert "retention.ms=604800000" in planned.output.replace("\n", "").replace("│", "")


def test_a_bad_file_is_one_error_and_exit_1(name: str, tmp_path: Path) -> None:
    planned = topics("plan", PIPELINE, "--file", write(tmp_path, "shared: {a: {partitons: 1}}\n"))
    assert planned.exit_code == EXIT_PROBLEM
    assert "shared.a.partitons" in planned.output
