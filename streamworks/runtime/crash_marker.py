"""A worker's crash-loop marker: a small memory-mapped file it rewrites in place per batch.

The marker names the offsets a worker has in flight (:mod:`streamworks.runtime.crashloop`)
and is written before every batch, so a write must cost next to nothing: the file is
mapped once and a write is a copy into the mapping, with no system call. The pages belong
to the page cache, not to the process, so a worker killed outright (SIGKILL, a segfault,
the OOM killer) leaves its last marker in the file. A machine crash may lose it; the
quarantine is for records that kill workers, not machines.

A kill can land in the middle of a write, so the file has two slots and a write goes to
the one not holding the newest record: payload, length and CRC first, the sequence number
last (the CRC covers it too). A reader takes the whole slot with the highest sequence
number, so a torn write leaves the marker before it, whose offsets were in flight then
too. A document too large for its slot goes into a new, larger file that replaces the
marker whole (rare: the first slots hold a few dozen partitions' ranges).

Layout: ``magic (4 bytes), slot size (u32)``, then two slots of that size, each
``sequence (u64), payload length (u32), CRC32 of sequence and payload (u32), payload``,
little-endian; the payload is the marker's JSON document.
"""

from __future__ import annotations

import mmap
import struct
import zlib
from pathlib import Path
from typing import Any

import orjson

__all__ = ["MARKER_NAME", "MarkerFile", "read_marker"]

MARKER_NAME = "worker-{pid}-{worker}.marker"
"""A marker's file name in its group's directory (``worker="*"`` makes it a glob)."""

_MAGIC = b"SWm1"
_HEADER = struct.Struct("<4sI")  # magic, slot size
_SLOT = struct.Struct("<QII")  # sequence, payload length, CRC32
_SEQUENCE = struct.Struct("<Q")
_LENGTH_AND_CRC = struct.Struct("<II")


class MarkerFile:
    """The marker at ``path``, as its worker writes it (one writer; others
    :func:`read_marker` it, once the worker is gone)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._map: mmap.mmap | None = None
        self._slot_size = 0
        self._sequence = 0

    def write(self, document: dict[str, Any]) -> None:
        """Make ``document`` the marker: in place when it fits (no system call), else in a
        new file. OSError when the file cannot be made."""
        payload = orjson.dumps(document)  # json.dumps took most of a write's time
        self._sequence += 1
        if self._map is None or len(payload) > self._slot_size - _SLOT.size:
            self._replace(payload)
        else:
            _put(self._map, _offset(self._slot_size, self._sequence), self._sequence, payload)

    def remove(self) -> None:
        """Delete the marker (its worker ends for no record's doing); a write makes a new one."""
        self._unmap()
        self.path.unlink(missing_ok=True)

    def _replace(self, payload: bytes) -> None:
        """A new file with ``payload`` in it, mapped, then renamed over the marker: a kill
        at any moment leaves one marker or the other whole."""
        slot_size = _slot_size(len(payload))
        content = bytearray(_HEADER.size + 2 * slot_size)
        _HEADER.pack_into(content, 0, _MAGIC, slot_size)
        _put(content, _offset(slot_size, self._sequence), self._sequence, payload)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        # written out, not truncated to size: a full disk fails here, not with a SIGBUS
        # when a later write into the mapping finds no block behind a hole
        temporary.write_bytes(content)
        with temporary.open("r+b") as file:
            mapped = mmap.mmap(file.fileno(), 0)
        try:
            temporary.replace(self.path)
        except OSError:
            mapped.close()
            raise
        self._unmap()
        self._map, self._slot_size = mapped, slot_size

    def _unmap(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None


def read_marker(path: Path) -> dict[str, Any] | None:
    """The newest whole document of the marker at ``path``; None when it is missing,
    unreadable, not a marker, or has no whole slot."""
    try:
        data = path.read_bytes()
    except OSError:  # not there (folded by somebody else), or not readable: nothing known
        return None
    if len(data) < _HEADER.size:
        return None
    magic, slot_size = _HEADER.unpack_from(data)
    if magic != _MAGIC:
        return None
    records = [_record(data, _offset(slot_size, parity), slot_size) for parity in (0, 1)]
    whole = [record for record in records if record is not None]
    if not whole:
        return None
    try:
        document = orjson.loads(max(whole)[1])
    except orjson.JSONDecodeError:
        return None
    return document if isinstance(document, dict) else None


def _slot_size(needed: int) -> int:
    """The slot size of the smallest file (a page, doubled) with room for ``needed`` bytes."""
    size = mmap.PAGESIZE
    while (size - _HEADER.size) // 2 - _SLOT.size < needed:
        size *= 2
    return (size - _HEADER.size) // 2


def _offset(slot_size: int, sequence: int) -> int:
    """Where the record numbered ``sequence`` goes: odd and even ones alternate slots."""
    return _HEADER.size + (sequence & 1) * slot_size


def _crc(sequence: int, payload: bytes) -> int:
    return zlib.crc32(payload, zlib.crc32(_SEQUENCE.pack(sequence)))


def _put(buffer: mmap.mmap | bytearray, offset: int, sequence: int, payload: bytes) -> None:
    """Write a record into the slot at ``offset``, its sequence number last: until then
    the slot fails its CRC and readers take the other one."""
    start = offset + _SLOT.size
    buffer[start : start + len(payload)] = payload
    _LENGTH_AND_CRC.pack_into(
        buffer, offset + _SEQUENCE.size, len(payload), _crc(sequence, payload)
    )
    _SEQUENCE.pack_into(buffer, offset, sequence)


def _record(data: bytes, offset: int, slot_size: int) -> tuple[int, bytes] | None:
    """The sequence number and payload of the slot at ``offset``, when the slot is whole."""
    if slot_size < _SLOT.size or offset + slot_size > len(data):
        return None
    sequence, length, crc = _SLOT.unpack_from(data, offset)
    start = offset + _SLOT.size
    payload = data[start : start + length]
    if sequence == 0 or length > slot_size - _SLOT.size or _crc(sequence, payload) != crc:
        return None
    return sequence, payload
