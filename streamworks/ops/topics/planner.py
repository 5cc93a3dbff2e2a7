"""The plan: what to change so the live cluster matches the desired topics (a pure function)."""

from __future__ import annotations

from collections.abc import Mapping

from streamworks.ops.topics.model import Action, DesiredTopic, LiveState, LiveTopic, Plan, Refusal

__all__ = ["MAX_DEFAULT_REPLICATION", "plan"]

MAX_DEFAULT_REPLICATION = 3
"""A topic without a declared replication gets one replica per broker, up to this many."""


def plan(
    desired: Mapping[str, DesiredTopic],
    live: LiveState,
    *,
    prune_prefixes: tuple[str, ...] = (),
) -> Plan:
    """Compare and list the changes; live topics are deleted only when a prune prefix matches.

    Only the configs the desired state names are compared: a live topic may hold others.
    """
    actions: list[Action] = []
    refusals: list[Refusal] = []
    for name in sorted(desired):
        want = desired[name]
        have = live.topics.get(name)
        if have is None:
            actions.extend(_create(want, live.brokers, refusals))
            continue
        actions.extend(_partitions(want, have, refusals))
        if want.replication is not None and want.replication != have.replication:
            refusals.append(
                Refusal(
                    name,
                    f"replication is {have.replication}, declared {want.replication}: changing "
                    "it needs a partition reassignment (kafka-reassign-partitions), which apply "
                    f"does not do; reassign the partitions, or declare replication "
                    f"{have.replication}",
                )
            )
        actions.extend(_configs(want, have))
    for name in sorted(live.topics):
        if name not in desired and name.startswith(prune_prefixes) and prune_prefixes:
            if _kept(name):
                continue
            actions.append(Action("delete", name, "not declared; --prune deletes it"))
    order = {"create": 0, "add-partitions": 1, "alter-config": 2, "delete": 3}
    actions.sort(key=lambda a: (order[a.kind], a.topic))
    return Plan(tuple(actions), tuple(refusals))


def _kept(name: str) -> bool:
    """Topics the tools keep for themselves: ``dlq replay``'s markers are never pruned.

    They are ``<dead-letter topic>.replayed`` (:func:`streamworks.ops.dlq.marks.marker_topic`);
    losing one would forget which dead letters were replayed.
    """
    return name.endswith(".dlq.replayed")


def _create(want: DesiredTopic, brokers: int, refusals: list[Refusal]) -> list[Action]:
    replication = want.replication or min(brokers, MAX_DEFAULT_REPLICATION)
    if replication > brokers:
        refusals.append(
            Refusal(
                want.name,
                f"declared replication {replication} but the cluster has {brokers} broker(s); "
                f"declare replication {brokers} or less, or add brokers",
            )
        )
        return []
    configs = ", ".join(f"{k}={v}" for k, v in sorted(want.config.items()))
    detail = f"partitions {want.partitions}, replication {replication}"
    return [
        Action(
            "create",
            want.name,
            f"{detail}, {configs}" if configs else detail,
            partitions=want.partitions,
            replication=replication,
            config=dict(want.config),
        )
    ]


def _partitions(want: DesiredTopic, have: LiveTopic, refusals: list[Refusal]) -> list[Action]:
    if want.partitions > have.partitions:
        return [
            Action(
                "add-partitions",
                want.name,
                f"partitions {have.partitions} -> {want.partitions} "
                "(keys written from now on may land in other partitions)",
                partitions=want.partitions,
            )
        ]
    if want.partitions < have.partitions:
        refusals.append(
            Refusal(
                want.name,
                f"has {have.partitions} partitions, declared {want.partitions}: Kafka cannot "
                f"remove partitions; declare partitions {have.partitions}, or create a new "
                f"topic with {want.partitions} and move its writers and readers to it",
            )
        )
    return []


def _configs(want: DesiredTopic, have: LiveTopic) -> list[Action]:
    changed = {
        key: value
        for key, value in sorted(want.config.items())
        if not _same(key, have.config.get(key), value)
    }
    if not changed:
        return []
    detail = ", ".join(f"{k} {have.config.get(k, '(unset)')} -> {v}" for k, v in changed.items())
    # AlterConfigs replaces a topic's whole set of configs: send the ones it has as well.
    return [Action("alter-config", want.name, detail, config={**have.overrides, **changed})]


def _same(key: str, live: str | None, wanted: str) -> bool:
    if live is None:
        return False
    if key == "cleanup.policy":  # a list: "compact,delete" equals "delete, compact"
        return sorted(p.strip() for p in live.split(",")) == sorted(
            p.strip() for p in wanted.split(",")
        )
    return live.strip() == wanted.strip()
