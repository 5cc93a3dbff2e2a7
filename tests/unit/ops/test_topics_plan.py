"""The topics planner and the topics file, without a broker."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamworks.ops.project import load_pipeline
from streamworks.ops.topics import (
    DesiredTopic,
    LiveState,
    LiveTopic,
    TopicsFile,
    TopicsFileError,
    desired_topics,
    load_topics_file,
    plan,
)
from streamworks.pipeline.graph import Pipeline, TopicSpec


def live(*topics: LiveTopic, brokers: int = 1) -> LiveState:
    return LiveState({t.name: t for t in topics}, brokers)


def want(*topics: DesiredTopic) -> dict[str, DesiredTopic]:
    return {t.name: t for t in topics}


def test_missing_topics_are_created_with_their_configs_and_default_replication() -> None:
    found = plan(
        want(DesiredTopic("a", 3, config={"cleanup.policy": "compact"}), DesiredTopic("b", 1)),
        live(brokers=5),
    )
    assert [(a.kind, a.topic, a.partitions, a.replication) for a in found.actions] == [
        ("create", "a", 3, 3),
        ("create", "b", 1, 3),
    ]
    assert found.actions[0].config == {"cleanup.policy": "compact"}
    assert not found.refusals
    assert not found.in_sync


def test_matching_cluster_is_in_sync_and_undeclared_configs_are_ignored() -> None:
    found = plan(
        want(DesiredTopic("a", 2, 1, {"cleanup.policy": "compact,delete"})),
        live(LiveTopic("a", 2, 1, {"cleanup.policy": "delete, compact"}, {"segment.ms": "10"})),
    )
    assert found.in_sync


def test_more_partitions_are_added() -> None:
    found = plan(want(DesiredTopic("a", 4)), live(LiveTopic("a", 2, 1)))
    assert [(a.kind, a.partitions) for a in found.actions] == [("add-partitions", 4)]
    assert "2 -> 4" in found.actions[0].detail


def test_fewer_partitions_are_refused_with_the_way_out() -> None:
    found = plan(want(DesiredTopic("a", 2)), live(LiveTopic("a", 4, 1)))
    assert not found.actions
    [refusal] = found.refusals
    assert refusal.topic == "a"
    assert "Kafka cannot remove partitions" in refusal.reason
    assert "declare partitions 4" in refusal.reason


def test_replication_change_is_refused_as_a_reassignment() -> None:
    found = plan(want(DesiredTopic("a", 2, 3)), live(LiveTopic("a", 2, 1), brokers=3))
    [refusal] = found.refusals
    assert "reassignment" in refusal.reason
    assert "declare replication 1" in refusal.reason


def test_undeclared_replication_is_never_compared() -> None:
    assert plan(want(DesiredTopic("a", 2)), live(LiveTopic("a", 2, 2), brokers=3)).in_sync


def test_create_with_more_replicas_than_brokers_is_refused() -> None:
    found = plan(want(DesiredTopic("a", 2, 3)), live(brokers=1))
    assert not found.actions
    assert "1 broker" in found.refusals[0].reason


def test_changed_config_is_altered_keeping_the_topics_other_configs() -> None:
    found = plan(
        want(DesiredTopic("a", 2, config={"retention.ms": "1000", "cleanup.policy": "delete"})),
        live(
            LiveTopic(
                "a",
                2,
                1,
                config={"retention.ms": "5000", "cleanup.policy": "delete"},
                overrides={"retention.ms": "5000", "segment.ms": "60000"},
            )
        ),
    )
    [action] = found.actions
    assert action.kind == "alter-config"
    assert action.detail == "retention.ms 5000 -> 1000"
    # AlterConfigs replaces the whole set, so segment.ms must be sent again.
    assert action.config == {"retention.ms": "1000", "segment.ms": "60000"}


def test_extra_live_topics_are_deleted_only_under_a_prune_prefix() -> None:
    cluster = live(
        LiveTopic("p.a", 1, 1),
        LiveTopic("p.old", 1, 1),
        LiveTopic("other.x", 1, 1),
        LiveTopic("p.clean.dlq.replayed", 1, 1),  # dlq replay's markers: never pruned
    )
    desired = want(DesiredTopic("p.a", 1))
    assert plan(desired, cluster).in_sync
    pruned = plan(desired, cluster, prune_prefixes=("p.",))
    assert [(a.kind, a.topic) for a in pruned.actions] == [("delete", "p.old")]


def test_actions_come_in_order_creates_partitions_configs_deletes() -> None:
    found = plan(
        want(
            DesiredTopic("p.z", 1),
            DesiredTopic("p.b", 3),
            DesiredTopic("p.a", 1, config={"retention.ms": "1"}),
        ),
        live(LiveTopic("p.b", 1, 1), LiveTopic("p.a", 1, 1), LiveTopic("p.gone", 1, 1)),
        prune_prefixes=("p.",),
    )
    assert [a.kind for a in found.actions] == [
        "create",
        "add-partitions",
        "alter-config",
        "delete",
    ]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "topics.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def small_pipeline() -> Pipeline:
    return Pipeline(
        "p",
        topics=[
            TopicSpec("p.in", None, 2, external=True),
            TopicSpec("p.table", None, 2, config={"cleanup.policy": "compact"}),
        ],
    )


def test_file_overrides_pipeline_topics_and_adds_extra_ones(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
shared:
  common.positions: {partitions: 3, config: {cleanup.policy: compact}}
pipelines:
  p:
    p.in: {config: {retention.ms: 86400000, preallocate: true}}
    p.table: {config: {min.compaction.lag.ms: 0}}
  other:
    other.x: {partitions: 1}
""",
    )
    found = desired_topics(small_pipeline(), load_topics_file(path))
    assert found["p.in"] == DesiredTopic(
        "p.in", 2, None, {"retention.ms": "86400000", "preallocate": "true"}, "pipeline+file"
    )
    assert found["p.table"].config == {"cleanup.policy": "compact", "min.compaction.lag.ms": "0"}
    assert found["common.positions"] == DesiredTopic(
        "common.positions", 3, None, {"cleanup.policy": "compact"}, "file"
    )
    assert "other.x" not in found


