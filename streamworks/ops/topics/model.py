"""The values topics as code works with: desired and live topics, and the plan between them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Action", "ActionKind", "DesiredTopic", "LiveState", "LiveTopic", "Plan", "Refusal"]

ActionKind = Literal["create", "add-partitions", "alter-config", "delete"]


@dataclass(frozen=True)
class DesiredTopic:
    """A topic as the pipeline and the topics file declare it together."""

    name: str
    """Topic name."""
    partitions: int
    """Partition count."""
    replication: int | None = None
    """Replication factor; None leaves it to the cluster (brokers, up to 3) and never compares."""
    config: dict[str, str] = field(default_factory=dict)
    """Topic configs to hold, e.g. ``{"cleanup.policy": "compact"}``; others are not compared."""
    source: str = "pipeline"
    """Where it is declared: ``pipeline``, ``file`` or ``pipeline+file``."""


@dataclass(frozen=True)
class LiveTopic:
    """A topic as the cluster has it."""

    name: str
    """Topic name."""
    partitions: int
    """Partition count."""
    replication: int
    """Replicas of its partitions (the largest, should they differ)."""
    config: dict[str, str] = field(default_factory=dict)
    """Effective values (set on the topic or inherited) of the keys the desired state names."""
    overrides: dict[str, str] = field(default_factory=dict)
    """Every config set on the topic itself: altering configs must send them all again."""


@dataclass(frozen=True)
class LiveState:
    """What the cluster has: its topics (internal ones left out) and its broker count."""

    topics: dict[str, LiveTopic]
    """Live topics by name."""
    brokers: int
    """Brokers in the cluster (the most replicas a partition can have)."""


@dataclass(frozen=True)
class Action:
    """One change that apply makes."""

    kind: ActionKind
    """What to do."""
    topic: str
    """The topic it is done to."""
    detail: str
    """What changes, for people: ``partitions 2 -> 4``, ``retention.ms 604800000 -> 86400000``."""
    partitions: int | None = None
    """Partition count after a create or add-partitions."""
    replication: int | None = None
    """Replication factor of a create."""
    config: dict[str, str] = field(default_factory=dict)
    """A create's configs; an alter's complete set of topic configs after the change."""


@dataclass(frozen=True)
class Refusal:
    """A difference apply will not resolve, with the reason and the way out."""

    topic: str
    """The topic concerned."""
    reason: str
    """Why, and what to do instead."""


@dataclass(frozen=True)
class Plan:
    """The changes that bring the cluster to the desired state, and those apply refuses."""

    actions: tuple[Action, ...] = ()
    """Changes apply makes, in order: creates, partition additions, config changes, deletes."""
    refusals: tuple[Refusal, ...] = ()
    """Differences apply does not resolve; while there is one, apply changes nothing."""

    @property
    def in_sync(self) -> bool:
        """True when the cluster already matches the desired state."""
        return not self.actions and not self.refusals
