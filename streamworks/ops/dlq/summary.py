"""``dlq inspect``'s work: read a dead-letter topic to its end and group what is there."""

from __future__ import annotations

import base64
from typing import Any

from streamworks.core.settings import Settings
from streamworks.ops.dlq.letters import DeadLetter, ErrorGroup, group_letters
from streamworks.ops.dlq.reading import letters_until_end, start_reader

__all__ = ["groups_json", "letter_json", "summarise"]


async def summarise(settings: Settings, topic: str, samples: int = 3) -> list[ErrorGroup]:
    """The dead letters of ``topic`` now (read_committed, no group), grouped by error."""
    reader = await start_reader(settings, topic)
    assert reader is not None  # noqa: S101 - start_reader raises unless missing_ok
    consumer, tps = reader
    letters: list[DeadLetter] = []
    try:
        await consumer.seek_to_beginning(*tps)
        async for batch in letters_until_end(consumer, tps):
            letters.extend(batch)
    finally:
        await consumer.stop()
    return group_letters(letters, samples)


def _text(data: bytes | None) -> str | None:
    """UTF-8 text as is; anything else (Avro values) as ``base64:...``."""
    if data is None:
        return None
    try:
        return data.decode()
    except UnicodeDecodeError:
        return "base64:" + base64.b64encode(data).decode()


def letter_json(letter: DeadLetter) -> dict[str, Any]:
    """One sample as JSON: where it is, where it came from, its key and message."""
    return {
        "partition": letter.partition,
        "offset": letter.offset,
        "key": _text(letter.key),
        "origin_topic": letter.origin_topic,
        "origin_partition": letter.origin_partition,
        "origin_offset": letter.origin_offset,
        "timestamp_ms": letter.timestamp_ms,
        "message": letter.message,
    }


def groups_json(topic: str, groups: list[ErrorGroup]) -> dict[str, Any]:
    """The whole inspection as one JSON document."""
    return {
        "topic": topic,
        "total": sum(g.count for g in groups),
        "groups": [
            {
                "error_class": g.error_class,
                "pattern": g.pattern,
                "count": g.count,
                "first_ms": g.first_ms,
                "last_ms": g.last_ms,
                "origins": g.origins,
                "samples": [letter_json(s) for s in g.samples],
            }
            for g in groups
        ],
    }