def test_a_pipeline_topics_partitions_cannot_be_changed_by_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "pipelines:\n  p:\n    p.in: {partitions: 4}\n")
    with pytest.raises(TopicsFileError, match=r"p\.in\.partitions: .* declares 2 partitions"):
        desired_topics(small_pipeline(), load_topics_file(path), path=path)


def test_extra_topic_without_partitions_names_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, "pipelines:\n  p:\n    p.extra: {config: {retention.ms: 1}}\n")
    with pytest.raises(TopicsFileError, match=r"pipelines\.p\.p\.extra\.partitions"):
        desired_topics(small_pipeline(), load_topics_file(path), path=path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("shared:\n  a:\n    partitons: 2\n", r":3: shared\.a\.partitons: Extra inputs"),
        ("shared:\n  a:\n    partitions: 0\n", r":3: shared\.a\.partitions: Input should be"),
        ("topics: []\n", r":1: topics: Extra inputs"),
        ("shared:\n  a: [1\n", r"not valid YAML"),
        ("shared:\n  ${NOPE_NOT_SET_X}: {partitions: 1}\n", r"NOPE_NOT_SET_X is not set"),
        ("shared:\n  a: {partitions: 1}\n  a: {partitions: 2}\n", r":3: shared\.a: appears twice"),
    ],
)
def test_file_errors_name_line_and_key(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(TopicsFileError, match=expected):
        load_topics_file(write(tmp_path, text))


def test_variables_are_expanded_in_keys_and_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOPICS_TEST_PREFIX", "t9")
    path = write(
        tmp_path,
        "pipelines:\n  ${TOPICS_TEST_PREFIX}:\n"
        "    ${TOPICS_TEST_PREFIX}.raw: {config: {retention.ms: '${TOPICS_TEST_MS:-42}'}}\n",
    )
    loaded = load_topics_file(path)
    assert list(loaded.pipelines) == ["t9"]
    assert loaded.pipelines["t9"]["t9.raw"].config == {"retention.ms": "42"}


def test_empty_file_is_no_topics(tmp_path: Path) -> None:
    assert load_topics_file(write(tmp_path, "# nothing yet\n")) == TopicsFile()


def test_shipped_file_loads_and_fits_the_flagship(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMWORKS_ORDERS_PREFIX", "shipcheck")
    found = desired_topics(
        load_pipeline("orders"), load_topics_file(Path(__file__).parents[3] / "ops" / "topics.yaml")
    )
    assert found["shipcheck.raw"].config == {"retention.ms": "604800000"}
    assert found["shipcheck.raw"].source == "pipeline+file"
    assert found["streamworks.connect.positions"].config["cleanup.policy"] == "compact"
    assert found["shipcheck.revenue.changelog"].config == {"cleanup.policy": "compact"}
