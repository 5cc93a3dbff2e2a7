"""Topics as code: the desired topics (pipeline + the project's topics file), the live ones, the
plan.

``streamworks topics plan PIPELINE`` shows the difference; ``topics apply`` makes it.
"""

from __future__ import annotations

from streamworks.ops.topics.commands import (
    EXIT_CHANGES,
    EXIT_IN_SYNC,
    EXIT_PROBLEM,
    app,
    current_plan,
)
from streamworks.ops.topics.desired import desired_topics
from streamworks.ops.topics.errors import TopicsApplyError, TopicsError, TopicsFileError
from streamworks.ops.topics.file import TopicEntry, TopicsFile, load_topics_file
from streamworks.ops.topics.live import apply_plan, read_live
from streamworks.ops.topics.model import (
    Action,
    ActionKind,
    DesiredTopic,
    LiveState,
    LiveTopic,
    Plan,
    Refusal,
)
from streamworks.ops.topics.planner import MAX_DEFAULT_REPLICATION, plan

__all__ = [
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
