"""What a replayed record carries, and the markers that say a dead letter was replayed."""

from __future__ import annotations

from streamworks.core.messages import Headers
from streamworks.runtime.dead_letters import DLQ_PREFIX, header

__all__ = [
    "REPLAY_PREFIX",
    "marker_key",
    "marker_topic",
    "parse_marker_key",
    "replay_headers",
    "replay_id",
]

REPLAY_PREFIX = "streamworks.replay."


def replay_id(dlq_topic: str) -> str:
    """Consumer group and transactional id of replays of ``dlq_topic``.

    ``<pipeline>.<stage>.dlq-replay`` for a stage's dead letters. One transactional id per
    dead-letter topic means a second replay started on it fences the first.
    """
    return f"{dlq_topic}-replay"


def marker_topic(dlq_topic: str) -> str:
    """The compacted topic recording which dead letters of ``dlq_topic`` were replayed."""
    return f"{dlq_topic}.replayed"


def marker_key(partition: int, offset: int) -> bytes:
    """The marker key of the dead letter at ``partition``/``offset``."""
    return f"{partition}:{offset}".encode()


def parse_marker_key(key: bytes | None) -> tuple[int, int] | None:
    """``(partition, offset)`` from a marker key, None if it is not one."""
    partition, _, offset = (key or b"").decode(errors="replace").partition(":")
    if not (partition.isdigit() and offset.isdigit()):
        return None
    return int(partition), int(offset)


def replay_headers(
    headers: Headers, dlq_topic: str, partition: int, offset: int, now_ms: int
) -> Headers:
    """The record's own headers, without dead-letter or earlier replay headers, plus replay ones.

    ``streamworks.replay.count`` counts the times this record was replayed: a replayed
    record that fails again is dead-lettered with its replay headers, so the count grows.
    """
    previous = header(headers, REPLAY_PREFIX + "count")
    count = int(previous) + 1 if previous is not None and previous.isdigit() else 1
    own = tuple(
        (name, value) for name, value in headers if not name.startswith((DLQ_PREFIX, REPLAY_PREFIX))
    )
    return (
        *own,
        (REPLAY_PREFIX + "dlq.topic", dlq_topic.encode()),
        (REPLAY_PREFIX + "dlq.partition", str(partition).encode()),
        (REPLAY_PREFIX + "dlq.offset", str(offset).encode()),
        (REPLAY_PREFIX + "at", str(now_ms).encode()),
        (REPLAY_PREFIX + "count", str(count).encode()),
    )
