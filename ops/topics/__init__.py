"""Topics as code: the desired topics (pipeline + ``ops/topics.yaml``), the live ones, the plan.

``streamworks topics plan PIPELINE`` shows the difference; ``topics apply`` makes it.
"""

from __future__ import annotations

from ops.topics.commands import EXIT_CHANGES, EXIT_IN_SYNC, EXIT_PROBLEM, app, current_plan
from ops.topics.desired import DEFAULT_FILE, desired_topics
from ops.topics.errors import TopicsApplyError, TopicsError, TopicsFileError
from ops.topics.file import TopicEntry, TopicsFile, load_topics_file
from ops.topics.live import apply_plan, read_live
from ops.topics.model import Action, ActionKind, DesiredTopic, LiveState, LiveTopic, Plan, Refusal
from ops.topics.planner import MAX_DEFAULT_REPLICATION, plan

__all__ = [
    "DEFAULT_FILE",
    "EXIT_CHANGES",
    "EXIT_IN_SYNC",
    "EXIT_PROBLEM",
    "MAX_DEFAULT_REPLICATION",
    "Action",
    "ActionKind",
    "DesiredTopic",
    "LiveState",
    "LiveTopic",
    "Plan",
    "Refusal",
    "TopicEntry",
    "TopicsApplyError",
    "TopicsError",
    "TopicsFile",
    "TopicsFileError",
    "app",
    "apply_plan",
    "current_plan",
    "desired_topics",
    "load_topics_file",
    "plan",
    "read_live",
]
