"""Dead letters read back: their explanation from the headers, and grouping by error."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from streamworks.core.messages import Headers
from streamworks.runtime.dead_letters import DLQ_PREFIX, header

__all__ = ["DeadLetter", "ErrorGroup", "group_letters", "normalise"]

_UUID = re.compile(
    r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
)
_HEX = re.compile(r"\b(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{12,}\b")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def normalise(message: str) -> str:
    """The message's first line with ids and numbers replaced, so similar errors group.

    ``order 42 of c-00017 failed`` and ``order 7 of c-00203 failed`` both become
    ``order <n> of c-<n> failed``; UUIDs and long hex ids become ``<id>``.
    """
    first = message.strip().splitlines()[0] if message.strip() else ""
    first = _UUID.sub("<id>", first)
    first = _HEX.sub("<id>", first)
    return _NUMBER.sub("<n>", first)


def _int(text: str | None) -> int | None:
    return int(text) if text is not None and text.lstrip("-").isdigit() else None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One record of a dead-letter topic, with what its headers say about it."""

    partition: int
    """Its partition in the dead-letter topic."""
    offset: int
    """Its offset in the dead-letter topic."""
    key: bytes | None
    """The original key, unchanged."""
    value: bytes | None
    """The original value, unchanged."""
    headers: Headers
    """All its headers: the ``streamworks.dlq.*`` ones, then the record's own."""
    error_class: str
    """Qualified class of the error (``unknown`` when the header is missing)."""
    message: str
    """The error message (may be empty)."""
    origin_topic: str | None
    """Topic the record was read from (or meant for), None when the header is missing."""
    origin_partition: int | None
    """Its partition there, if known."""
    origin_offset: int | None
    """Its offset there, if known."""
    timestamp_ms: int
    """When it was dead-lettered (the header, else the Kafka timestamp)."""

    @classmethod
    def parse(
        cls,
        partition: int,
        offset: int,
        *,
        key: bytes | None,
        value: bytes | None,
        headers: Iterable[tuple[str, bytes]],
        kafka_timestamp_ms: int = 0,
    ) -> DeadLetter:
        """A dead letter from a consumed record's parts."""
        found = tuple(headers)
        return cls(
            partition=partition,
            offset=offset,
            key=key,
            value=value,
            headers=found,
            error_class=header(found, DLQ_PREFIX + "error.class") or "unknown",
            message=header(found, DLQ_PREFIX + "error.message") or "",
            origin_topic=header(found, DLQ_PREFIX + "origin.topic") or None,
            origin_partition=_int(header(found, DLQ_PREFIX + "origin.partition")),
            origin_offset=_int(header(found, DLQ_PREFIX + "origin.offset")),
            timestamp_ms=_int(header(found, DLQ_PREFIX + "timestamp")) or kafka_timestamp_ms,
        )

    @property
    def pattern(self) -> str:
        """The normalised first line of the message: what errors are grouped by."""
        return normalise(self.message)


@dataclass
class ErrorGroup:
    """Dead letters sharing an error class and message pattern."""

    error_class: str
    """Qualified error class."""
    pattern: str
    """Normalised first line of their messages."""
    count: int = 0
    """How many dead letters."""
    first_ms: int = 0
    """Earliest dead-letter timestamp."""
    last_ms: int = 0
    """Latest dead-letter timestamp."""
    origins: dict[str, int] = field(default_factory=dict)
    """Origin topic -> count (``?`` for letters without the header)."""
    samples: list[DeadLetter] = field(default_factory=list)
    """The first few letters, in topic order per partition."""


def group_letters(letters: Iterable[DeadLetter], samples: int = 3) -> list[ErrorGroup]:
    """Letters grouped by (error class, pattern), largest group first."""
    groups: dict[tuple[str, str], ErrorGroup] = {}
    for letter in letters:
        group = groups.get((letter.error_class, letter.pattern))
        if group is None:
            group = ErrorGroup(letter.error_class, letter.pattern)
            groups[(letter.error_class, letter.pattern)] = group
            group.first_ms = group.last_ms = letter.timestamp_ms
        group.count += 1
        group.first_ms = min(group.first_ms, letter.timestamp_ms)
        group.last_ms = max(group.last_ms, letter.timestamp_ms)
        origin = letter.origin_topic or "?"
        group.origins[origin] = group.origins.get(origin, 0) + 1
        if len(group.samples) < samples:
            group.samples.append(letter)
    return sorted(groups.values(), key=lambda g: (-g.count, g.error_class, g.pattern))
