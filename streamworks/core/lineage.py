"""Lineage: every output of a stage names the input record it came from, in one small header.

The header is called ``sw.o`` (:data:`LINEAGE_HEADER`); its 17-byte value is a format
byte, an *origin id* (4 bytes: the CRC-32 of ``<stage>\\0<input topic>``, that is who wrote
the output and from which topic it read), the input partition (4 bytes) and the input offset
(8 bytes), big-endian. With Kafka's own framing of a header, an output carries 23 bytes of
lineage; four text headers (``streamworks.origin.stage``, ``.topic``, ``.partition``,
``.offset``) cost about 130, more than a typical record.

An origin id turns back into names with the pipeline (:func:`origins`), which whoever reads
a pipeline's topics has: the aggregation that waits for its upstream partitions, and
``streamworks consume``, which shows the header as ``{stage, topic, partition, offset}``.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

from streamworks.core.messages import Headers

__all__ = ["LINEAGE_HEADER", "Lineage", "LineageWriter", "lineage_of", "origin_id", "origins"]

LINEAGE_HEADER = "sw.o"
"""The name of the lineage header."""
_FORMAT = 1
_PREFIX = struct.Struct(">BII")
_OFFSET = struct.Struct(">Q")
_SIZE = _PREFIX.size + _OFFSET.size


def origin_id(stage: str, topic: str) -> int:
    """The origin id of outputs ``stage`` writes for records it read from ``topic``."""
    return zlib.crc32(f"{stage}\0{topic}".encode())


@dataclass(frozen=True, slots=True)
class Lineage:
    """Where an output came from, as its header says."""

    origin: int
    """The origin id: :func:`origin_id` of the stage that wrote it and the topic it read."""
    partition: int
    """The input record's partition."""
    offset: int
    """The input record's offset."""


class LineageWriter:
    """Makes the lineage headers of one stage's outputs; the part of the value that is the
    same for every record of an input partition is packed once."""

    def __init__(self, stage: str) -> None:
        self._stage = stage
        self._prefixes: dict[tuple[str, int], bytes] = {}

    def header(self, topic: str, partition: int, offset: int) -> tuple[str, bytes]:
        """The header of an output of input record ``offset`` of ``topic``/``partition``."""
        prefix = self._prefixes.get((topic, partition))
        if prefix is None:
            prefix = _PREFIX.pack(_FORMAT, origin_id(self._stage, topic), partition)
            self._prefixes[topic, partition] = prefix
        return LINEAGE_HEADER, prefix + _OFFSET.pack(offset)


def lineage_of(headers: Headers | Iterable[tuple[str, bytes]] | None) -> Lineage | None:
    """The lineage in ``headers``; None when there is none (or not in a format known here)."""
    for name, value in headers or ():
        if name == LINEAGE_HEADER and len(value) == _SIZE and value[0] == _FORMAT:
            _, origin, partition = _PREFIX.unpack_from(value)
            (offset,) = _OFFSET.unpack_from(value, _PREFIX.size)
            return Lineage(origin, partition, offset)
    return None


def origins(stages: Iterable[tuple[str, Iterable[str]]]) -> dict[int, tuple[str, str]]:
    """Origin id -> ``(stage, topic)`` for ``(stage name, its input topics)`` pairs."""
    return {origin_id(stage, topic): (stage, topic) for stage, inputs in stages for topic in inputs}
