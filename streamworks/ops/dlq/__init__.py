"""Dead-letter tools: ``streamworks dlq inspect`` groups dead letters by error, and
``streamworks dlq replay`` puts them back in their origin topic, each at most once."""

from streamworks.ops.dlq.commands import app
from streamworks.ops.dlq.errors import DeadLetterToolError
from streamworks.ops.dlq.letters import DeadLetter, ErrorGroup, group_letters, normalise
from streamworks.ops.dlq.marks import marker_topic, replay_headers, replay_id
from streamworks.ops.dlq.replay import replay
from streamworks.ops.dlq.sorting import ReplayReport, Sorter, matches_error
from streamworks.ops.dlq.summary import groups_json, summarise

__all__ = [
    "DeadLetter",
    "DeadLetterToolError",
    "ErrorGroup",
    "ReplayReport",
    "Sorter",
    "app",
    "group_letters",
    "groups_json",
    "marker_topic",
    "matches_error",
    "normalise",
    "replay",
    "replay_headers",
    "replay_id",
    "summarise",
]
