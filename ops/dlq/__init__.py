"""Dead-letter tools: ``streamworks dlq inspect`` groups dead letters by error, and
``streamworks dlq replay`` puts them back in their origin topic, each at most once."""

from ops.dlq.commands import app
from ops.dlq.errors import DeadLetterToolError
from ops.dlq.letters import DeadLetter, ErrorGroup, group_letters, normalise
from ops.dlq.marks import marker_topic, replay_headers, replay_id
from ops.dlq.replay import replay
from ops.dlq.sorting import ReplayReport, Sorter, matches_error
from ops.dlq.summary import groups_json, summarise

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
