"""Reading one file in batches of complete lines from a byte offset, and recognising it again.

A file is identified by its name plus a fingerprint: a hash of its first bytes (at most
:data:`HEAD_BYTES`, never more than were read). Appending keeps the fingerprint; replacing
or truncating the file changes it, so a new file under an old name is read from the start.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["HEAD_BYTES", "Chunk", "FileCursor", "fingerprint"]

HEAD_BYTES = 4096
"""How many leading bytes identify a file."""


def fingerprint(path: Path, length: int) -> str | None:
    """Hash of the first ``length`` bytes of ``path``; None if it is shorter (or gone)."""
    try:
        with path.open("rb") as f:
            head = f.read(length)
    except OSError:
        return None
    if len(head) < length:
        return None
    return hashlib.blake2b(head, digest_size=12).hexdigest()


@dataclass
class Chunk:
    """Complete lines read in one step, and where the file stands after them."""

    lines: list[tuple[int, bytes]] = field(default_factory=list)
    """``(line number, bytes)`` pairs; numbers start at 1 with the file's first line."""
    offset: int = 0
    """The byte just after the last line read: where the next step starts."""
    line: int = 0
    """The number of the last line read."""
    size: int = 0
    """The file's size when the step started."""
    done: bool = False
    """Everything was read and the file has settled: it will not be read again."""


class FileCursor:
    """An open file, read forward from ``offset`` (blocking: call it from a thread)."""

    def __init__(self, path: Path, offset: int = 0, line: int = 0) -> None:
        self.path = path
        self.offset = offset
        self.line = line
        self._file = path.open("rb")
        self._file.seek(offset)

    def first_line(self, settle_s: float) -> bytes | None:
        """The file's first line (a CSV header) once it is complete, else None."""
        size, settled = self._stat(settle_s)
        self._file.seek(0)
        raw = self._file.readline(size)
        self._file.seek(self.offset)
        return raw if raw.endswith(b"\n") or (raw and settled) else None

    def read(self, max_lines: int, settle_s: float) -> Chunk:
        """Up to ``max_lines`` complete lines; a last line without a newline only once the
        file has not changed for ``settle_s`` (then it is complete, and so is the file)."""
        size, settled = self._stat(settle_s)
        chunk = Chunk(size=size)
        offset, line = self.offset, self.line
        readline = self._file.readline
        while len(chunk.lines) < max_lines and offset < size:
            raw = readline(size - offset)
            if not raw:
                break  # truncated under us: the caller sees done=False and a short file
            if raw[-1:] != b"\n" and not settled:
                self._file.seek(offset)  # half a line: leave it for the next step
                break
            offset += len(raw)
            line += 1
            chunk.lines.append((line, raw))
        self.offset, self.line = chunk.offset, chunk.line = offset, line
        chunk.done = settled and offset >= size
        return chunk

    def _stat(self, settle_s: float) -> tuple[int, bool]:
        status = os.fstat(self._file.fileno())
        return status.st_size, time.time() - status.st_mtime >= settle_s

    def close(self) -> None:
        """Close the file."""
        self._file.close()
